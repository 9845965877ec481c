"""Computing a model trial: its data (loaded once per process), the fit (or k of them with CV), its score, early
stopping's rounds, pruning. Nothing here writes to the store: the result is a
:class:`~sparksweep.worker.ComputedTrial` whose ``record()`` does (:mod:`sparksweep.worker._record`)."""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sparksweep.tracking import autolog_mode, configure_mlflow_autolog
from sparksweep.worker._cv import CrossValidation, cross_validate, std
from sparksweep.worker._process import quiet_worker
from sparksweep.worker._record import FitOutcome
from sparksweep.worker._runs import RunOpening
from sparksweep.worker._task import ComputedTrial

if TYPE_CHECKING:
    from sparksweep.data import TrainingData
    from sparksweep.metrics import Metric
    from sparksweep.worker._task import DataHandle, TrialTask

__all__ = ["ROUNDS_METRIC", "start_fit"]

ROUNDS_METRIC = "n_rounds"
"""The boosting rounds early stopping kept in a trial (with CV: the one number every fold was scored at, or the mean
over the folds); the refit fits that many on all the rows instead of stopping early on a share of them."""

_DATA_CACHE: dict[str, TrainingData] = {}


def start_fit(task: TrialTask, on_open: Callable[[str], None] | None) -> ComputedTrial:
    """Compute a model trial while its child run is created (:class:`~sparksweep.worker.RunOpening`).

    A trial whose model raises, or scores a non-finite value, is a result to be recorded as FAILED, not an error.
    """
    import mlflow

    started = time.perf_counter()
    quiet_worker()
    task.retry.bound_http_retries()
    mlflow.set_tracking_uri(task.tracking_uri)
    autolog = autolog_mode(task.autolog)
    opening = RunOpening(task, on_open)
    same_thread = autolog == "mlflow"
    if same_thread:  # MLflow's autologging writes into the active run: it must exist before the fit
        task = opening.task(task)
    outcome = FitOutcome(task, opening, started, autolog)
    try:
        computed = _compute(task, outcome, same_thread)
        outcome.compute_time = opening.elapsed()  # recorded with the trial: the timeline's solid part
        if computed.value is None:  # pruned: nothing to salvage
            return computed
        return dataclasses.replace(computed, draft=outcome.draft())  # recorded by the driver if the worker dies first
    except Exception as exc:  # a failing trial is a result, not a crash of the sweep
        record = functools.partial(outcome.record_failure, exc, "fit")
        return ComputedTrial(task.number, record, None, same_thread, outcome.failed_draft(exc))


def _compute(task: TrialTask, outcome: FitOutcome, same_thread: bool) -> ComputedTrial:
    """Fit and score ``task``'s model into ``outcome``; the trial to record (complete or pruned)."""
    import mlflow
    from threadpoolctl import threadpool_limits

    from sparksweep.metrics import get_metric
    from sparksweep.pruning import TrialPruned

    t_data = time.perf_counter()
    data = _training_data(task.data)
    outcome.data_time = time.perf_counter() - t_data
    metric = get_metric(task.metric)
    outcome.metric_name = metric.name
    estimator = task.family.build(task.params, task=task.task, n_jobs=task.n_jobs, seed=task.seed)
    if task.pruning is not None:
        outcome.reporter = task.pruning.reporter(metric, data.y_valid)
    if same_thread:
        task.retry.call("open the trial's run", mlflow.start_run, run_id=task.run_id)
    with threadpool_limits(limits=task.n_jobs), warnings.catch_warnings():
        # scikit-learn 1.9 renamed log_loss's y_pred; MLflow's autologging still passes it by the old name.
        warnings.filterwarnings("ignore", message="`y_pred` was renamed", category=FutureWarning)
        # Autologged extras are best effort: MLflow's autologging drops its own logging errors.
        configure_mlflow_autolog(task.family.library, outcome.autolog == "mlflow")
        cv: CrossValidation | None = None
        if task.cv is not None:
            cv = cross_validate(task, data, metric)
            _note_folds(outcome, cv)
            if cv.lost_race:
                scores = cv.scores
                lost = TrialPruned(len(scores), sum(scores) / len(scores))
                outcome.fit_time = cv.fit_time
                record_lost = functools.partial(outcome.record_pruned, lost, extra=dict(outcome.metrics))
                return ComputedTrial(task.number, record_lost, None, same_thread)
        t0 = time.perf_counter()
        try:
            estimator = _fit(task, estimator, data, cv, outcome)
        except TrialPruned as pruned:
            outcome.fit_time = time.perf_counter() - t0
            return ComputedTrial(task.number, functools.partial(outcome.record_pruned, pruned), None, same_thread)
        outcome.fit_time = time.perf_counter() - t0
        value = _score(task, estimator, data, metric, cv, outcome)
    outcome.estimator, outcome.data, outcome.value = estimator, data, value
    return ComputedTrial(task.number, outcome.record, value, same_thread)


