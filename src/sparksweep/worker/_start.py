"""The worker's entry points: a task (a model trial or an objective's) computed, then recorded."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sparksweep.worker._fit import start_fit
from sparksweep.worker._objective import start_objective
from sparksweep.worker._task import ComputedTrial, ObjectiveTask, TrialTask

if TYPE_CHECKING:
    from sparksweep.trial import TrialResult

__all__ = ["run_trial", "start_trial"]


def run_trial(task: TrialTask | ObjectiveTask, on_open: Callable[[str], None] | None = None) -> TrialResult:
    """Fit, evaluate and record one trial.

    A trial whose model raises is recorded as FAILED with its traceback. So is a trial whose results (metric, params,
    model, final status) could not be written to the tracking store even after retries: a trial is COMPLETE only
    when its results are in the store. This function returns a result rather than raising, so Spark never re-runs
    a trial because its recording failed; a result with ``recorded=False`` tells the driver to mark the run failed.

    The child run is created while the trial starts (:class:`~sparksweep.worker.RunOpening`; ``on_open`` gets its
    id); it raises what creating the run raised, and the driver records that trial.
    """
    return start_trial(task, on_open).record()


def start_trial(task: TrialTask | ObjectiveTask, on_open: Callable[[str], None] | None = None) -> ComputedTrial:
    """Compute one trial (fit and score its model, or call the objective); ``record()`` on the result records it.

    :func:`run_trial` does both in turn. The pool's slots record a trial in a thread of their own while they compute
    the next one: the writes to the store (~10 ms per trial on SQLite) then cost the slot nothing.
    """
    if isinstance(task, ObjectiveTask):
        return start_objective(task, on_open)
    return start_fit(task, on_open)
