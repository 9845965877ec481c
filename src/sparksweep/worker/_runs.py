"""A trial's child run, created by the worker from the driver's description
(:class:`~sparksweep.tracking.TrialRunSpec`).

The run is created in a background thread while the trial starts (:class:`RunOpening`): creating it and its params
are two writes to the store (~17 ms on SQLite, and the process's first one opens the store, ~0.5 s), which would
otherwise come before every trial.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from sparksweep.errors import TrialError
from sparksweep.worker._process import tracking_client
from sparksweep.worker._task import ObjectiveTask, TaskT, TrialTask

__all__ = ["RunOpening", "open_trial_run"]


def open_trial_run(task: TaskT) -> TaskT:
    """``task`` with its child run: created here from ``task.child`` unless the driver already made it.

    Raises what creating it raised (after retries): a trial whose run cannot be created is not run.
    """
    return task if task.run_id else dataclasses.replace(task, run_id=_create_run(task))


def _create_run(task: TrialTask | ObjectiveTask, started: float | None = None) -> str:
    """Create ``task``'s child run, tagged with its slot, starting at ``started`` (epoch seconds; default: now); its
    callers use the driver's run id instead when the task has one."""
    if task.child is None:
        raise TrialError(f"trial {task.number} has neither a run id nor a child run to create; give it one of them")
    return task.child.create(tracking_client(task.tracking_uri), task.retry, slot=task.slot, started=started)


class RunOpening:
    """A trial's child run, being created in a background thread while the trial starts.

    ``on_open(run_id)`` is called in that thread once the run exists (the pool tells the driver the run's id, so a
    trial cancelled from then on is recorded in it). :meth:`run_id` waits for the run and raises what creating it
    raised: the trial's results are never recorded without it.

    Example:
        >>> opening = RunOpening(task)  # doctest: +SKIP
        >>> value = fit_and_score()  # doctest: +SKIP
        >>> client.log_metric(opening.run_id(), "value", value)  # doctest: +SKIP
    """

    def __init__(self, task: TrialTask | ObjectiveTask, on_open: Callable[[str], None] | None = None) -> None:
        self._future: Future[str] = Future()
        # The run starts when the trial does, not once the store is open (a process's first trial waits ~0.5 s).
        self.started = time.time()
        self._clock = time.perf_counter()
        if task.run_id:  # the driver created it
            self._opened(task.run_id, on_open)
        else:
            threading.Thread(
                target=self._open, args=(task, on_open), name=f"sparksweep-open-run-{task.number}", daemon=True
            ).start()

    def _open(self, task: TrialTask | ObjectiveTask, on_open: Callable[[str], None] | None) -> None:
        try:
            run_id = _create_run(task, self.started)
        except BaseException as exc:  # re-raised by run_id() in the trial's thread
            self._future.set_exception(exc)
            return
        self._opened(run_id, on_open)

    def _opened(self, run_id: str, on_open: Callable[[str], None] | None) -> None:
        try:
            if on_open is not None:
                on_open(run_id)
        except BaseException as exc:  # re-raised by run_id() in the trial's thread
            self._future.set_exception(exc)
            return
        self._future.set_result(run_id)

    def elapsed(self) -> float:
        """Seconds since the trial (and its run) started."""
        return time.perf_counter() - self._clock

    def run_id(self) -> str:
        """The run's id, once created; raises what creating it (or ``on_open``) raised."""
        return self._future.result()

    def task(self, task: TaskT) -> TaskT:
        """``task`` with the run's id (waits for it)."""
        return dataclasses.replace(task, run_id=self.run_id())
