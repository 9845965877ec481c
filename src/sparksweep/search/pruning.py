"""Pruning trials that run on Spark: the driver's evidence travels with the trial, the rule runs in the worker.

A running Spark task cannot ask the driver's Optuna study whether to stop. So at dispatch the engine ships the trial a
snapshot of every finished trial's intermediate scores (:class:`PruneContext`); the worker rebuilds that study in
memory with the same Optuna pruner, reports its own validation score every :data:`REPORT_EVERY` boosting rounds, and
stops itself (raising :class:`TrialPruned`) when the rule says so. Its scores come back in the
:class:`~sparksweep.search.trial.TrialResult` and join the driver's ledger for the trials dispatched after it.

The ledger is an Optuna study of its own, independent of the search algorithm, so Hyperopt sweeps are pruned too.

Example:
    >>> from sparksweep.scoring.metrics import Direction
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
from sparksweep.scoring.metrics import Direction
from sparksweep.search.trial import TrialResult, TrialState

if TYPE_CHECKING:
    import optuna

    from sparksweep.scoring.metrics import Metric

__all__ = [
    "REPORT_EVERY",
    "PruneContext",
    "PruningLedger",
    "StepReport",
    "StepReporter",
    "TrialPruned",
    "make_pruner",
]

REPORT_EVERY = 10
"""A trial's validation score is computed and reported every this many boosting rounds."""

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
    convention); it is only called on steps where a score is due. ``report`` raises :class:`TrialPruned` to stop.
    """

    def __call__(self, step: int, predict: Callable[[], np.ndarray]) -> None: ...


def make_pruner(kind: str) -> optuna.pruners.BasePruner:
    """The Optuna pruner a sweep file names, with settings for boosting rounds reported every 10 rounds.

    Example:
        >>> type(make_pruner("hyperband")).__name__
        'HyperbandPruner'
    """
    pruners = require("optuna.pruners", "pruning")
    pruner: optuna.pruners.BasePruner
    if kind == "median":
        # Wait for 4 finished trials and 30 rounds before judging: early rounds say little about the end.
        pruner = pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=30, interval_steps=REPORT_EVERY)
    elif kind == "successive_halving":
        pruner = pruners.SuccessiveHalvingPruner(min_resource=REPORT_EVERY * 3, reduction_factor=3)
    elif kind == "hyperband":
        pruner = pruners.HyperbandPruner(min_resource=REPORT_EVERY * 3, max_resource="auto", reduction_factor=3)
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
        self._metric = metric
        self._y_valid = y_valid
        self._trial: optuna.Trial | None = None
        self._local: optuna.Study | None = None
        self._next_step = REPORT_EVERY
        self.intermediate: dict[int, float] = {}
        self.last_step: int | None = None

    def _live_trial(self) -> optuna.Trial:
        if self._trial is None:
            study = _study(self._context.kind, self._context.direction)
            if self._context.trials:
                study.add_trials(self._context.trials)
            self._local = study
            self._trial = study.ask()
        return self._trial

    def __call__(self, step: int, predict: Callable[[], np.ndarray]) -> None:
        if step < self._next_step:
            return
        self._next_step = (step // REPORT_EVERY + 1) * REPORT_EVERY
        value = self._metric(self._y_valid, predict())
        if not np.isfinite(value):
            return  # a diverging round says nothing the final score will not; let the trial fail or recover
        trial = self._live_trial()
        trial.report(value, step)
        self.intermediate[step] = value
        self.last_step = step
        if trial.should_prune():
            raise TrialPruned(step, value)

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
        """Add a finished trial; only completed and pruned trials with reported scores are evidence."""
        optuna = require("optuna", "pruning")
        if not result.intermediate:
            return
        if result.state is TrialState.COMPLETE and result.value is not None:
            state, value = optuna.trial.TrialState.COMPLETE, result.value
        elif result.state is TrialState.PRUNED:
            state, value = optuna.trial.TrialState.PRUNED, None
        else:
            return
        self._study.add_trial(
            optuna.trial.create_trial(
                state=state,
                value=value,
                intermediate_values=dict(result.intermediate),
                system_attrs=dict(system_attrs or result.pruner_attrs),
            )
        )
