"""A sweep's budget and stop rules: ``n_trials``, ``timeout`` (less the time kept back for the finalists),
``patience``, ``target``, each trial's ``trial_timeout``, and the racing hold; with the counts of what ran.

The budget counts every trial that ran to an outcome (a timed-out trial too); trials lost with a dead driver are run
again on resume. Trials a stop rule cancels get :data:`STOP_GRACE` seconds to report back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sparksweep.metrics import Direction
from sparksweep.spec import SearchSpec
from sparksweep.sweep._ranking import best_trial
from sparksweep.sweep._result import SweepProgress
from sparksweep.trial import TrialResult, TrialState

__all__ = ["STOP_GRACE", "Budget", "Cancel"]

STOP_GRACE = 1.0
"""Seconds the trials cancelled by a stopping rule (timeout, target, patience) get to report back; those that have
not by then are recorded as killed without waiting for their tasks to end (a cancelled Spark task's Python worker
takes 2-4 s to be killed), so a sweep stops on time. Executors that cannot cancel a running trial are waited for."""


@dataclass(frozen=True)
class Cancel:
    """What a stop rule asks of the trials in flight: cancel them, saying ``why``."""

    why: str
    idle_too: bool = False
    """The timeout stopped the search: cancel the executor's work even when no trial is in flight (workers still
    starting are stopped, not waited for)."""


class Budget:
    """The stop rules of one sweep and the counts they read.

    Args:
        spec: The sweep's search settings.
        direction: The metric's direction.
        started: When the sweep's clock started (``time.monotonic()``), less the time an earlier run of the same
            sweep already spent; ``timeout`` counts from it.
        reserve: Seconds to keep back from the timeout for the finalists, as the results stand (None: no
            finalists are scored, and none are waited for once the search stops).
    """

    def __init__(
        self, spec: SearchSpec, direction: Direction, started: float, reserve: Callable[[], float] | None
    ) -> None:
        self.spec = spec
        self.direction = direction
        self.progress = SweepProgress(n_trials=spec.n_trials, timeout=spec.timeout, started=started)
        self.done_count = 0
        """Trials that ran to an outcome (what ``n_trials`` counts)."""
        self.stop_reason: str | None = None
        self.out_of_time = False
        """The timeout itself ran out: nothing more is handed out, finalists included."""
        self.stopped_at: float | None = None
        """When a stopping rule cancelled the trials in flight (``time.monotonic()``)."""
        self._reserve = reserve

    @property
    def finalists(self) -> bool:
        return self._reserve is not None

    def reserve(self) -> float:
        return 0.0 if self._reserve is None else self._reserve()

    def count(self, result: TrialResult, *, lost: bool = False) -> bool:
        """Count a trial's outcome; True when it finished (complete, failed or pruned: evidence for a pruner)."""
        p = self.progress
        if lost:
            p.killed += 1
            return False
        self.done_count += 1
        if result.state is TrialState.KILLED:
            p.killed += 1
            return False
        p.finished += 1
        if result.state is TrialState.FAILED:
            p.failed += 1
        elif result.state is TrialState.PRUNED:
            p.pruned += 1
        best = best_trial([p.best, result], self.direction)
        if best is result:
            p.best, p.since_best = result, 0
        else:
            p.since_best += 1
        return True

    def check(self) -> Cancel | None:
        """Apply the stop rules: set :attr:`stop_reason` when one stops the search; returns what to cancel."""
        s, p = self.spec, self.progress
        timed_out = s.timeout is not None and p.elapsed >= s.timeout
        timeout_why = f"the sweep's timeout of {s.timeout}s ran out"
        if self.stop_reason is not None:
            if timed_out and not self.out_of_time and self.finalists:  # finalists still being scored
                self.out_of_time = True
                return Cancel(timeout_why)
            return None
        best = None if p.best is None else p.best.value
        if s.target is not None and best is not None and not self.direction.better(s.target, best):
            self.stop_reason = "target"
            return Cancel(f"the sweep reached its target {s.target}")
        if s.patience is not None and p.since_best >= s.patience:
            self.stop_reason = "patience"
            return Cancel(f"{s.patience} trials in a row without a better value")
        if s.timeout is not None and p.elapsed >= s.timeout - self.reserve():
            self.stop_reason = "timeout"
            if timed_out or not self.finalists:
                self.out_of_time = True
                return Cancel(timeout_why, idle_too=True)
            return None  # the finalists' time: the trials in flight finish, then the finalists are scored
        if self.done_count >= s.n_trials:
            self.stop_reason = "n_trials"
        return None

    def hold(self, computed: Iterable[float | None]) -> bool:
        """Whether the trials computed but still being recorded (their values, in the order handed out) will stop
        the sweep (its target, its patience) or, with ``cv_racing``, become the best trial the next one races
        against, once their results are in: no trial is handed out until then, as if they held their slots."""
        s, direction = self.spec, self.direction
        if not s.cv_racing and s.target is None and s.patience is None:
            return False
        best = None if self.progress.best is None else self.progress.best.value
        since = self.progress.since_best
        for value in computed:
            if value is not None and direction.better(value, best):
                if s.cv_racing:  # the first computed trial better than the best so far: the next one races it
                    return True
                best, since = value, 0
            else:
                since += 1
            if s.target is not None and best is not None and not direction.better(s.target, best):
                return True
            if s.patience is not None and since >= s.patience:
                return True
        return False

    def in_flight(self, slots: int) -> int:
        """How many trials may be handed out at once: two per slot (one computing, one being recorded), and no
        more than the trials left."""
        return min(self.spec.n_trials - self.done_count, 2 * slots)

    def cancelled(self, can_cancel_running: bool) -> None:
        """A stop rule cancelled the trials in flight: they get :data:`STOP_GRACE` seconds to report back (an
        executor that cannot stop a running trial lets it run to its end, and it is waited for)."""
        self.stopped_at = time.monotonic() if can_cancel_running else None

    def grace_over(self) -> bool:
        return self.stopped_at is not None and time.monotonic() >= self.stopped_at + STOP_GRACE

    def overdue(self, started: float, now: float) -> bool:
        """Whether a trial computing since ``started`` has run past its ``trial_timeout``."""
        limit = self.spec.trial_timeout
        return limit is not None and now - started >= limit

    def wake_in(self, computing_since: Iterable[float]) -> float | None:
        """Seconds until a stop rule may fire (None: only a trial's end can change anything); ``computing_since``:
        when each trial still computing and not cancelled started."""
        s, now = self.spec, time.monotonic()
        times = []
        if s.timeout is not None and self.stop_reason is None:
            times.append(self.progress.started + s.timeout - self.reserve() - now)
        elif s.timeout is not None and self.finalists and not self.out_of_time:
            times.append(self.progress.started + s.timeout - now)
        if self.stopped_at is not None:
            times.append(self.stopped_at + STOP_GRACE - now)
        if s.trial_timeout is not None:
            times += [started + s.trial_timeout - now for started in computing_since]
        return max(0.0, min(times)) if times else None
