"""A user objective's trial (:func:`sparksweep.optimize`): the objective called with the trial's parameters and a
:class:`~sparksweep.worker.TrialContext`, its value recorded in the child run, or its failure recorded as a model
trial's is (the ``sparksweep.error`` tag, the ``error.txt`` artifact), with the same tracking-store retries."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from sparksweep.tracking import COMPUTE_TIME_METRIC
from sparksweep.trial import TrialResult, TrialState
from sparksweep.worker._process import quiet_worker, tracking_client
from sparksweep.worker._record import end_run, failed_draft, failed_result, metric_point
from sparksweep.worker._runs import RunOpening
from sparksweep.worker._task import ComputedTrial, TrialContext

if TYPE_CHECKING:
    from sparksweep.worker._task import ObjectiveTask

__all__ = ["run_objective", "start_objective"]


def run_objective(task: ObjectiveTask, on_open: Callable[[str], None] | None = None) -> TrialResult:
    """Call a user objective with the trial's parameters and record its value (or its traceback) in the child run.

    The run is created while the objective starts (see :class:`~sparksweep.worker.RunOpening`); raises what creating
    it raised.
    """
    return start_objective(task, on_open).record()


def start_objective(task: ObjectiveTask, on_open: Callable[[str], None] | None) -> ComputedTrial:
    """Call the objective while the trial's run is created; a raising objective, or a non-finite value, is a result
    to be recorded as FAILED."""
    started = time.perf_counter()
    quiet_worker()
    task.retry.bound_http_retries()
    opening = RunOpening(task, on_open)
    context = TrialContext(task.number, task.family, task.tracking_uri, task.seed, opening.run_id)
    try:
        value = float(task.objective(dict(task.params), context))
        if not math.isfinite(value):
            raise ValueError(f"the objective returned {value}")
    except Exception as exc:  # a failing trial is a result, not a crash of the sweep
        duration = time.perf_counter() - started
        failed = functools.partial(_record_failed, task, opening, exc, duration)
        return ComputedTrial(task.number, failed, draft=failed_draft(task, exc, duration=duration))
    draft = TrialResult(
        number=task.number,
        run_id=task.run_id,
        family=task.family,
        params=task.params,
        state=TrialState.COMPLETE,
        value=value,
        metrics={task.metric: value},
        duration=time.perf_counter() - started,
        slot=task.slot,
        compute_time=opening.elapsed(),
        recorded=False,
    )
    return ComputedTrial(task.number, functools.partial(_record_value, task, opening, draft), value, draft=draft)


def _record_value(task: ObjectiveTask, opening: RunOpening, draft: TrialResult) -> TrialResult:
    """Write the objective's value (``draft``'s) and end the run FINISHED (retried); a trial not recorded counts as
    failed."""
    task = opening.task(task)  # raises when the run could not be created: the driver records the trial
    client = tracking_client(task.tracking_uri)  # opened meanwhile (the store may still have been opening)
    try:
        points = [metric_point(k, v) for k, v in draft.metrics.items()]
        points += [
            metric_point("duration", draft.duration),
            metric_point(COMPUTE_TIME_METRIC, draft.compute_time or 0.0),
        ]
        task.retry.call("log the trial's results", client.log_batch, task.run_id, metrics=points)
        task.retry.call("mark the trial's run FINISHED", end_run, client, task.run_id, "FINISHED")
    except Exception as exc:  # not recorded: the trial counts as failed
        return failed_result(task, client, exc, "record", duration=draft.duration)
    return replace(draft, run_id=task.run_id, recorded=True)


def _record_failed(task: ObjectiveTask, opening: RunOpening, error: Exception, duration: float) -> TrialResult:
    task = opening.task(task)  # raises when the run could not be created: the driver records the trial
    return failed_result(task, tracking_client(task.tracking_uri), error, "objective", duration=duration)
