"""The task types a worker is handed (a model trial, a user objective's trial, the data handle) and what it hands
back between computing a trial and recording it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sparksweep.tracking import AutologMode, RetryPolicy
from sparksweep.worker._process import tracking_client

if TYPE_CHECKING:
    from sparksweep.data import TrainingData
    from sparksweep.models import BaseModelFamily
    from sparksweep.pruning import PruneContext
    from sparksweep.tracking import TrialRunSpec
    from sparksweep.trial import TrialResult

__all__ = ["ComputedTrial", "DataHandle", "ObjectiveTask", "TaskT", "TrialContext", "TrialTask"]


class DataHandle(Protocol):
    """How a worker gets the training data: once per process, keyed by its fingerprint."""

    @property
    def fingerprint(self) -> str: ...

    def load(self) -> TrainingData: ...


@dataclass(frozen=True)
class TrialTask:
    """Everything a worker needs to run one trial; picklable.

    ``run_id`` is the trial's child run; empty when the worker is to create it from ``child`` first
    (:func:`~sparksweep.worker.open_trial_run`).
    """

    number: int
    run_id: str
    tracking_uri: str
    family: BaseModelFamily
    params: dict[str, Any]
    task: str
    metric: str
    features: list[str]
    classes: list[Any] | None
    n_jobs: int
    seed: int
    data: DataHandle
    autolog: AutologMode | bool = "sparksweep"
    """What the run records about the estimator (see :mod:`sparksweep.tracking`); true/false: sparksweep/off."""
    log_model: bool = True
    keep_improving: bool = False
    """``tracking.log_models: improving``: log the model only when the trial's value beats or ties
    :attr:`model_threshold`."""
    model_threshold: float | None = None
    """The best value known when the trial was handed out (None: no trial had finished; the model is logged)."""
    maximize: bool = True
    """The sweep's metric direction, for :attr:`model_threshold`."""
    pruning: PruneContext | None = None
    """The pruner and the finished trials' scores; None: the trial runs to its end."""
    cv: int | None = None
    """k-fold cross-validation on the training and validation rows; None: score on the validation split."""
    cv_seed: int | None = None
    """Seed of the CV folds: the sweep's, so every trial is scored on the same folds and their fold scores pair up
    (None: the trial's ``seed``)."""
    race: tuple[float, ...] | None = None
    """The fold scores of the best finished trial when this one was handed out (``search.cv_racing``): the trial
    stops after a fold once it is clearly behind them (see :func:`~sparksweep.worker.race_lost`). None: every fold
    runs."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    """How writes to the tracking store are retried on transient errors."""
    keep_predictions: bool = False
    """With cv: hand the out-of-fold predictions back in the result (a finalist of an ensemble: see
    :mod:`sparksweep.sweep._ensemble`); they are not written to the store."""
    child: TrialRunSpec | None = None
    """The child run the worker creates when ``run_id`` is empty."""
    slot: int | None = None
    """The executor slot running it (set by the executor as it hands the task out): its run's ``sparksweep.slot``."""

    @property
    def family_name(self) -> str:
        return self.family.name

    def keeps_model(self, value: float) -> bool:
        """Whether a trial of this task scoring ``value`` logs its model."""
        if not self.log_model:
            return False
        if not self.keep_improving or self.model_threshold is None:
            return True
        return value >= self.model_threshold if self.maximize else value <= self.model_threshold


@dataclass(frozen=True)
class TrialContext:
    """What a user objective gets besides its parameters: the trial's number, family and child run.

    Log more into the run through :attr:`client` and :attr:`run_id` (explicit ids are safe in parallel trials).
    """

    number: int
    family: str
    tracking_uri: str
    seed: int
    opening: Callable[[], str] = field(repr=False, compare=False)
    """Returns the child run's id, waiting for the worker to have created it (it is created as the trial starts)."""

    @property
    def run_id(self) -> str:
        """The trial's child run (waits until it is created, a few milliseconds after the trial starts)."""
        return self.opening()

    @property
    def client(self) -> Any:
        return tracking_client(self.tracking_uri)


@dataclass(frozen=True)
class ObjectiveTask:
    """One trial of a user objective (see :func:`sparksweep.optimize`); picklable with cloudpickle."""

    number: int
    run_id: str
    tracking_uri: str
    objective: Any
    family: str
    params: dict[str, Any]
    metric: str
    seed: int
    child: TrialRunSpec | None = None
    """The child run the worker creates when ``run_id`` is empty."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    """How writes to the tracking store are retried on transient errors (as for a model trial)."""
    slot: int | None = None
    """The executor slot running it (set by the executor as it hands the task out): its run's ``sparksweep.slot``."""

    @property
    def family_name(self) -> str:
        return self.family


TaskT = TypeVar("TaskT", TrialTask, ObjectiveTask)
"""Either task type, kept through a function (``open_trial_run(task)`` returns the type it was given)."""


@dataclass(frozen=True)
class ComputedTrial:
    """A trial whose computation is done and whose results are not recorded yet (see
    :func:`~sparksweep.worker.start_trial`)."""

    number: int
    record: Callable[[], TrialResult]
    """Writes the trial's results into its child run and returns them; raises what creating the run raised."""
    value: float | None = None
    """The trial's value as computed (None: it failed or was pruned); final once recorded."""
    same_thread: bool = False
    """Record it in the thread that computed it: MLflow's autologging keeps the run active in that thread."""
    draft: TrialResult | None = None
    """The result as computed, before ``record()`` (``recorded`` False; no model): the driver records it from this if
    the worker dies while recording it. None: nothing to salvage (a pruned trial)."""
