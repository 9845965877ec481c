from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sparksweep.data import (
    MAX_CATEGORIES,
    DataSpec,
    decode_categories,
    encode_categories,
    fingerprint,
    infer_task,
    load_table,
    prepare_dataset,
    read_table,
)
from sparksweep.datasets import CHURN_COLUMNS, generate_churn
from sparksweep.errors import DataError, DataWarning

SPEC = DataSpec(target="label", drop=["user_id", "feature_date"])


def test_infer_task() -> None:
    assert infer_task(pd.Series([0, 1, 1, 0])) == "binary"
    assert infer_task(pd.Series(["yes", "no", "no"])) == "binary"
    assert infer_task(pd.Series([0, 1, 2, 3, 1])) == "multiclass"
    assert infer_task(pd.Series(["a", "b", "c"])) == "multiclass"
    assert infer_task(pd.Series(np.linspace(0, 1, 100))) == "regression"
    assert infer_task(pd.Series(range(500))) == "regression"


def test_splits_are_stratified_deterministic_and_disjoint(churn: pd.DataFrame) -> None:
    a = prepare_dataset(churn, SPEC)
    b = prepare_dataset(churn, SPEC)
    assert a.task == "binary"
    assert a.classes == [0, 1]
    assert a.features == CHURN_COLUMNS[2:-1]
    n = len(churn)
    assert len(a.X_test) == round(n * 0.2)
    assert len(a.training.X_train) + len(a.training.X_valid) + len(a.X_test) == n
    pd.testing.assert_frame_equal(a.X_test, b.X_test)
    rate = churn["label"].mean()
    for y in (a.training.y_train, a.training.y_valid, a.y_test):
        assert abs(y.mean() - rate) < 0.02
    assert a.fingerprint == b.fingerprint


def test_string_labels_are_encoded(churn: pd.DataFrame) -> None:
    df = churn.assign(label=np.where(churn["label"] == 1, "churned", "stayed"))
    ds = prepare_dataset(df, SPEC)
    assert ds.classes == ["churned", "stayed"]
    assert set(np.unique(ds.y_test)) == {0, 1}


def test_fingerprint_follows_the_content(churn: pd.DataFrame) -> None:
    changed = churn.copy()
    changed.loc[0, "event_count_30d"] += 1
    assert fingerprint(churn) != fingerprint(changed)
    assert fingerprint(churn) == fingerprint(churn.copy())


@pytest.mark.parametrize(
    ("mutate", "spec", "words"),
    [
        (lambda d: d.iloc[0:0], SPEC, "has no rows"),
        (lambda d: d.drop(columns=["label"]), SPEC, "target column 'label' is not in the data"),
        (lambda d: d.assign(label=0), SPEC, "target column 'label' has a single class (0) in all 2000 rows"),
        (lambda d: d.assign(label=d["label"].astype(float).where(d.index > 3)), SPEC, "'label' has 4 missing values"),
        (
            lambda d: d.assign(blob=b"x"),
            SPEC,
            "column 'blob' holds neither numbers nor text (dtype object, e.g. [b'x']); convert it",
        ),
        (
            lambda d: d.assign(city="Paris"),
            SPEC.model_copy(update={"numeric": ["city"]}),
            "column 'city' is listed in data.numeric but holds str values (e.g. ['Paris'])",
        ),
        (
            lambda d: d.assign(wait=pd.to_timedelta(d["active_days_30d"], unit="D")),
            DataSpec(target="label", drop=["user_id"]),
            "column 'wait' holds durations (timedelta64",
        ),
        (
            lambda d: d.assign(label=d["event_count_30d"] * 0.37),
            DataSpec(target="label", drop=["user_id", "feature_date"]),
            "target 'label' holds continuous values",
        ),
        (
            lambda d: d,
            SPEC.model_copy(update={"drop": ["nope"]}),
            "data.drop names columns that are not in the data: ['nope']",
        ),
        (lambda d: d, SPEC.model_copy(update={"categorical": ["town"]}), "data.categorical names columns that are not"),
        (
            lambda d: d,
            SPEC.model_copy(update={"categorical": ["active_days_30d"]}),
            "column 'active_days_30d' is listed in data.categorical but holds numbers (int64)",
        ),
        (
            lambda d: d.assign(w=np.nan),
            SPEC.model_copy(update={"weight_column": "w"}),
            "weight column 'w' has 2000 missing",
        ),
        (lambda d: d.assign(w=-1.0), SPEC.model_copy(update={"weight_column": "w"}), "negative values"),
        (lambda d: d.assign(w="x"), SPEC.model_copy(update={"weight_column": "w"}), "weight column 'w' is not numeric"),
    ],
)
def test_bad_data_is_named(churn: pd.DataFrame, mutate: object, spec: DataSpec, words: str) -> None:
    with pytest.raises(DataError) as err:
        prepare_dataset(mutate(churn), spec, "binary" if "continuous" in words else None)  # type: ignore[operator]
    assert words in str(err.value)


