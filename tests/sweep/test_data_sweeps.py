"""Sweeps over the data shapes users bring: a Spark table with text categories and gaps, scored raw; bad data
refused before any trial; a metric given by import path."""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from sparksweep.data import KINDS_ARTIFACT
from sparksweep.datasets import generate_churn
from sparksweep.errors import DataError, DataWarning
from sparksweep.metrics import get_metric
from sparksweep.scoring import score_pandas, score_spark
from sparksweep.spec import validate_spec
from sparksweep.sweep import run_sweep
from sparksweep.trial import TrialState

pytestmark = pytest.mark.spark


def _users(n: int, seed: int = 5) -> pd.DataFrame:
    """The churn table plus a text column with signal (``plan``), a text column with gaps and missing numbers."""
    rng = np.random.default_rng(seed)
    df = generate_churn(n, seed=seed)
    plan = np.where(df["label"].to_numpy() == 1, rng.choice(["free", "free", "pro"], n), rng.choice(["pro", "team"], n))
    region = pd.Series(rng.choice(["eu", "us", "apac"], n), dtype=object).where(rng.random(n) > 0.1, None)
    df = df.assign(plan=plan, region=region)
    df.loc[rng.random(n) < 0.05, "event_count_30d"] = np.nan
    return df


def _spec(tracking_uri: str, **changes: Any) -> Any:
    raw: dict[str, Any] = {
        "experiment": "shapes",
        "data": {"target": "label", "drop": ["user_id", "feature_date"], "categorical": ["plan", "region"]},
        "models": ["lightgbm", "sklearn.logistic_regression"],
        "search": {"n_trials": 3, "parallelism": 2, "seed": 3, "algorithm": "optuna.random"},
        "tracking": {"uri": tracking_uri, "autolog": False},
    }
    raw.update(changes)
    return validate_spec(raw)


@pytest.mark.slow
def test_a_spark_table_with_categories_is_swept_registered_and_scored_raw(spark: Any, tracking_uri: str) -> None:
    users = _users(900)
    spark.createDataFrame(users).createOrReplaceTempView("sparksweep_users")
    try:
        spec = _spec(
            tracking_uri,
            data={**_spec(tracking_uri).data.model_dump(), "table": "sparksweep_users"},
            register={"name": "shapes-model"},
        )
        result = run_sweep(spec, spark=spark)
    finally:
        spark.catalog.dropTempView("sparksweep_users")
    assert [t.state for t in result.trials] == [TrialState.COMPLETE] * 3, [t.error for t in result.trials]
    assert {t.family for t in result.trials} <= set(spec.models)
    assert result.champion is not None
    assert result.champion.promoted
    assert result.champion.candidate_score > 0.7
    for trial in result.trials:
        assert trial.metrics["data_load_time"] >= 0.0

    # The registered model takes the raw table: text categories (one never seen: "enterprise"), gaps and all.
    fresh = _users(200, seed=11)
    fresh.loc[:4, "plan"] = "enterprise"
    uri = "models:/shapes-model@champion"
    local = score_pandas(fresh, uri, tracking_uri=tracking_uri, keep=["user_id", "label"])
    as_categories = fresh.assign(region=fresh["region"].astype("category"))
    same = score_pandas(as_categories, uri, tracking_uri=tracking_uri, keep=["user_id"])
    np.testing.assert_allclose(same["prediction"].to_numpy(), local["prediction"].to_numpy())
    remote = (
        score_spark(spark.createDataFrame(fresh), uri, tracking_uri=tracking_uri, keep=["user_id", "label"])
        .toPandas()
        .sort_values("user_id")
    )
    np.testing.assert_allclose(remote["prediction"].to_numpy(), local["prediction"].to_numpy(), rtol=1e-6)
    assert get_metric("auc_roc")(fresh["label"].to_numpy(), local["prediction"].to_numpy()) > 0.7


def test_bad_data_fails_before_any_trial(tracking_uri: str) -> None:
    client = MlflowClient(tracking_uri)
    with pytest.raises(DataError, match=r"column 'blob' holds neither numbers nor text .* or add it to data\.drop"):
        run_sweep(
            _spec(tracking_uri, data={"target": "label", "drop": ["user_id", "feature_date"]}),
            data=_users(300).assign(blob=b"x"),
        )
    spec = _spec(tracking_uri, models=["lightgbm", "sklearn.svm"], search={"executor": "local"})
    with pytest.raises(DataError, match=r"'sklearn\.svm' is for small data: the training split has 10,880 rows"):
        run_sweep(spec, data=_users(17_000))
    experiment = client.get_experiment_by_name("shapes")
    runs = [] if experiment is None else client.search_runs([experiment.experiment_id])
    assert runs == [], "no sweep run and no trial was started"


