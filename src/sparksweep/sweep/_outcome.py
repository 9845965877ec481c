"""The bookkeeping of results: a trial in flight (:class:`InFlight`), and what becomes of it when its task reports
back, fails, is cancelled or is lost with the driver, each recorded in the trial's run (or a finalist's re-scoring
run) so that no run is left RUNNING."""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any

from sparksweep.errors import TrialLostError
from sparksweep.tracking import SweepTracker
from sparksweep.trial import Proposal, TrialResult, TrialState

__all__ = ["DRIVER_STOPPED", "InFlight", "collect", "collect_rescore", "give_up", "interrupted", "killed_if_running"]

DRIVER_STOPPED = "the sweep's driver stopped during this trial"
"""The error of a trial a resumed sweep found RUNNING: its driver died with it."""


@dataclass
class InFlight:
    """A task handed to the executor: a trial of the search, or a finalist's re-scoring."""

    number: int
    proposal: Proposal
    started: float = field(default_factory=time.monotonic)
    killed: str | None = None
    """Why the engine cancelled this trial (sweep timeout, trial_timeout, target, patience), if it did."""
    computed: Future[Any] | None = None
    """Resolves when the trial's slot is free again, before its results are recorded (None: with its result)."""
    rescore_of: TrialResult | None = None
    """The finished trial this task scores again on fresh folds (a finalist); None: a trial of the search."""

    @property
    def computing(self) -> bool:
        return self.computed is None or not self.computed.done()


def _started_run(future: Future[Any]) -> str | None:
    """The child run of a trial that did not report back, if its executor learnt it."""
    if not future.done() or future.cancelled():
        return None
    exc = future.exception()
    return exc.run_id if isinstance(exc, TrialLostError) else None


def _killed(flight: InFlight, error: str, run_id: str, state: TrialState = TrialState.KILLED) -> TrialResult:
    """The result of a trial that never reported back, recorded in ``run_id``."""
    family, params = flight.proposal.family, flight.proposal.params
    return TrialResult(number=flight.number, run_id=run_id, family=family, params=params, state=state, error=error)


def _lost_rescore(future: Future[Any], flight: InFlight, error: str, tracker: SweepTracker) -> TrialResult:
    """A finalist's re-scoring that never reported back: its run, if its worker created one, is ended."""
    state = TrialState.KILLED if flight.killed else TrialState.FAILED
    trial = flight.rescore_of
    run_id = _started_run(future) or (None if trial is None else tracker.find_rescore(trial.run_id))
    if run_id is not None:
        tracker.fail_trial(run_id, state, error)
    return _killed(flight, error, run_id or "", state)


def collect_rescore(future: Future[Any], flight: InFlight, tracker: SweepTracker) -> TrialResult:
    """A finalist's re-scoring result (failed or killed when its task never reported back)."""
    try:
        result: TrialResult = future.result()
    except Exception as exc:
        return _lost_rescore(future, flight, flight.killed or f"{type(exc).__name__}: {exc}", tracker)
    if not result.recorded:
        return _record_for_worker(result, tracker, rescore_of=flight.rescore_of)
    return result


def collect(future: Future[Any], flight: InFlight, tracker: SweepTracker) -> TrialResult:
    """The trial's result; a task that never reported back is recorded as failed (or killed, when cancelled)."""
    try:
        result: TrialResult = future.result()
    except Exception as exc:
        state = TrialState.KILLED if flight.killed else TrialState.FAILED
        error = flight.killed or f"{type(exc).__name__}: {exc}"
        family, params = flight.proposal.family, flight.proposal.params
        known, detail = (exc.run_id, exc.detail) if isinstance(exc, TrialLostError) else (None, None)
        run_id = tracker.record_lost_trial(flight.number, family, params, state, error, run_id=known, detail=detail)
        return _killed(flight, error, run_id, state)
    if not result.recorded:  # the worker did not write the run's final state: the driver does
        return _record_for_worker(result, tracker)
    return result


def _record_for_worker(
    result: TrialResult, tracker: SweepTracker, rescore_of: TrialResult | None = None
) -> TrialResult:
    """Record a result its worker did not (the store refused its writes, or the worker died while recording it): a
    computed value FINISHED with its metrics, any other outcome as failed, with its error (and ``error.txt``)."""
    if result.state is TrialState.COMPLETE:
        return tracker.record_computed(result, rescore_of)
    error = result.error or "the trial's results could not be recorded"
    run_id = result.run_id or (None if rescore_of is None else tracker.find_rescore(rescore_of.run_id))
    if rescore_of is None:
        run_id = tracker.record_lost_trial(
            result.number, result.family, result.params, result.state, error, run_id=run_id, detail=error
        )
    elif run_id is not None:
        tracker.fail_trial(run_id, result.state, error, detail=error)
    return replace(result, run_id=run_id or "")


def give_up(future: Future[Any], flight: InFlight, tracker: SweepTracker) -> TrialResult:
    """Record a cancelled task that has not reported back in time as killed, without waiting for it to end."""
    why = flight.killed or "cancelled"
    if flight.rescore_of is not None:
        return _lost_rescore(future, flight, why, tracker)
    family, params = flight.proposal.family, flight.proposal.params
    run_id = tracker.record_lost_trial(
        flight.number, family, params, TrialState.KILLED, why, run_id=_started_run(future)
    )
    return _killed(flight, why, run_id)


def interrupted(running: dict[Future[Any], InFlight], tracker: SweepTracker) -> None:
    """The loop stopped on Ctrl-C or an error: every task in flight is recorded as killed (and lost, so that a
    resumed sweep runs its trial again)."""
    why = "the sweep stopped before this trial finished"
    for future, flight in running.items():
        run_id = _started_run(future)
        if flight.rescore_of is not None:
            run_id = run_id or tracker.find_rescore(flight.rescore_of.run_id)
            if run_id is not None:
                tracker.fail_trial(run_id, TrialState.KILLED, why)
            continue
        family, params = flight.proposal.family, flight.proposal.params
        tracker.record_lost_trial(flight.number, family, params, TrialState.KILLED, why, run_id=run_id, lost=True)


def killed_if_running(trial: TrialResult) -> TrialResult:
    """A trial read back from the store as it counts on resume: one still RUNNING died with its driver."""
    if trial.state is not TrialState.RUNNING:
        return trial
    return replace(trial, state=TrialState.KILLED, error=DRIVER_STOPPED)