def test_task_mismatches(churn: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="not numeric"):
        prepare_dataset(churn.assign(label=churn["label"].map({0: "a", 1: "b"})), SPEC, task="regression")
    multi = churn.assign(label=churn.index % 3)
    with pytest.raises(DataError, match="task is binary but"):
        prepare_dataset(multi, SPEC, task="binary")
    with pytest.raises(DataError, match=r"continuous values .* set task: regression"):
        prepare_dataset(churn.assign(label=churn["account_age_days"] / 7), SPEC, task="multiclass")
    with pytest.raises(DataError, match=r"more than the 50 classes .* set task: regression"):
        prepare_dataset(churn.assign(label=churn["account_age_days"]), SPEC, task="multiclass")
    with pytest.raises(DataError, match="class_weight applies to classification"):
        prepare_dataset(churn, SPEC.model_copy(update={"class_weight": "balanced"}), task="regression")


def test_an_id_that_follows_the_label_is_a_warning(churn: pd.DataFrame) -> None:
    leaky = churn.sort_values("label", kind="stable").assign(user_id=np.arange(len(churn)))
    spec = DataSpec(target="label", drop=["feature_date"])
    with pytest.warns(DataWarning, match=r"column 'user_id' looks like an identifier .* Add it to data.drop"):
        prepare_dataset(leaky, spec)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        prepare_dataset(churn, spec)  # a shuffled id predicts nothing: no warning
        prepare_dataset(churn, SPEC)
    with pytest.warns(DataWarning, match="column 'copy' predicts the target almost perfectly"):
        prepare_dataset(churn.assign(copy=churn["label"] * 3.0 + 1), SPEC)


