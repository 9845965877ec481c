"""What a sweep hands back: :class:`SweepProgress` (the counts while it runs, for the progress callback) and
:class:`SweepResult` (its trials, the best one, the finalists, the ensemble and the champion decision)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sparksweep.metrics import Direction
from sparksweep.registry import ChampionDecision
from sparksweep.sweep._ensemble import Ensemble
from sparksweep.sweep._finalists import Finalist
from sparksweep.sweep._ranking import ranked
from sparksweep.trial import TrialResult

__all__ = ["SweepProgress", "SweepResult"]


@dataclass
class SweepProgress:
    """Counts the engine keeps while a sweep runs, handed to the progress callback after each trial."""

    n_trials: int
    finished: int = 0
    failed: int = 0
    pruned: int = 0
    killed: int = 0
    running: int = 0
    best: TrialResult | None = None
    started: float = field(default_factory=time.monotonic)
    timeout: float | None = None
    since_best: int = 0
    """Finished trials in a row without a better value (what ``patience`` counts)."""

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def remaining_time(self) -> float | None:
        return None if self.timeout is None else max(0.0, self.timeout - self.elapsed)


@dataclass(frozen=True)
class SweepResult:
    """The outcome of a sweep: its MLflow parent run, every trial, the best one and the champion decision."""

    sweep_run_id: str
    experiment_id: str
    tracking_uri: str
    task: str
    metric: str
    direction: Direction
    trials: list[TrialResult]
    best: TrialResult | None
    champion: ChampionDecision | None
    duration: float
    stop_reason: str = "n_trials"
    """Why the sweep stopped: ``n_trials``, ``timeout``, ``patience`` or ``target``."""
    finalists: list[Finalist] = field(default_factory=list)
    """The trials scored again on fresh folds (``search.finalists``); ``best`` is the one best there."""
    ensemble: Ensemble | None = None
    """The finalists' best weighted average (``search.ensemble``); the champion when :attr:`Ensemble.chosen`."""

    def top(self, n: int = 5) -> list[TrialResult]:
        """The ``n`` best completed trials, best first."""
        return ranked(self.trials, self.direction)[:n]
