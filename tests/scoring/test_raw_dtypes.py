"""A registered model scores the raw table with the dtypes it was trained on (category, string, object, nullable
integer and boolean, naive and tz-aware timestamps, ISO 8601 text dates), and text where it was trained on
categories and the reverse, through ``mlflow.pyfunc.load_model(...).predict``, ``score_pandas`` and
``score_spark`` (sparksweep's Arrow UDF and ``spark_udf``), with the same predictions row for row."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from sparksweep.data import KINDS_ARTIFACT
from sparksweep.metrics import get_metric
from sparksweep.scoring import score_pandas, score_spark
from sparksweep.spec import validate_spec
from sparksweep.sweep import run_sweep

pytestmark = pytest.mark.spark

NAME = "raw-dtypes"
URI = f"models:/{NAME}@champion"


def _table(n: int, seed: int) -> pd.DataFrame:
    """Every dtype a user brings, each with signal: the label moves the plan, the region, the seats, the flag and
    the signup date (later, and in the afternoon, for churners)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    gap = rng.random(n) < 0.1
    signup = (
        pd.Timestamp("2024-01-01")
        + pd.to_timedelta(rng.integers(0, 200, n) + 60 * y, unit="D")
        + pd.to_timedelta(np.where(y == 1, rng.integers(8, 24, n), rng.integers(0, 16, n)), unit="h")
    )
    return pd.DataFrame(
        {
            "user_id": np.arange(n),
            "plan": pd.Categorical(np.where(y == 1, rng.choice(["free", "pro"], n), rng.choice(["pro", "team"], n))),
            "region": pd.array(np.where(gap, None, rng.choice(["eu", "us"], n)), dtype="string"),
            "channel": pd.Series(np.where(y == 1, "ads", rng.choice(["ads", "search"], n)), dtype=object),
            "seats": pd.array(np.where(gap, None, rng.integers(1, 6, n) + 2 * y), dtype="Int64"),
            "trial": pd.array(np.where(gap, None, (y == 1) | (rng.random(n) < 0.3)), dtype="boolean"),
            "signup": signup,
            "last_seen": (signup + pd.Timedelta(days=3)).tz_localize("UTC"),
            "renewal": pd.Series((signup + pd.Timedelta(days=365)).strftime("%Y-%m-%d"), dtype=object),
            "label": y,
        }
    )


@dataclass(frozen=True)
class Swept:
    uri: str
    fresh: pd.DataFrame
    expected: np.ndarray
    kinds: dict[str, str]


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swept]:
    """One short sweep over the table, its champion registered; the global tracking URI points at its store."""
    folder = tmp_path_factory.mktemp("raw-dtypes")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    spec = validate_spec(
        {
            "experiment": "raw-dtypes",
            "data": {"target": "label", "drop": ["user_id"]},
            "models": ["lightgbm"],
            "search": {"n_trials": 2, "parallelism": 1, "seed": 3, "executor": "local"},
            "tracking": {"uri": uri, "autolog": False, "figures": False},
            "register": {"name": NAME},
        }
    )
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        result = run_sweep(spec, data=_table(500, 1))
        assert result.champion is not None
        table = MlflowClient(uri).load_table(result.experiment_id, KINDS_ARTIFACT, run_ids=[result.sweep_run_id])
        fresh = _table(120, 2)
        expected = score_pandas(fresh, URI, tracking_uri=uri)["prediction"].to_numpy()
        yield Swept(uri, fresh, expected, dict(zip(table["column"], table["kind"], strict=True)))
    finally:
        mlflow.set_tracking_uri(previous)


def test_the_kinds_are_recorded_and_the_model_learned_from_every_dtype(swept: Swept) -> None:
    assert swept.kinds["plan"] == swept.kinds["region"] == swept.kinds["channel"] == "categorical"
    assert swept.kinds["seats"] == swept.kinds["trial"] == "numeric"
    assert swept.kinds["signup"] == swept.kinds["last_seen"] == swept.kinds["renewal"] == "date"
    assert get_metric("auc_roc")(swept.fresh["label"].to_numpy(), swept.expected) > 0.8


def test_pyfunc_predict_takes_the_frame_with_its_own_dtypes(swept: Swept) -> None:
    model = mlflow.pyfunc.load_model(URI)
    predicted = np.asarray(model.predict(swept.fresh.drop(columns=["label"])), dtype=np.float64)
    np.testing.assert_allclose(predicted, swept.expected, rtol=1e-12)


def test_text_for_categories_and_the_reverse_and_other_timestamp_forms_score_the_same(swept: Swept) -> None:
    fresh = swept.fresh
    swapped = fresh.assign(
        plan=fresh["plan"].astype(object),
        region=fresh["region"].astype("category"),
        channel=fresh["channel"].astype("string"),
        seats=fresh["seats"].astype("float64"),
        trial=fresh["trial"].astype(object),
        signup=fresh["signup"].dt.tz_localize("UTC").dt.tz_convert("America/New_York").dt.tz_localize(None),
        last_seen=fresh["last_seen"].dt.tz_convert("Asia/Tokyo"),
        renewal=pd.to_datetime(fresh["renewal"]),
    )
    # a naive signup is read as written: New York wall-clock times give other hours, hence other predictions
    moved = score_pandas(swapped, URI)["prediction"].to_numpy()
    assert not np.allclose(moved, swept.expected)
    swapped = swapped.assign(signup=fresh["signup"])
    model = mlflow.pyfunc.load_model(URI)
    np.testing.assert_allclose(np.asarray(model.predict(swapped), dtype=np.float64), swept.expected, rtol=1e-12)
    np.testing.assert_allclose(score_pandas(swapped, URI)["prediction"].to_numpy(), swept.expected, rtol=1e-12)


def test_unknown_categories_score_as_missing(swept: Swept) -> None:
    rows = swept.fresh.head(10)
    unknown = rows.assign(plan=pd.Categorical(["enterprise"] * 10), channel="radio")
    missing = rows.assign(plan=pd.Categorical([None] * 10, categories=["free"]), channel=None)
    np.testing.assert_allclose(
        score_pandas(unknown, URI)["prediction"].to_numpy(), score_pandas(missing, URI)["prediction"].to_numpy()
    )


def _spark_frame(spark: Any, df: pd.DataFrame) -> Any:
    """The table as Spark holds it: text for categories, nulls for missing values, timestamps."""
    plain = df.assign(
        plan=df["plan"].astype(object),
        region=df["region"].astype(object).where(df["region"].notna(), None),
        seats=df["seats"].astype(object).where(df["seats"].notna(), None),
        trial=df["trial"].astype(object).where(df["trial"].notna(), None),
    )
    schema = (
        "user_id long, plan string, region string, channel string, seats long, trial boolean, signup timestamp, "
        "last_seen timestamp, renewal string, label long"
    )
    rows = [
        tuple(v.to_pydatetime() if isinstance(v, pd.Timestamp) else v for v in row)
        for row in plain.itertuples(index=False)
    ]
    return spark.createDataFrame(rows, schema)


@pytest.mark.parametrize("udf", ["arrow", "spark_udf"])
def test_spark_scores_the_same_rows_the_same(spark: Any, swept: Swept, udf: str) -> None:
    frame = _spark_frame(spark, swept.fresh)
    scored = score_spark(frame, URI, tracking_uri=swept.uri, keep=["user_id"], udf=udf).toPandas()  # type: ignore[arg-type]
    scored = scored.sort_values("user_id")
    np.testing.assert_allclose(scored["prediction"].to_numpy(), swept.expected, rtol=1e-9)