def test_categorical_columns(churn: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    df = churn.assign(
        plan=rng.choice(["free", "pro", "team"], len(churn)),
        region=pd.Categorical(rng.choice(["eu", "us", None], len(churn))),
    )
    ds = prepare_dataset(df, SPEC)  # text and category columns are categorical without being declared
    assert ds.categories == prepare_dataset(df, SPEC.model_copy(update={"categorical": ["plan"]})).categories
    assert ds.categories == {"plan": ["free", "pro", "team"], "region": ["eu", "us"]}
    assert ds.training.categorical == ["plan", "region"]
    assert "plan" not in ds.training.numeric
    # Families train on categories fixed from the whole table; the test split stays raw text, as users score it.
    assert ds.training.X_train["plan"].cat.categories.tolist() == ["free", "pro", "team"]
    assert ds.training.X_valid["region"].cat.categories.tolist() == ["eu", "us"]
    assert ds.X_test["plan"].map(type).eq(str).all()
    assert ds.X_test["region"].isna().any()
    assert ds.X_test["region"].map(type).isin([str, type(None)]).all()
    encoded = encode_categories(pd.DataFrame({"plan": ["pro", "enterprise", None]}), {"plan": ["free", "pro"]})
    assert encoded["plan"].cat.codes.tolist() == [1, -1, -1], "unseen and missing values are missing"
    assert decode_categories(encoded, {"plan": ["free", "pro"]})["plan"].tolist() == ["pro", None, None]


def test_many_categories_are_capped_with_a_warning(churn: pd.DataFrame) -> None:
    df = churn.assign(zip=(np.arange(len(churn)) % 400).astype(str))
    with pytest.warns(DataWarning, match=r"column 'zip' has 400 distinct values; the 250 most frequent"):
        ds = prepare_dataset(df, SPEC.model_copy(update={"categorical": ["zip"]}))
    assert len(ds.categories["zip"]) == MAX_CATEGORIES


def test_weights(churn: pd.DataFrame) -> None:
    balanced = prepare_dataset(churn, SPEC.model_copy(update={"class_weight": "balanced"}))
    w, y = balanced.training.w_train, balanced.training.y_train
    assert w is not None
    assert w[y == 0].sum() == pytest.approx(w[y == 1].sum()), "each class weighs the same in total"
    df = churn.assign(w=np.where(churn.index % 2 == 0, 2.0, 1.0))
    both = prepare_dataset(df, SPEC.model_copy(update={"weight_column": "w", "class_weight": "balanced"}))
    assert "w" not in both.features
    assert both.training.w_train is not None
    assert set(np.round(both.training.w_train / w, 6)) == {1.0, 2.0}
    assert prepare_dataset(churn, SPEC).training.w_train is None
    # Workers cache the prepared data by its fingerprint: another preparation of the same table is another key.
    assert balanced.training.fingerprint != prepare_dataset(churn, SPEC).training.fingerprint
    assert balanced.fingerprint == prepare_dataset(churn, SPEC).fingerprint, "the table itself is the same"
    other_split = prepare_dataset(churn, SPEC.model_copy(update={"valid_size": 0.3}))
    assert other_split.training.fingerprint != prepare_dataset(churn, SPEC).training.fingerprint


def test_nullable_numbers_become_floats(churn: pd.DataFrame) -> None:
    df = churn.assign(purchase_count_30d=churn["purchase_count_30d"].astype("Int64").where(churn.index > 5))
    ds = prepare_dataset(df, SPEC)
    assert ds.training.X_train["purchase_count_30d"].dtype == np.float64


def test_load_table_inputs(tmp_path: Path) -> None:
    df = generate_churn(50)
    df.to_parquet(tmp_path / "a.parquet")
    df.to_csv(tmp_path / "a.csv", index=False)
    assert load_table(DataSpec(path=str(tmp_path / "a.parquet"), target="label")).equals(df)
    assert list(load_table(DataSpec(path=str(tmp_path / "a.csv"), target="label")).columns) == CHURN_COLUMNS
    assert load_table(DataSpec(target="label"), data=df) is df
    with pytest.raises(DataError, match=r"no data given: set data\.path"):
        load_table(DataSpec(target="label"))
    with pytest.raises(DataError, match="must be a pandas or Spark DataFrame, got dict"):
        load_table(DataSpec(target="label"), data={"a": 1})  # type: ignore[arg-type]


@pytest.mark.spark
def test_spark_inputs(spark: Any) -> None:
    from pyspark.sql import functions as sf

    df = generate_churn(60).assign(plan=["a", "b", None] * 20, amount=[1.5] * 60)
    sdf = spark.createDataFrame(df.drop(columns=["amount"])).withColumn("amount", sf.lit(1.5).cast("decimal(10,2)"))
    got = load_table(DataSpec(target="label"), data=sdf)
    assert len(got) == 60
    assert got["amount"].dtype == np.float64, "decimals arrive as doubles"
    assert got["plan"].tolist()[:2] == ["a", "b"]
    assert got["plan"].isna().tolist()[:3] == [False, False, True]
    sdf.createOrReplaceTempView("sparksweep_test_users")
    try:
        from_table = load_table(DataSpec(table="sparksweep_test_users", target="label"), spark=spark)
        assert from_table.shape == got.shape
    finally:
        spark.catalog.dropTempView("sparksweep_test_users")
    with pytest.raises(DataError, match="Spark table 'no_such_table' does not exist"):
        load_table(DataSpec(table="no_such_table", target="label"), spark=spark)


def test_read_table(tmp_path: Path) -> None:
    df = generate_churn(50)
    df.to_parquet(tmp_path / "a.parquet")
    df.to_csv(tmp_path / "a.csv", index=False)
    assert len(read_table(tmp_path / "a.parquet")) == 50
    assert list(read_table(tmp_path / "a.csv").columns) == CHURN_COLUMNS
    with pytest.raises(DataError, match="does not exist"):
        read_table(tmp_path / "missing.parquet")


def test_churn_generator_has_signal_that_trees_capture_better_than_a_line() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    df = generate_churn(20_000, seed=3)
    assert list(df.columns) == CHURN_COLUMNS
    assert 0.1 < df["label"].mean() < 0.35
    ds = prepare_dataset(df, SPEC)
    X, y = ds.training.X_train, ds.training.y_train
    line = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    trees = HistGradientBoostingClassifier(random_state=0).fit(X, y)
    auc_line = roc_auc_score(ds.y_test, line.predict_proba(ds.X_test)[:, 1])
    auc_trees = roc_auc_score(ds.y_test, trees.predict_proba(ds.X_test)[:, 1])
    assert 0.75 < auc_line < auc_trees < 0.97


def _kinds(ds: Any) -> dict[str, tuple[str, str]]:
    return {k.column: (k.kind.value, k.reason) for k in ds.kinds}


def test_column_kinds_are_inferred_and_recorded(churn: pd.DataFrame) -> None:
    rng = np.random.default_rng(1)
    n = len(churn)
    df = churn.assign(
        plan=rng.choice(["free", "pro", "team"], n).astype(object),
        region=pd.array(rng.choice(["eu", "us", "apac"], n), dtype="string"),
        tier=pd.Categorical(rng.choice(["a", "b"], n)),
        email=[f"user{i}@example.com" for i in range(n)],
        active=rng.random(n) > 0.5,
        seats=pd.array(rng.integers(1, 9, n), dtype="Int64"),
    )
    with pytest.warns(DataWarning, match=r"column 'email' is left out of the features: text with mostly unique"):
        ds = prepare_dataset(df, SPEC)
    kinds = _kinds(ds)
    assert kinds["plan"] == ("categorical", "text, 3 distinct")
    assert kinds["region"][0] == kinds["tier"][0] == "categorical"
    assert kinds["email"][0] == "left out"
    assert kinds["active"] == ("numeric", "boolean, as 0 / 1")
    assert kinds["seats"] == ("numeric", "numbers")
    assert kinds["label"] == ("target", "data.target")
    assert kinds["user_id"] == ("left out", "listed in data.drop")
    assert "email" not in ds.features
    assert "active" in ds.training.numeric
    assert set(ds.categories) == {"plan", "region", "tier"}
    assert [k.column for k in ds.kinds] == list(df.columns), "every column, in the table's order"


def test_declared_kinds_win_over_the_inference(churn: pd.DataFrame) -> None:
    df = churn.assign(code=(np.arange(len(churn)) % 300).astype(str), ref=[f"r{i}" for i in range(len(churn))])
    spec = SPEC.model_copy(update={"categorical": ["ref"], "drop": [*SPEC.drop, "code"], "numeric": ["tenure"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        with pytest.raises(DataError, match=r"data.numeric names columns that are not in the data: \['tenure'\]"):
            prepare_dataset(df, spec)
        spec = spec.model_copy(update={"numeric": ["account_age_days"]})
        with pytest.warns(DataWarning, match="'ref' has 2,000 distinct values; the 250 most frequent"):
            ds = prepare_dataset(df, spec)
    kinds = _kinds(ds)
    assert kinds["ref"] == ("categorical", "listed in data.categorical")
    assert kinds["code"] == ("left out", "listed in data.drop")
    assert kinds["account_age_days"] == ("numeric", "listed in data.numeric")


def test_a_small_table_keeps_its_few_labels_as_categories() -> None:
    df = pd.DataFrame({"name": [f"n{i}" for i in range(40)], "x": range(40), "y": [0, 1] * 20})
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        ds = prepare_dataset(df, DataSpec(target="y"))
    assert _kinds(ds)["name"] == ("categorical", "text, 40 distinct")
