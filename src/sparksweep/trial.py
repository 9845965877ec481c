"""Trials as typed objects: what a search algorithm proposes, and the one frozen record of a trial's outcome (as the
worker reports it, and as a resumed or warm-started sweep reads it back from MLflow).

Example:
    >>> TrialState.COMPLETE.is_finished
    True
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Proposal", "TrialResult", "TrialState"]


class TrialState(enum.Enum):
    """The life cycle of a trial; the MLflow run status each maps to is :attr:`mlflow_status`."""

    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    PRUNED = "pruned"
    KILLED = "killed"

    @property
    def is_finished(self) -> bool:
        return self is not TrialState.RUNNING

    @property
    def mlflow_status(self) -> str:
        return {
            TrialState.RUNNING: "RUNNING",
            TrialState.COMPLETE: "FINISHED",
            TrialState.FAILED: "FAILED",
            TrialState.PRUNED: "KILLED",
            TrialState.KILLED: "KILLED",
        }[self]


@dataclass(frozen=True)
class Proposal:
    """What a search algorithm proposes: a family and its hyperparameters (real names), plus its own handle."""

    family: str
    params: dict[str, Any]
    token: Any = None


@dataclass(frozen=True)
class TrialResult:
    """The outcome of one trial: as the worker reports it to the engine, or as a sweep's store holds it (resume,
    warm start: :func:`sparksweep.tracking.read_trials`), in which case ``metrics`` is empty."""

    number: int
    run_id: str
    family: str
    params: dict[str, Any]
    state: TrialState
    value: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    duration: float = 0.0
    fit_time: float = 0.0
    error: str | None = None
    model_uri: str | None = None
    step: int | None = None
    """The last step (boosting round) a trial reported; for a pruned trial, where it was stopped."""
    intermediate: dict[int, float] = field(default_factory=dict)
    """The validation scores the trial reported by step (the pruner's evidence)."""
    pruner_attrs: dict[str, Any] = field(default_factory=dict)
    """What the pruner recorded on the trial in the worker (successive halving's rungs)."""
    recorded: bool = True
    """False: the worker did not write the final state (the store refused it, or the worker died while recording);
    the driver records it: a COMPLETE result FINISHED with its metrics, any other as failed."""
    fold_scores: tuple[float, ...] = ()
    """The validation metric on each CV fold (``search.cv``), in fold order; empty without CV. Recorded in the run
    as the metrics ``<metric>_fold_<i>``."""
    lost: bool = False
    """Read back from the store: it died with its driver (or was still RUNNING when read), so a resumed sweep does
    not count it in its budget."""
    started: float = 0.0
    """When its run started (seconds since the epoch), as read back from the store; 0 when not known."""
    ended: float | None = None
    """When its run ended (seconds since the epoch), as read back from the store; None while running or unknown."""
    slot: int | None = None
    """The executor slot that ran it (0 to parallelism - 1); None when its run does not say (an older sweep, or a
    run the driver recorded for a trial its worker never started)."""
    compute_time: float | None = None
    """Seconds from its start until it was computed (fitted and scored); its recording came after. None: unknown."""
    predictions: Any = field(default=None, repr=False, compare=False)
    """A finalist's out-of-fold predictions on fresh folds (an ndarray), when an ensemble is to be built from
    them; never recorded in the store."""

    @property
    def described(self) -> bool:
        """Whether its family and hyperparameters are known: a worker that died between creating the run and logging
        its params leaves a run with neither, which tells a search algorithm nothing."""
        return bool(self.family)
