"""The dispatch loop: keep the executor's slots busy with trials the search algorithm proposes, learn from each
result as it arrives, and once the search stops, hand out the finalists' re-scorings while time is left.

What stops the search is the :class:`~sparksweep.sweep._budget.Budget`'s business; what becomes of each task is
:mod:`sparksweep.sweep._outcome`'s; the finalists are a :class:`~sparksweep.sweep._finalists.FinalistRound`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import replace
from typing import Any

from sparksweep.executors import BaseExecutor
from sparksweep.metrics import Metric
from sparksweep.pruning import PruningLedger
from sparksweep.search import BaseSearcher
from sparksweep.spec import SearchSpec
from sparksweep.sweep._budget import Budget
from sparksweep.sweep._finalists import Finalist, FinalistRound
from sparksweep.sweep._outcome import InFlight, collect, collect_rescore, give_up, interrupted
from sparksweep.sweep._result import SweepProgress
from sparksweep.sweep._tasks import RescoreFactory, TaskFactory
from sparksweep.tracking import SweepTracker
from sparksweep.trial import Proposal, TrialResult
from sparksweep.worker import DataHandle, TrialTask

__all__ = ["Loop"]


class Loop:
    """One sweep's dispatch loop.

    Args:
        spec: The sweep's search settings.
        metric: The metric it optimizes.
        searcher: Proposes the trials and learns from their results.
        runner: The executor the trials run on.
        tracker: The sweep's MLflow records.
        on_trial: Called in the driver after each trial with its result and the sweep's progress.
        make_task: Makes the task an executor runs for a proposal.
        data: The handle of the training data the runner shares with its workers (None: a user objective).
        earlier: Trials an earlier run of the same sweep left (a resume): counted, numbered after, not run again.
        started: When the sweep's clock started (``time.monotonic()``), which ``timeout`` counts from.
        elapsed_before: Seconds an earlier run of the same sweep already spent.
        rescore: Makes the tasks that score finalists again (``spec.finalists``; None: a sweep without finalists).
    """

    def __init__(
        self,
        *,
        spec: SearchSpec,
        metric: Metric,
        searcher: BaseSearcher,
        runner: BaseExecutor,
        tracker: SweepTracker,
        on_trial: Callable[[TrialResult, SweepProgress], None] | None,
        make_task: TaskFactory,
        data: DataHandle | None,
        earlier: list[TrialResult],
        started: float,
        elapsed_before: float = 0.0,
        rescore: RescoreFactory | None = None,
    ) -> None:
        self.spec, self.metric, self.searcher, self.runner, self.tracker = spec, metric, searcher, runner, tracker
        self.on_trial, self.make_task, self.data = on_trial, make_task, data
        self.results: list[TrialResult] = list(earlier)
        self.ledger = None if spec.pruner == "none" else PruningLedger(spec.pruner, metric.direction)
        self.rescore = rescore if spec.finalists else None
        self.round: FinalistRound | None = None
        if self.rescore is not None:
            self.round = FinalistRound(
                spec.finalists, metric.direction, runner.slots, spec.timeout, diverse=spec.ensemble
            )
        finalists = self.round
        reserve = None if finalists is None else (lambda: finalists.reserve(self.results))
        self.budget = Budget(spec, metric.direction, started - elapsed_before, reserve)
        self.progress = self.budget.progress
        self.next_number = max((t.number for t in earlier), default=-1) + 1
        for trial in earlier:
            self._count(trial, lost=trial.lost)
        self.running: dict[Future[Any], InFlight] = {}

    def finalists(self) -> list[Finalist]:
        """The finalists scored again (or not, if that failed or ran out of time), best search score first."""
        return [] if self.round is None else self.round.finalists()

    def run(self) -> tuple[list[TrialResult], str]:
        """Run the sweep's trials to the end of its budget: its trials by number, and why it stopped."""
        try:
            while True:
                self._check_stop()
                self._dispatch()
                self.progress.running = len(self.running)
                if not self.running:
                    break
                slots_freeing = [f.computed for f in self.running.values() if f.computed is not None and f.computing]
                since = [f.started for f in self.running.values() if f.killed is None and f.computing]
                timeout = self.budget.wake_in(since)
                done, _ = wait([*self.running, *slots_freeing], timeout=timeout, return_when=FIRST_COMPLETED)
                self._check_stop()  # the sweep's timeout
                self._enforce_trial_timeout()
                for future in done:
                    if future in self.running:
                        self._finish(future)
                if self.budget.grace_over():
                    self._give_up_on_running()
            self.tracker.flush()  # the progress metrics are in the store when the loop returns
        except BaseException:
            self.runner.cancel_all()
            interrupted(self.running, self.tracker)  # Ctrl-C or an error: run them again on resume
            raise
        return sorted(self.results, key=lambda r: r.number), self.budget.stop_reason or "n_trials"

    def _count(self, result: TrialResult, lost: bool = False) -> None:
        if self.budget.count(result, lost=lost) and self.ledger is not None:
            self.ledger.record(result)

    def _check_stop(self) -> None:
        cancel = self.budget.check()
        if cancel is None:
            return
        if self.running:
            self._cancel_running(cancel.why)
        elif cancel.idle_too:
            self.runner.cancel_all()

    def _cancel_running(self, why: str) -> None:
        # An executor that cannot stop a running trial (local) lets it run to its end: it is waited for and
        # recorded with its real outcome, rather than left running behind a sweep that has returned.
        self.budget.cancelled(self.runner.can_cancel_running)
        for flight in self.running.values():
            flight.killed = flight.killed or f"cancelled: {why}"
        self.runner.cancel_all()

    def _computing(self) -> int:
        return sum(1 for flight in self.running.values() if flight.computing)

    def _held(self) -> bool:
        computed = [f.computed.result() for f in self.running.values() if f.computed is not None and not f.computing]
        return self.budget.hold(computed)

    def _dispatch(self) -> None:
        if self.budget.stop_reason is not None:
            self._dispatch_finalists()
            return
        # A slot whose trial is computed takes the next one while that one is recorded (one trial recording per slot).
        slots = self.runner.slots
        in_flight = self.budget.in_flight(slots)
        while (
            self.budget.stop_reason is None
            and self._computing() < slots
            and len(self.running) < in_flight
            and not self._held()
        ):
            proposal = self.searcher.ask()
            number = self.next_number
            self.next_number += 1
            # The worker creates the child run: the loop hands the trial out without waiting on the store.
            child = self.tracker.trial_run(number, proposal.family, proposal.params)
            pruning = None if self.ledger is None else self.ledger.snapshot()
            task = self.make_task(number, child, proposal, self.data, pruning)
            if isinstance(task, TrialTask) and task.keep_improving and self.progress.best is not None:
                # tracking.log_models: improving: the worker logs the model only if it beats (or ties) this value
                task = replace(task, model_threshold=self.progress.best.value)
            if self.spec.cv_racing and isinstance(task, TrialTask):
                best = self.progress.best  # the next trial races the best one's CV fold scores
                task = replace(task, race=None if best is None else best.fold_scores or None)
            future = self.runner.submit(task)
            self.running[future] = InFlight(number, proposal, computed=self.runner.computed(future))

    def _dispatch_finalists(self) -> None:
        """Once the search has stopped (with time left), hand out the finalists not scored again yet as slots free:
        picked anew each time, so a trial that finished after the stop and beats them is one too."""
        if self.rescore is None or self.round is None or self.budget.out_of_time:
            return
        slots = self.runner.slots
        for trial in self.round.undispatched(self.results):
            if self._computing() >= slots or len(self.running) >= 2 * slots:
                return
            task = self.rescore(trial, self.tracker.rescore_run(trial), self.data)
            future = self.runner.submit(task)
            proposal = Proposal(trial.family, trial.params)
            self.running[future] = InFlight(
                trial.number, proposal, computed=self.runner.computed(future), rescore_of=trial
            )
            self.round.dispatched(trial)

    def _enforce_trial_timeout(self) -> None:
        now = time.monotonic()
        for flight in self.running.values():
            if flight.killed is None and flight.computing and self.budget.overdue(flight.started, now):
                flight.killed = f"cancelled: the trial ran past its trial_timeout of {self.spec.trial_timeout}s"
                self.runner.cancel(flight.number)

    def _give_up_on_running(self) -> None:
        """Record the cancelled trials that have not reported back within the stop's grace as killed, without
        waiting for their tasks to end (the executor's shutdown reaps them)."""
        self.budget.stopped_at = None
        for future, flight in list(self.running.items()):
            if flight.killed is None:  # handed out after the stop (a finalist): not cancelled
                continue
            del self.running[future]
            self._recorded(flight, give_up(future, flight, self.tracker))

    def _finish(self, future: Future[Any]) -> None:
        flight = self.running.pop(future)
        if flight.rescore_of is not None:
            self._recorded(flight, collect_rescore(future, flight, self.tracker))
        else:
            self._recorded(flight, collect(future, flight, self.tracker))

    def _recorded(self, flight: InFlight, result: TrialResult) -> None:
        if flight.rescore_of is not None:
            # A finalist's fresh-fold score: it does not count as a trial, nor is it told to the search algorithm.
            if self.round is not None:
                self.round.record(flight.rescore_of, result)
            self.progress.running = len(self.running)
            return
        self.searcher.tell(flight.proposal, result.value, result.state)
        self.results.append(result)
        self._count(result)
        p = self.progress
        p.running = len(self.running)
        best = None if p.best is None else p.best.value
        # Stepped by completion order (trials finish out of order), so the curve is monotone.
        self.tracker.log_progress(self.metric.name, best, step=p.finished + p.killed - 1, elapsed=p.elapsed)
        if self.on_trial is not None:
            self.on_trial(result, p)
        self._check_stop()
