"""Refit the sweep's best trial on train + validation in the driver, logged as a child run of the sweep."""

from __future__ import annotations

import dataclasses
import os
import time
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from sparksweep.data import Dataset, TrainingData
    from sparksweep.search.trial import TrialResult

__all__ = ["refit_best", "refit_data"]


def refit_data(data: TrainingData, *, stops_early: bool, seed: int) -> TrainingData:
    """Train + valid as one training set (categories kept; valid rows weigh 1 when there are weights).

    A family that stops early (``stops_early``) would never stop on rows it also trains on, so it keeps a fifth of
    them, drawn at random (stratified for classification), as its stopping set; other families fit on all of them.
    """
    from sklearn.model_selection import train_test_split

    from sparksweep.search.worker import STOPPING_SHARE

    X = pd.concat([data.X_train, data.X_valid], ignore_index=True)
    y = np.concatenate([data.y_train, data.y_valid])
    w = None if data.w_train is None else np.concatenate([data.w_train, np.ones(len(data.y_valid))])
    if not stops_early:
        return dataclasses.replace(data, X_train=X, y_train=y, w_train=w)
    _, counts = np.unique(y, return_counts=True)
    by_class = y if data.task != "regression" and counts.min() >= 2 else None
    fit, stop = train_test_split(np.arange(len(y)), test_size=STOPPING_SHARE, random_state=seed, stratify=by_class)
    return dataclasses.replace(
        data,
        X_train=X.iloc[fit].reset_index(drop=True),
        y_train=y[fit],
        X_valid=X.iloc[stop].reset_index(drop=True),
        y_valid=y[stop],
        w_train=None if w is None else w[fit],
    )


def refit_best(client: MlflowClient, tracking_uri: str, best: TrialResult, dataset: Dataset, sweep_run_id: str) -> str:
    """Build the best trial's family with its params, fit it on train + valid, log it and return its model URI.

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

    from sparksweep.models import get_family
    from sparksweep.models._mlflow import log_fitted_model
    from sparksweep.search.worker import ROUNDS_METRIC

    family = get_family(best.family)
    data = dataset.training
    trial_run = client.get_run(best.run_id)
    recorded = best.metrics.get(ROUNDS_METRIC, trial_run.data.metrics.get(ROUNDS_METRIC))
    rounds = max(1, round(recorded)) if family.stops_early and recorded is not None else None
    both = refit_data(data, stops_early=family.stops_early and rounds is None, seed=best.number)
    experiment_id = trial_run.info.experiment_id
    run = client.create_run(
        experiment_id,
        start_time=int(time.time() * 1000),
        tags={
            "mlflow.parentRunId": sweep_run_id,
            "mlflow.runName": f"refit-{best.family}",
            "sparksweep.kind": "refit",
            "sparksweep.sweep_run_id": sweep_run_id,
            "sparksweep.refit_of": best.run_id,
        },
    )
    run_id = run.info.run_id
    params = {"model_family": best.family, **best.params}
    client.log_batch(run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
    estimator = family.build(best.params, task=dataset.task, n_jobs=os.cpu_count() or 1, seed=best.number)
    t0 = time.perf_counter()
    if rounds is None:
        estimator = family.fit(estimator, both)  # the fitted model: the estimator or its preprocessing pipeline
    else:
        estimator = family.fit_rounds(estimator, both, rounds)
        client.log_metric(run_id, ROUNDS_METRIC, float(rounds))
    client.log_metric(run_id, "fit_time", time.perf_counter() - t0)
    # log_model writes through MLflow's fluent API; point it at this store only for the call, in the driver.
    with _use_tracking_uri(tracking_uri), mlflow.start_run(run_id=run_id, nested=mlflow.active_run() is not None):
        model_uri = log_fitted_model(
            family,
            estimator,
            task=dataset.task,
            features=dataset.features,
            example=data.X_valid,
            classes=dataset.classes,
        )
    client.set_tag(run_id, "sparksweep.model_uri", model_uri)
    client.set_terminated(run_id)
    return model_uri