def _note_folds(outcome: FitOutcome, cv: CrossValidation) -> None:
    """The folds' scores into the trial's metrics (``<metric>_fold_<i>``, ``<metric>_cv_std``) and its record."""
    name = outcome.metric_name
    outcome.fold_scores = tuple(cv.scores)
    outcome.metrics.update({f"{name}_fold_{i}": v for i, v in enumerate(cv.scores)})
    outcome.metrics[f"{name}_cv_std"] = float(std(cv.scores))
    outcome.predictions = cv.predictions


def _fit(task: TrialTask, estimator: Any, data: TrainingData, cv: CrossValidation | None, outcome: FitOutcome) -> Any:
    """The fitted model (the estimator or its pipeline); raises ``TrialPruned`` when the pruner stops it."""
    if cv is not None and _folds_suffice(task, cv):
        # The folds scored the trial and its model is not kept: a fit on the training split would be thrown away
        # (the refit fits the champion on every row, with the folds' rounds).
        return cv.model
    if outcome.reporter is not None:
        return task.family.fit_reporting(estimator, data, outcome.reporter)
    return task.family.fit(estimator, data)


def _folds_suffice(task: TrialTask, cv: CrossValidation) -> bool:
    """Whether the folds alone make the trial: it was cross-validated and its model will not be logged (with
    ``tracking.log_models: improving``, a trial whose folds' mean does not reach the best value known at its
    dispatch), so no model is fitted on the training split."""
    return bool(cv.scores) and not task.keeps_model(sum(cv.scores) / len(cv.scores))


def _score(
    task: TrialTask,
    estimator: Any,
    data: TrainingData,
    metric: Metric,
    cv: CrossValidation | None,
    outcome: FitOutcome,
) -> float:
    """The trial's value (the folds' mean with CV, else the metric on the validation split), and its rounds."""
    rounds: float | None
    if cv is not None and cv.scores:
        value = sum(cv.scores) / len(cv.scores)
        if _folds_suffice(task, cv):
            outcome.fit_time = cv.fit_time / len(cv.scores)
        rounds = sum(cv.rounds) / len(cv.rounds) if cv.rounds else None
    else:
        value = metric(data.y_valid, task.family.predict(estimator, data.X_valid, task.task))
        fitted = task.family.fitted_rounds(estimator)
        rounds = None if fitted is None else float(fitted)
    if rounds is not None:
        outcome.metrics[ROUNDS_METRIC] = rounds
    if not math.isfinite(value):
        raise ValueError(f"metric {metric.name!r} is {value} on the validation split")
    return value


def _training_data(handle: DataHandle) -> TrainingData:
    """The handle's data, loaded once per process: later trials of the sweep in this process reuse it."""
    data = _DATA_CACHE.get(handle.fingerprint)
    if data is None:
        data = handle.load()
        _DATA_CACHE.clear()  # one data set per process at a time: sweeps run one after another
        _DATA_CACHE[handle.fingerprint] = data
    return data
