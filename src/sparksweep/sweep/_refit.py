"""Refit the sweep's best trial on train + validation in the driver, logged as a child run of the sweep; with
``register.refit: all``, on every row (train, validation and test) for the model a promoted candidate registers."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from sparksweep.data import Dataset, TrainingData
    from sparksweep.models import BaseModelFamily
    from sparksweep.trial import TrialResult

__all__ = ["REFIT_ROWS_METRIC", "refit_best", "refit_data", "refit_ensemble", "with_test_rows"]

REFIT_ROWS_METRIC = "refit_rows"
"""The rows a refit run's model was fitted on (those it stopped on included)."""


def with_test_rows(data: TrainingData, dataset: Dataset) -> TrainingData:
    """``data`` with the test rows added to its validation rows (``register.refit: all``: every row is fitted)."""
    return dataclasses.replace(
        data,
        X_valid=pd.concat([data.X_valid, dataset.X_test], ignore_index=True),
        y_valid=np.concatenate([data.y_valid, dataset.y_test]),
    )


def refit_data(data: TrainingData, *, stops_early: bool, seed: int) -> TrainingData:
    """Train + valid as one training set (categories kept; valid rows weigh 1 when there are weights).

    A family that stops early (``stops_early``) would never stop on rows it also trains on, so it keeps a fifth of
    them as its stopping set (drawn at random, stratified for classification; the latest rows with
    ``data.time_column``; whole groups with ``data.group_column``); other families fit on all of them.
    """
    from sparksweep.data import stopping_rows
    from sparksweep.worker import STOPPING_SHARE

    X = pd.concat([data.X_train, data.X_valid], ignore_index=True)
    y = np.concatenate([data.y_train, data.y_valid])
    w = None if data.w_train is None else np.concatenate([data.w_train, np.ones(len(data.y_valid))])
    if not stops_early:
        return dataclasses.replace(data, X_train=X, y_train=y, w_train=w)
    fit, stop = stopping_rows(
        np.arange(len(y)),
        y,
        share=STOPPING_SHARE,
        seed=seed,
        stratify=data.task != "regression",
        time_ordered=data.time_ordered,
        groups=data.groups,
    )
    return dataclasses.replace(
        data,
        X_train=X.iloc[fit].reset_index(drop=True),
        y_train=y[fit],
        X_valid=X.iloc[stop].reset_index(drop=True),
        y_valid=y[stop],
        w_train=None if w is None else w[fit],
        time_ordered=False,
        groups=None,  # fitted, never split again
    )


def _fit_again(
    client: MlflowClient, trial: TrialResult, dataset: Dataset, every_row: bool = False
) -> tuple[BaseModelFamily, Any, int | None]:
    """``trial``'s family with its params, fitted on train + valid (``every_row``: and test): (family, fitted model,
    the rounds it was fitted for when its family stops early and the trial recorded them)."""
    from sparksweep.models import get_family
    from sparksweep.worker import ROUNDS_METRIC

    family = get_family(trial.family)
    recorded = trial.metrics.get(ROUNDS_METRIC)
    if recorded is None and family.stops_early:
        recorded = client.get_run(trial.run_id).data.metrics.get(ROUNDS_METRIC)
    rounds = max(1, round(recorded)) if family.stops_early and recorded is not None else None
    rows = with_test_rows(dataset.training, dataset) if every_row else dataset.training
    both = refit_data(rows, stops_early=family.stops_early and rounds is None, seed=trial.number)
    estimator = family.build(trial.params, task=dataset.task, n_jobs=os.cpu_count() or 1, seed=trial.number)
    if rounds is None:
        return family, family.fit(estimator, both), None  # the fitted model: the estimator or its pipeline
    return family, family.fit_rounds(estimator, both, rounds), rounds


def _refit_tags(of: str, every_row: bool) -> dict[str, str]:
    return {"sparksweep.refit_of": of, "sparksweep.refit_rows": "train, valid, test" if every_row else "train, valid"}


def _rows(dataset: Dataset, every_row: bool) -> int:
    data = dataset.training
    return len(data.y_train) + len(data.y_valid) + (len(dataset.y_test) if every_row else 0)


def _refit_run(client: MlflowClient, trial: TrialResult, sweep_run_id: str, name: str, tags: dict[str, str]) -> str:
    """Create the refit's child run of the sweep (in ``trial``'s experiment) and return its id."""
    experiment_id = client.get_run(trial.run_id).info.experiment_id
    run = client.create_run(
        experiment_id,
        start_time=int(time.time() * 1000),
        tags={
            "mlflow.parentRunId": sweep_run_id,
            "mlflow.runName": name,
            "sparksweep.kind": "refit",
            "sparksweep.sweep_run_id": sweep_run_id,
            **tags,
        },
    )
    return str(run.info.run_id)


