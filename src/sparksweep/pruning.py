"""Pruning trials that run on Spark: the driver's evidence travels with the trial, the rule runs in the worker.

A running Spark task cannot ask the driver's Optuna study whether to stop. So at dispatch the engine ships the trial a
snapshot of every finished trial's intermediate scores (:class:`PruneContext`); the worker rebuilds that study in
memory with the same Optuna pruner, reports its own validation score on the rounds where the pruner can act, and
stops itself (raising :class:`TrialPruned`) when the rule says so. Its scores come back in the
:class:`~sparksweep.trial.TrialResult` and join the driver's ledger for the trials dispatched after it. No
message goes to the driver while a trial trains: the decision costs the worker well under a millisecond per report.

Scores are due only where the pruner can act (:meth:`StepReporter.due`): every :data:`REPORT_EVERY` rounds from
round :data:`MIN_RESOURCE` for the median rule, on the rungs ``MIN_RESOURCE * REDUCTION_FACTOR ** k`` (30, 90, 270,
...) for successive halving and Hyperband. Boosting libraries hand over their own validation predictions, which they
keep up to date round by round (:class:`RoundScorer`), so a report costs one metric computation and no prediction.

The ledger is an Optuna study of its own, independent of the search algorithm, so Hyperopt sweeps are pruned too.

Example:
    >>> from sparksweep.metrics import Direction
    >>> ledger = PruningLedger("median", Direction.MAXIMIZE)
    >>> ledger.snapshot().kind
    'median'
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from sparksweep._imports import require
from sparksweep.errors import SpecError
from sparksweep.metrics import Direction
from sparksweep.trial import TrialResult, TrialState

if TYPE_CHECKING:
    import optuna

    from sparksweep.metrics import Metric

__all__ = [
    "MIN_RESOURCE",
    "REDUCTION_FACTOR",
    "REPORT_EVERY",
    "PruneContext",
    "PruningLedger",
    "RoundScorer",
    "StepReport",
    "StepReporter",
    "TrialPruned",
    "make_pruner",
]

REPORT_EVERY = 10
"""With the median rule, a trial's validation score is reported every this many boosting rounds."""
MIN_RESOURCE = 30
"""No trial is judged before this many rounds: early rounds say little about the end."""
REDUCTION_FACTOR = 3
"""Successive halving and Hyperband keep the best third of the trials at each rung."""

_STUDY_NAME = "sparksweep-pruning"  # the same in driver and worker: Hyperband assigns brackets by study name


class TrialPruned(Exception):  # noqa: N818 (named like Optuna's; it is control flow, not an error)
    """Raised inside a trial's fit when the pruner stops it; carries the step it reached."""

    def __init__(self, step: int, value: float) -> None:
        super().__init__(f"pruned at step {step} (validation score {value:.6g})")
        self.step = step
        self.value = value


class StepReport(Protocol):
    """What a model family calls while it trains: ``report(step, predict)``.

    ``predict`` returns validation predictions of the model as trained so far (sparksweep's prediction
    convention); it is only called on steps where a score is :meth:`due`. ``report`` returns the score it computed
    (None when none was due) and raises :class:`TrialPruned` to stop.
    """

    @property
    def metric(self) -> Metric: ...

    def due(self, step: int) -> bool: ...

    def next_due(self, step: int) -> int: ...

    def __call__(self, step: int, predict: Callable[[], np.ndarray]) -> float | None: ...


class RoundScorer:
    """An evaluation metric for a boosting library's validation set, scored with sparksweep's metric when due.

    LightGBM and XGBoost call their evaluation metrics once per round with the validation predictions they keep up
    to date incrementally; wrapped in this, the library counts the rounds and sparksweep computes its metric only on
    the rounds where the pruner wants a score (and reports it). Between those rounds it returns the last score
    (NaN before the first). Wrap it in a plain function before handing it to a library: LightGBM deep-copies its
    metrics, and a function is copied by reference.

    Example:
        >>> from sparksweep.metrics import get_metric
        >>> y = np.array([0, 1, 0, 1])
        >>> scorer = RoundScorer(PruneContext("median", Direction.MAXIMIZE).reporter(get_metric("auc_roc"), y))
        >>> [scorer(np.array([0.1, 0.9, 0.2, 0.8])) for _ in range(MIN_RESOURCE)][-1], scorer.name
        (1.0, 'sparksweep_auc_roc')
    """

    def __init__(self, report: StepReport) -> None:
        self.report = report
        self.rounds = 0
        self.value = float("nan")

    @property
    def name(self) -> str:
        return f"sparksweep_{self.report.metric.name}"

    @property
    def higher_is_better(self) -> bool:
        return self.report.metric.direction is Direction.MAXIMIZE

    def __call__(self, predictions: np.ndarray) -> float:
        self.rounds += 1
        value = self.report(self.rounds, lambda: predictions)
        if value is not None:
            self.value = value
        return self.value


