"""Logged models and a data set for the registry tests: real fits, logged into a real SQLite store."""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
import pandas as pd
from mlflow import MlflowClient

from sparksweep.data import Dataset, prepare_dataset
from sparksweep.models import get_family, log_fitted_model
from sparksweep.spec import DataSpec
from sparksweep.trial import TrialResult, TrialState
from tests import helpers

DROP = ["user_id", "feature_date"]


def churn_dataset(df: pd.DataFrame, drop: list[str] | None = None) -> Dataset:
    return prepare_dataset(df, DataSpec(path="-", target="label", drop=drop or DROP), "binary")


@dataclass(frozen=True)
class Logged:
    trial: TrialResult
    sweep_run_id: str


def log_trial(
    uri: str, experiment_id: str, dataset: Dataset, family_name: str, params: dict[str, float] | None = None
) -> Logged:
    """Fit ``family_name`` on the data set, log it under a trial run whose parent is a fresh sweep run."""
    family = helpers.ConstantFamily() if family_name == "test.constant" else get_family(family_name)
    estimator = family.fit(family.build(params or {}, task="binary", n_jobs=1, seed=0), dataset.training)
    client = MlflowClient(uri)
    sweep = client.create_run(experiment_id, tags={"sparksweep.kind": "sweep"}).info.run_id
    with mlflow.start_run(experiment_id=experiment_id, tags={"mlflow.parentRunId": sweep}) as run:
        model_uri = log_fitted_model(
            family,
            estimator,
            task="binary",
            features=dataset.features,
            data=dataset.training,
            classes=dataset.classes,
        )
    trial = TrialResult(
        number=0,
        run_id=run.info.run_id,
        family=family.name,
        params=params or {},
        state=TrialState.COMPLETE,
        value=0.0,
        model_uri=model_uri,
    )
    return Logged(trial, sweep)