def refit_best(
    client: MlflowClient,
    tracking_uri: str,
    best: TrialResult,
    dataset: Dataset,
    sweep_run_id: str,
    every_row: bool = False,
) -> str:
    """Build the best trial's family with its params, fit it on train + valid (``every_row``: and the test rows, for
    ``register.refit: all``), log it and return its model URI.

    A family that stops early fits on all of those rows for the rounds early stopping kept in the trial (its
    ``n_rounds`` metric: the mean over CV folds), as the peers' final fits do; a trial recorded without them (an
    older sweep's) keeps a share of the rows to stop on instead (:func:`refit_data`). On scikit-learn's digits (1,347
    training rows, 10 classes) LightGBM at its defaults scored a test log loss of 0.100 stopped on a fifth of the rows,
    0.063 fitted on all of them for the rounds 5-fold CV chose.
    The gate that follows judges the refit model on the untouched test rows.
    """
    import mlflow
    from mlflow.entities import Param
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    from sparksweep.models import log_fitted_model
    from sparksweep.worker import ROUNDS_METRIC

    data = dataset.training
    name = f"refit-{'all-' if every_row else ''}{best.family}"
    run_id = _refit_run(client, best, sweep_run_id, name, _refit_tags(best.run_id, every_row))
    params = {"model_family": best.family, **best.params}
    client.log_batch(run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
    t0 = time.perf_counter()
    family, estimator, rounds = _fit_again(client, best, dataset, every_row)
    if rounds is not None:
        client.log_metric(run_id, ROUNDS_METRIC, float(rounds))
    client.log_metric(run_id, "fit_time", time.perf_counter() - t0)
    client.log_metric(run_id, REFIT_ROWS_METRIC, float(_rows(dataset, every_row)))
    # log_model writes through MLflow's fluent API; point it at this store only for the call, in the driver.
    with _use_tracking_uri(tracking_uri), mlflow.start_run(run_id=run_id, nested=mlflow.active_run() is not None):
        model_uri = log_fitted_model(
            family,
            estimator,
            task=dataset.task,
            features=dataset.features,
            data=data,
            classes=dataset.classes,
        )
    client.set_tag(run_id, "sparksweep.model_uri", model_uri)
    client.set_terminated(run_id)
    return model_uri


def refit_ensemble(
    client: MlflowClient,
    tracking_uri: str,
    members: Sequence[tuple[TrialResult, float]],
    dataset: Dataset,
    sweep_run_id: str,
    every_row: bool = False,
) -> str:
    """Fit every member of an ensemble (:mod:`sparksweep.sweep._ensemble`) on train + valid (``every_row``: and
    test) as :func:`refit_best` does, log their weighted average as one model in a refit run, and return its model
    URI.

    The run's params are each member's family, weight and settings, prefixed ``member_<i>.``.
    """
    import mlflow
    from mlflow.entities import Param
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    from sparksweep.models import log_ensemble_model

    first = members[0][0]
    of = ",".join(t.run_id for t, _ in members)
    name = f"refit-{'all-' if every_row else ''}ensemble"
    run_id = _refit_run(client, first, sweep_run_id, name, _refit_tags(of, every_row))
    params: dict[str, Any] = {"model_family": "ensemble"}
    for i, (trial, weight) in enumerate(members):
        params.update({f"member_{i}.family": trial.family, f"member_{i}.weight": round(weight, 6)})
        params.update({f"member_{i}.{k}": v for k, v in trial.params.items()})
    client.log_batch(run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
    t0 = time.perf_counter()
    fitted = []
    for trial, weight in members:
        family, estimator, _ = _fit_again(client, trial, dataset, every_row)
        fitted.append((family, estimator, weight))
    client.log_metric(run_id, "fit_time", time.perf_counter() - t0)
    client.log_metric(run_id, REFIT_ROWS_METRIC, float(_rows(dataset, every_row)))
    with _use_tracking_uri(tracking_uri), mlflow.start_run(run_id=run_id, nested=mlflow.active_run() is not None):
        model_uri = log_ensemble_model(
            fitted,
            task=dataset.task,
            features=dataset.features,
            data=dataset.training,
            classes=dataset.classes,
        )
    client.set_tag(run_id, "sparksweep.model_uri", model_uri)
    client.set_terminated(run_id)
    return model_uri