@pytest.mark.slow
def test_a_metric_given_by_import_path(tracking_uri: str) -> None:
    spec = _spec(
        tracking_uri,
        models=["lightgbm"],
        metric="tests.helpers:brier",
        search={"n_trials": 2, "parallelism": 2, "seed": 1, "executor": "local"},
    )
    result = run_sweep(spec, data=_users(400))
    assert result.metric == "brier"
    assert result.direction.value == "minimize"
    assert [t.state for t in result.trials] == [TrialState.COMPLETE] * 2, [t.error for t in result.trials]
    client = MlflowClient(tracking_uri)
    for trial in result.trials:
        assert 0.0 < client.get_run(trial.run_id).data.metrics["brier"] < 0.25
    assert result.best is not None
    assert result.best.value == min(t.value for t in result.trials if t.value is not None)


def test_a_refitted_champion_takes_the_raw_table_with_its_text_categories(spark: Any, tracking_uri: str) -> None:
    spec = _spec(
        tracking_uri,
        data={**_spec(tracking_uri).data.model_dump(), "path": "unused.parquet"},
        models=["lightgbm"],
        search={"n_trials": 1, "parallelism": 1, "seed": 3},
        register={"name": "shapes-refit", "refit": True},
    )
    result = run_sweep(spec, data=_users(600), spark=spark)
    assert result.champion is not None
    assert result.champion.refit
    fresh = _users(200, seed=11)
    fresh.loc[:4, "plan"] = "enterprise"
    scored = score_pandas(fresh, "models:/shapes-refit@champion", tracking_uri=tracking_uri, keep=["label"])
    assert get_metric("auc_roc")(fresh["label"].to_numpy(), scored["prediction"].to_numpy()) > 0.7


def test_a_frame_of_category_columns_is_swept_and_its_own_rows_predict_through_pyfunc(fluent_store: Any) -> None:
    """Text and pandas ``category`` columns need no data.categorical; the registered model then predicts rows of
    the very frame it was trained on through ``mlflow.pyfunc.load_model`` (its signature once said ``string`` and
    MLflow refused the ``category`` dtype: "Can not safely convert category to <U0")."""
    users = _users(500).assign(
        region=lambda d: d["region"].astype("category"),
        contract=lambda d: pd.Categorical(np.where(d["label"] == 1, "monthly", "yearly")),
        email=[f"u{i}@example.com" for i in range(500)],
    )
    spec = _spec(
        fluent_store.uri,
        data={"target": "label", "drop": ["user_id", "feature_date"]},
        models=["lightgbm", "sklearn.logistic_regression"],
        search={"n_trials": 2, "parallelism": 1, "seed": 3, "executor": "local"},
        register={"name": "shapes-categories"},
    )
    with pytest.warns(DataWarning, match="column 'email' is left out of the features"):
        result = run_sweep(spec, data=users)
    assert result.champion is not None
    client = MlflowClient(fluent_store.uri)
    kinds = client.load_table(result.experiment_id, KINDS_ARTIFACT, run_ids=[result.sweep_run_id])
    chosen = dict(zip(kinds["column"], kinds["kind"], strict=True))
    assert chosen["plan"] == chosen["region"] == chosen["contract"] == "categorical"
    assert chosen["email"] == "left out"
    assert chosen["event_count_30d"] == "numeric"
    model = mlflow.pyfunc.load_model("models:/shapes-categories@champion")
    rows = users.drop(columns=["label"]).head(50)
    assert isinstance(rows["contract"].dtype, pd.CategoricalDtype)
    predicted = np.asarray(model.predict(rows), dtype=np.float64)
    as_text = rows.assign(contract=rows["contract"].astype(str), region=rows["region"].astype(object))
    np.testing.assert_allclose(np.asarray(model.predict(as_text), dtype=np.float64), predicted)
    assert get_metric("auc_roc")(users["label"].head(50).to_numpy(), predicted) > 0.9


def test_a_sweep_split_by_time_records_its_time_column_and_resume_refuses_another(tracking_uri: str) -> None:
    from sparksweep.sweep._resume import check_split_columns

    users = _users(400).assign(event_time=pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(400), unit="h"))
    spec = _spec(
        tracking_uri,
        data={**_spec(tracking_uri).data.model_dump(), "time_column": "event_time"},
        models=["sklearn.logistic_regression"],
        search={"n_trials": 2, "parallelism": 1, "seed": 3, "executor": "local", "cv": 3},
        tracking={"uri": tracking_uri, "autolog": False, "log_models": "none", "figures": False},
    )
    result = run_sweep(spec, data=users)
    assert all(t.state is TrialState.COMPLETE for t in result.trials)
    client = MlflowClient(tracking_uri)
    params = client.get_run(result.sweep_run_id).data.params
    assert (params["time_column"], params["group_column"]) == ("event_time", "None")
    kinds = client.load_table(result.experiment_id, KINDS_ARTIFACT, run_ids=[result.sweep_run_id])
    assert dict(zip(kinds["column"], kinds["reason"], strict=True))["event_time"].startswith("data.time_column")
    check_split_columns(params, spec.data, result.sweep_run_id)  # the same columns: resumable
    moved = spec.data.model_copy(update={"time_column": None, "group_column": "plan"})
    with pytest.raises(
        DataError, match=r"with data\.time_column 'event_time', and this run has data\.time_column none"
    ):
        check_split_columns(params, moved, result.sweep_run_id)
