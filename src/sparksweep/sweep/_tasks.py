"""The tasks an executor runs: a model family's trial, a finalist's re-scoring on fresh folds, a user objective's
trial; each made from a proposal and the child run the worker is to create."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sparksweep.metrics import Direction
from sparksweep.models import get_family
from sparksweep.sweep._finalists import RESCORE_SEED_OFFSET
from sparksweep.tracking import TrialRunSpec
from sparksweep.trial import Proposal, TrialResult
from sparksweep.worker import ObjectiveTask, TrialContext, TrialTask

if TYPE_CHECKING:
    from sparksweep.data import Dataset
    from sparksweep.executors import BaseExecutor
    from sparksweep.metrics import Metric
    from sparksweep.spec import SweepSpec

__all__ = ["Objective", "RescoreFactory", "TaskFactory", "model_tasks", "objective_tasks", "rescore_tasks"]

TaskFactory = Callable[[int, TrialRunSpec, Proposal, Any, Any], Any]
"""(number, its child run to create, proposal, data handle, pruning context) -> the task an executor runs."""

RescoreFactory = Callable[[TrialResult, TrialRunSpec, Any], Any]
"""(a finished trial, its re-scoring child run to create, data handle) -> the task scoring it on fresh folds."""

Objective = Callable[[dict[str, Any], TrialContext], float]
"""A user's objective: ``objective(params, trial) -> float``."""


def model_tasks(
    spec: SweepSpec, dataset: Dataset, metric: Metric, runner: BaseExecutor, tracking_uri: str
) -> TaskFactory:
    """Tasks fitting a model family's proposal on the sweep's data and scoring it."""
    base_seed = spec.search.seed or 0

    def make(number: int, child: TrialRunSpec, proposal: Proposal, handle: Any, pruning: Any) -> TrialTask:
        return TrialTask(
            number=number,
            run_id="",  # the worker creates it from `child`
            child=child,
            tracking_uri=tracking_uri,
            family=get_family(proposal.family),
            params=proposal.params,
            task=dataset.task,
            metric=spec.metric or metric.name,  # an import path is resolved again in the worker
            features=dataset.features,
            classes=dataset.classes,
            n_jobs=runner.cores_per_trial,
            seed=base_seed + number,
            data=handle,
            autolog=spec.tracking.autolog,
            log_model=spec.tracking.log_models != "none",
            keep_improving=spec.tracking.log_models == "improving",
            maximize=metric.direction is Direction.MAXIMIZE,
            pruning=pruning,
            cv=spec.search.cv,
            cv_seed=base_seed,  # the same folds for every trial: their fold scores pair up (cv_racing compares them)
        )

    return make


def rescore_tasks(make: TaskFactory, seed: int, predictions: bool = False) -> RescoreFactory:
    """Tasks scoring a finished trial again: its family, params and model seed, folds drawn with another seed, no
    race (every fold is scored); with ``predictions``, handing back their out-of-fold predictions (an ensemble's)."""

    def rescore(trial: TrialResult, child: TrialRunSpec, handle: Any) -> Any:
        task = make(trial.number, child, Proposal(trial.family, trial.params), handle, None)
        return replace(
            task, cv_seed=seed + RESCORE_SEED_OFFSET, race=None, keep_predictions=predictions, keep_improving=False
        )

    return rescore


def objective_tasks(objective: Objective, metric: str, seed: int | None, tracking_uri: str) -> TaskFactory:
    """Tasks calling a user's objective with a proposal's parameters (trial ``n`` gets ``seed + n``)."""
    base_seed = seed or 0

    def make(number: int, child: TrialRunSpec, proposal: Proposal, handle: Any, pruning: Any) -> ObjectiveTask:
        seed_n = base_seed + number
        # The worker creates the child run from `child` (run_id left empty).
        return ObjectiveTask(
            number, "", tracking_uri, objective, proposal.family, proposal.params, metric, seed_n, child
        )

    return make
