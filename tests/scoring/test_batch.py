"""Scoring with logged models through spark_udf and pandas, each task type, and column checks."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_regression

from sparksweep.data import prepare_dataset
from sparksweep.errors import DataError, RegistryError
from sparksweep.models import get_family, log_ensemble_model, log_fitted_model
from sparksweep.scoring import (
    download_model,
    downloaded_model,
    load_model,
    score_pandas,
    score_spark,
    score_table,
)
from sparksweep.scoring._ship import load_zipped_model, zip_model
from sparksweep.spec import DataSpec
from tests.conftest import FluentStore

pytestmark = pytest.mark.spark


@pytest.fixture
def store(fluent_store: FluentStore) -> str:
    return fluent_store.uri


def _fitted(task: str, family_name: str, store: str) -> tuple[str, pd.DataFrame, Any]:
    if task == "regression":
        X, y = make_regression(n_samples=300, n_features=4, random_state=1)
    else:
        X, y = make_classification(
            n_samples=300,
            n_features=4,
            n_informative=3,
            n_redundant=0,
            n_classes=3 if task == "multiclass" else 2,
            random_state=1,
        )
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(y=y, user_id=np.arange(300))
    ds = prepare_dataset(df, DataSpec(path="x.parquet", target="y", drop=["user_id"]), task)
    family = get_family(family_name)
    estimator = family.fit(family.build({}, task=task, n_jobs=1, seed=0), ds.training)
    with mlflow.start_run(experiment_id=mlflow.get_experiment_by_name("tests").experiment_id):
        uri = log_fitted_model(family, estimator, task=task, features=ds.features, data=ds.training, classes=ds.classes)
    return uri, df, estimator


def _ensemble(task: str, store: str, weights: dict[str, float]) -> tuple[str, pd.DataFrame, np.ndarray]:
    """An ensemble of the families in ``weights``, logged; with the table and the weighted average it must give."""
    _, df, _ = _fitted(task, "lightgbm", store)
    ds = prepare_dataset(df, DataSpec(path="x.parquet", target="y", drop=["user_id"]), task)
    members, expected = [], 0.0
    for name, weight in weights.items():
        family = get_family(name)
        estimator = family.fit(family.build({}, task=task, n_jobs=1, seed=0), ds.training)
        members.append((family, estimator, weight))
        expected = expected + weight * family.predict(estimator, df[ds.features], task)
    with mlflow.start_run(experiment_id=mlflow.get_experiment_by_name("tests").experiment_id):
        uri = log_ensemble_model(members, task=task, features=ds.features, data=ds.training, classes=ds.classes)
    return uri, df, np.asarray(expected)


def test_an_ensemble_scores_the_weighted_average_of_its_members_through_spark_and_pandas(
    spark: Any, store: str
) -> None:
    uri, df, expected = _ensemble("multiclass", store, {"lightgbm": 0.7, "sklearn.logistic_regression": 0.3})
    assert expected.shape == (300, 3)
    np.testing.assert_allclose(expected.sum(axis=1), 1.0, rtol=1e-9)
    out = score_spark(spark.createDataFrame(df), uri, tracking_uri=store, keep=["user_id"]).toPandas()
    out = out.sort_values("user_id")
    np.testing.assert_allclose(np.array(out["probabilities"].tolist()), expected, rtol=1e-6)
    assert out["prediction"].tolist() == [str(c) for c in expected.argmax(axis=1)]
    local = score_pandas(df, uri, tracking_uri=store)
    np.testing.assert_allclose(np.array(local["probabilities"].tolist()), expected, rtol=1e-6)
    # Regression: the weighted average of the values.
    uri, df, expected = _ensemble("regression", store, {"lightgbm": 0.5, "sklearn.linear": 0.5})
    pyfunc = mlflow.pyfunc.load_model(download_model(uri, store))
    np.testing.assert_allclose(pyfunc.predict(df.drop(columns=["y", "user_id"])).to_numpy(), expected, rtol=1e-6)


def test_binary_spark_udf_gives_the_positive_class_probability(spark: Any, store: str) -> None:
    uri, df, estimator = _fitted("binary", "sklearn.random_forest", store)
    expected = estimator.predict_proba(df[["a", "b", "c", "d"]])[:, 1]
    sdf = spark.createDataFrame(df)
    out = score_spark(sdf, uri, tracking_uri=store, keep=["user_id"]).toPandas().sort_values("user_id")
    assert list(out.columns) == ["user_id", "prediction"]
    np.testing.assert_allclose(out["prediction"].to_numpy(), expected, rtol=1e-6)
    # The same holds in user code that calls spark_udf with result_type="double" on the model itself.
    local = download_model(uri, store)
    udf = mlflow.pyfunc.spark_udf(spark, local, result_type="double", env_manager="local")
    raw = sdf.select("user_id", udf("a", "b", "c", "d").alias("p")).toPandas().sort_values("user_id")
    np.testing.assert_allclose(raw["p"].to_numpy(), expected, rtol=1e-6)
    assert not np.allclose(raw["p"].to_numpy(), 1 - expected), "not P(class 0)"
    pandas_out = score_pandas(df, uri, tracking_uri=store, keep=["user_id"])
    np.testing.assert_allclose(pandas_out["prediction"].to_numpy(), expected, rtol=1e-6)


def test_multiclass_and_regression_through_spark_and_pandas(spark: Any, store: str) -> None:
    uri, df, estimator = _fitted("multiclass", "lightgbm", store)
    proba = estimator.predict_proba(df[["a", "b", "c", "d"]])
    out = score_spark(spark.createDataFrame(df), uri, tracking_uri=store, keep=["user_id"]).toPandas()
    out = out.sort_values("user_id")
    assert list(out.columns) == ["user_id", "probabilities", "prediction"]
    np.testing.assert_allclose(np.array(out["probabilities"].tolist()), proba, rtol=1e-6)
    assert out["prediction"].tolist() == [str(c) for c in proba.argmax(axis=1)]
    local = score_pandas(df, uri, tracking_uri=store)
    np.testing.assert_allclose(np.array(local["probabilities"].tolist()), proba)
    assert local["prediction"].tolist() == out["prediction"].tolist()

    uri, df, estimator = _fitted("regression", "xgboost", store)
    expected = estimator.predict(df[["a", "b", "c", "d"]])
    out = score_spark(spark.createDataFrame(df), uri, tracking_uri=store, keep=["user_id"]).toPandas()
    assert out["prediction"].dtype == np.float64
    np.testing.assert_allclose(out.sort_values("user_id")["prediction"].to_numpy(), expected, rtol=1e-5)


def test_score_table_files_tables_and_keys(spark: Any, store: str, tmp_path: Path) -> None:
    uri, df, estimator = _fitted("binary", "sklearn.logistic_regression", store)
    expected = pd.Series(estimator.predict_proba(df[["a", "b", "c", "d"]])[:, 1], index=df["user_id"])
    csv = tmp_path / "users.csv"
    df.drop(columns=["y"]).to_csv(csv, index=False)
    report = score_table(
        uri, input_path=str(csv), output_path=str(tmp_path / "out.parquet"), tracking_uri=store, spark=spark
    )
    assert report.rows == len(df)
    assert report.columns == ["user_id", "prediction"], "keys carried through, features left out"
    got = pd.read_parquet(tmp_path / "out.parquet").set_index("user_id")["prediction"]
    np.testing.assert_allclose(got.sort_index().to_numpy(), expected.sort_index().to_numpy(), rtol=1e-6)
    # A Spark table in, a Spark table out (an int column is widened to the model's double).
    ints = df.assign(a=df["a"].round().astype("int32"))
    spark.createDataFrame(ints).createOrReplaceTempView("users_in")
    db = f"scoring_{tmp_path.name.replace('-', '_')}"
    spark.sql(f"CREATE DATABASE {db} LOCATION '{tmp_path / 'warehouse'}'")  # its tables live in tmp_path
    table = f"{db}.scores"
    out = score_table(
        uri, input_table="users_in", output_table=table, keep=["user_id"], tracking_uri=store, spark=spark
    )
    assert out.rows == len(df)
    assert spark.table(table).columns == ["user_id", "prediction"]
    spark.sql(f"DROP DATABASE {db} CASCADE")
    with pytest.raises(DataError, match="no Spark table 'nope'"):
        score_table(uri, input_table="nope", output_path=str(tmp_path / "x"), tracking_uri=store, spark=spark)


def test_missing_or_mistyped_columns_fail_before_the_job(spark: Any, store: str) -> None:
    uri, df, _ = _fitted("binary", "sklearn.logistic_regression", store)
    with pytest.raises(DataError, match=r"lacks columns \['c'\]"):
        score_spark(spark.createDataFrame(df.drop(columns=["c"])), uri, tracking_uri=store)
    with pytest.raises(DataError, match=r"lacks columns \['c'\]"):
        score_pandas(df.drop(columns=["c"]), uri, tracking_uri=store)
    text = df.assign(b=df["b"].astype(str))
    with pytest.raises(DataError, match="'b' is string, the model takes double"):
        score_spark(spark.createDataFrame(text), uri, tracking_uri=store)
    with pytest.raises(DataError, match="'b' is string, the model takes double"):
        score_pandas(text, uri, tracking_uri=store)


def test_unknown_models_are_clear_errors(store: str) -> None:
    with pytest.raises(RegistryError, match="models:/<name>@champion"):
        download_model("models:/nope@champion", store)
    with pytest.raises(RegistryError, match="names no version or alias"):
        download_model("models:/nope", store)


def test_spark_udf_option_gives_the_same_columns_and_values(spark: Any, store: str) -> None:
    uri, df, estimator = _fitted("multiclass", "lightgbm", store)
    proba = estimator.predict_proba(df[["a", "b", "c", "d"]])
    sdf = spark.createDataFrame(df)
    ours = score_spark(sdf, uri, tracking_uri=store, keep=["user_id"]).toPandas().sort_values("user_id")
    generic = score_spark(sdf, uri, tracking_uri=store, keep=["user_id"], udf="spark_udf").toPandas()
    generic = generic.sort_values("user_id")
    assert list(generic.columns) == list(ours.columns) == ["user_id", "probabilities", "prediction"]
    np.testing.assert_allclose(np.array(generic["probabilities"].tolist()), proba, rtol=1e-6)
    assert generic["prediction"].tolist() == ours["prediction"].tolist() == [str(c) for c in proba.argmax(axis=1)]
    with pytest.raises(DataError, match=r"udf must be one of 'arrow', 'spark_udf' .* got 'fast'"):
        score_spark(sdf, uri, tracking_uri=store, udf="fast")  # type: ignore[arg-type]


def _left_in(folder: Path) -> list[str]:
    """What scoring left in the temp folder, ignoring MLflow's own folders (``<tmp>/models/<copy>``, made by
    spark_udf and removed by MLflow when the process exits)."""
    return sorted(p.name for p in folder.iterdir() if not (p.is_dir() and [c.name for c in p.iterdir()] == ["models"]))


def test_scoring_leaves_no_model_copies_or_archives(
    spark: Any, store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri, df, estimator = _fitted("binary", "lightgbm", store)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # the driver's temp files land here
    parquet = tmp_path / "users.parquet"
    df.drop(columns=["y"]).to_parquet(parquet)
    with downloaded_model(uri, store) as local:
        assert Path(local, "MLmodel").exists()
    assert _left_in(scratch) == [], "the with block removes its copy"
    model = load_model(uri, store)
    score_pandas(df, uri, model=model)
    score_spark(spark.createDataFrame(df), uri, tracking_uri=store).count()
    for udf in (None, "arrow", "spark_udf"):
        out = tmp_path / f"out-{udf}.parquet"
        score_table(uri, input_path=str(parquet), output_path=str(out), tracking_uri=store, spark=spark, udf=udf)
    assert _left_in(scratch) == [], "no sparksweep-model-* copy, no spark_udf zip, no mkstemp leftover"
    # In the Python workers, the model is unpacked into a temporary folder that is gone once it is loaded.
    python_model = load_zipped_model(zip_model(download_model(uri, store, dst=tmp_path / "model")))
    assert _left_in(scratch) == []
    expected = estimator.predict_proba(df[["a", "b", "c", "d"]])[:, 1]
    np.testing.assert_allclose(python_model.predict_array(df[["a", "b", "c", "d"]]), expected, rtol=1e-6)


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_the_table_path_gives_score_pandas_rows_exactly(spark: Any, store: str, tmp_path: Path, task: str) -> None:
    """A Spark table through score_table's mapInArrow into a Spark table: every row once, the kept columns as they
    were (a feature among them, a timestamp key) and the predictions score_pandas gives, to the last bit."""
    uri, df, _ = _fitted(task, "lightgbm", store)
    df = df.drop(columns=["y"]).assign(seen=pd.Timestamp("2026-01-02") + pd.to_timedelta(np.arange(300), unit="s"))
    spark.createDataFrame(df).repartition(3).createOrReplaceTempView("users_exact")
    db = f"exact_{tmp_path.name.replace('-', '_')}"
    spark.sql(f"CREATE DATABASE {db} LOCATION '{tmp_path / 'warehouse'}'")
    keep = ["user_id", "seen", "a"]
    report = score_table(
        uri, input_table="users_exact", output_table=f"{db}.out", keep=keep, tracking_uri=store, spark=spark
    )
    got = spark.table(f"{db}.out").toPandas().sort_values("user_id").reset_index(drop=True)
    spark.sql(f"DROP DATABASE {db} CASCADE")
    expected = score_pandas(df, uri, tracking_uri=store, keep=keep)
    assert (report.method, report.rows, report.columns) == ("arrow", len(df), list(expected.columns))
    assert got["user_id"].tolist() == expected["user_id"].tolist()
    assert got["a"].tolist() == expected["a"].tolist(), "a kept feature column passes through untouched"
    assert (got["seen"].to_numpy("datetime64[us]") == expected["seen"].to_numpy("datetime64[us]")).all()
    column = "probabilities" if task == "multiclass" else "prediction"
    assert np.array_equal(np.array(got[column].tolist()), np.array(expected[column].tolist()))
    assert got["prediction"].tolist() == expected["prediction"].tolist()
    assert got[column].astype(str).nunique() > 10, "real predictions, not a constant"