def make_pruner(kind: str) -> optuna.pruners.BasePruner:
    """The Optuna pruner a sweep file names, set for the rounds on which :meth:`StepReporter.due` reports.

    Example:
        >>> type(make_pruner("hyperband")).__name__
        'HyperbandPruner'
    """
    pruners = require("optuna.pruners", "pruning")
    pruner: optuna.pruners.BasePruner
    if kind == "median":
        # Wait for 4 finished trials and MIN_RESOURCE rounds before judging.
        pruner = pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=MIN_RESOURCE, interval_steps=REPORT_EVERY)
    elif kind == "successive_halving":
        pruner = pruners.SuccessiveHalvingPruner(min_resource=MIN_RESOURCE, reduction_factor=REDUCTION_FACTOR)
    elif kind == "hyperband":
        pruner = pruners.HyperbandPruner(
            min_resource=MIN_RESOURCE, max_resource="auto", reduction_factor=REDUCTION_FACTOR
        )
    else:
        raise SpecError(f"unknown pruner {kind!r}; choose one of ['none', 'median', 'successive_halving', 'hyperband']")
    return pruner


def _study(kind: str, direction: Direction) -> optuna.Study:
    lib = require("optuna", "pruning")
    study: optuna.Study = lib.create_study(
        study_name=_STUDY_NAME,
        direction=direction.value,
        pruner=make_pruner(kind),
        sampler=lib.samplers.RandomSampler(seed=0),  # never samples: trials here carry no parameters
    )
    return study


@dataclass(frozen=True)
class PruneContext:
    """The pruner and the finished trials' evidence, shipped with a trial (picklable)."""

    kind: str
    direction: Direction
    trials: list[Any] = field(default_factory=list)
    """Optuna ``FrozenTrial`` objects: state, value, intermediate values and the pruner's own attributes."""

    def reporter(self, metric: Metric, y_valid: np.ndarray) -> StepReporter:
        return StepReporter(self, metric, y_valid)


class StepReporter:
    """The worker side: a local copy of the driver's study, one trial in it, reports and the pruning decision."""

    def __init__(self, context: PruneContext, metric: Metric, y_valid: np.ndarray) -> None:
        self._context = context
        self.metric = metric
        self._y_valid = y_valid
        self._trial: optuna.Trial | None = None
        self._local: optuna.Study | None = None
        self.intermediate: dict[int, float] = {}
        self.last_step: int | None = None

    def due(self, step: int) -> bool:
        """Whether the pruner can act on ``step``, so a score is wanted there."""
        if step < MIN_RESOURCE:
            return False
        if self._context.kind == "median":
            return step % REPORT_EVERY == 0
        rung = MIN_RESOURCE  # successive halving and every Hyperband bracket judge on these rungs
        while rung < step:
            rung *= REDUCTION_FACTOR
        return rung == step

    def next_due(self, step: int) -> int:
        """The first step after ``step`` on which a score is due."""
        if step < MIN_RESOURCE:
            return MIN_RESOURCE
        if self._context.kind == "median":
            return (step // REPORT_EVERY + 1) * REPORT_EVERY
        rung = MIN_RESOURCE
        while rung <= step:
            rung *= REDUCTION_FACTOR
        return rung

    def _live_trial(self) -> optuna.Trial:
        if self._trial is None:
            study = _study(self._context.kind, self._context.direction)
            if self._context.trials:
                study.add_trials(self._context.trials)
            self._local = study
            self._trial = study.ask()
        return self._trial

    def __call__(self, step: int, predict: Callable[[], np.ndarray]) -> float | None:
        if not self.due(step):
            return None
        value = self.metric(self._y_valid, predict())
        if not np.isfinite(value):
            return None  # a diverging round says nothing the final score will not; let the trial fail or recover
        trial = self._live_trial()
        trial.report(value, step)
        self.intermediate[step] = value
        self.last_step = step
        if trial.should_prune():
            raise TrialPruned(step, value)
        return value

    @property
    def system_attrs(self) -> dict[str, Any]:
        """What the pruner wrote on the trial (successive halving's rungs), for the driver's ledger."""
        if self._local is None:
            return {}
        return dict(self._local.get_trials(deepcopy=False)[-1].system_attrs)


class PruningLedger:
    """The driver side: every finished trial's intermediate scores, in a study with the configured pruner."""

    def __init__(self, kind: str, direction: Direction) -> None:
        self.kind = kind
        self.direction = direction
        self._study = _study(kind, direction)

    def snapshot(self) -> PruneContext:
        return PruneContext(self.kind, self.direction, copy.deepcopy(self._study.get_trials(deepcopy=False)))

    def record(self, result: TrialResult, system_attrs: dict[str, Any] | None = None) -> None:
        """Add a finished trial; only completed and pruned trials with reported scores are evidence.

        A trial read back from MLflow on resume has its per-round scores but not what the pruner wrote on it
        (successive halving's rung records): those are rebuilt by replaying its scores through the pruner.
        """
        optuna = require("optuna", "pruning")
        if not result.intermediate:
            return
        if result.state is TrialState.COMPLETE and result.value is not None:
            state, value = optuna.trial.TrialState.COMPLETE, result.value
        elif result.state is TrialState.PRUNED:
            state, value = optuna.trial.TrialState.PRUNED, None
        else:
            return
        attrs = dict(system_attrs or result.pruner_attrs)
        if not attrs and self.kind != "median":
            self._replay(result.intermediate, state, value)
            return
        self._study.add_trial(
            optuna.trial.create_trial(
                state=state, value=value, intermediate_values=dict(result.intermediate), system_attrs=attrs
            )
        )

    def _replay(self, intermediate: dict[int, float], state: Any, value: float | None) -> None:
        trial = self._study.ask()
        for step, score in sorted(intermediate.items()):
            trial.report(score, step)
            trial.should_prune()  # the pruner records the rungs the trial reached; its verdict is history
        if value is not None:
            self._study.tell(trial, value)
        else:
            self._study.tell(trial, state=state)
