"""register.refit: all: a promoted candidate registers the same model fitted on every row; the gate judged the one
that had not seen the test rows, and a refused candidate registers that one."""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from sparksweep.metrics import get_metric
from sparksweep.registry import ChampionDecision
from sparksweep.spec import RegisterSpec
from sparksweep.sweep._conclude import conclude
from sparksweep.sweep._refit import REFIT_ROWS_METRIC
from tests.conftest import FluentStore
from tests.registry._fixtures import churn_dataset, log_trial

AUC = get_metric("auc_roc")


def test_a_promoted_candidate_registers_its_every_row_refit_and_a_refused_one_the_judged_model(
    fluent_store: FluentStore, churn: pd.DataFrame
) -> None:
    client = MlflowClient(fluent_store.uri, fluent_store.uri)
    dataset = churn_dataset(churn)
    logged = log_trial(fluent_store.uri, fluent_store.experiment_id, dataset, "sklearn.logistic_regression")

    def register(**rules: Any) -> ChampionDecision:
        return conclude(
            client=client,
            tracking_uri=fluent_store.uri,
            registration=RegisterSpec(name="everyrow", refit="all", **rules),
            best=logged.trial,
            dataset=dataset,
            metric=AUC,
            sweep_run_id=logged.sweep_run_id,
        )

    first = register()
    assert first.promoted
    version = client.get_model_version("everyrow", first.version)
    assert version.tags["sparksweep.refit"] == "all"
    judged = version.tags["sparksweep.gated_model"]
    assert judged != f"models:/{version.model_id}"
    training = dataset.training
    fitted_rows = len(training.y_train) + len(training.y_valid)
    every_row_run = client.get_run(version.run_id)
    assert every_row_run.data.metrics[REFIT_ROWS_METRIC] == fitted_rows + len(dataset.y_test)
    assert every_row_run.info.run_name == "refit-all-sklearn.logistic_regression"
    judged_run = client.get_run(client.get_logged_model(judged.removeprefix("models:/")).source_run_id)
    assert judged_run.data.metrics[REFIT_ROWS_METRIC] == fitted_rows
    # The gate's test score is the judged model's, which never saw the test rows.
    judged_score = AUC(dataset.y_test, np.asarray(mlflow.pyfunc.load_model(judged).predict(dataset.X_test)))
    assert float(version.tags["sparksweep.test.auc_roc"]) == pytest.approx(judged_score, abs=1e-12)
    registered = mlflow.pyfunc.load_model(f"models:/everyrow/{first.version}")
    assert AUC(dataset.y_test, np.asarray(registered.predict(dataset.X_test))) != judged_score

    refused = register(min_improvement=0.5)
    assert not refused.promoted
    challenger = client.get_model_version("everyrow", refused.version)
    assert challenger.tags["sparksweep.refit"] == "true"
    assert "sparksweep.gated_model" not in challenger.tags
    assert client.get_run(challenger.run_id).data.metrics[REFIT_ROWS_METRIC] == fitted_rows
    assert str(client.get_model_version_by_alias("everyrow", "champion").version) == first.version


def test_refit_takes_true_false_or_all_only() -> None:
    assert RegisterSpec(name="m", refit="all").refit == "all"
    assert RegisterSpec(name="m", refit=True).refit is True
    with pytest.raises(ValueError, match="refit"):
        RegisterSpec(name="m", refit="everything")  # type: ignore[arg-type]
