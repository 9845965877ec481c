from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sparksweep.config import DataSpec
from sparksweep.data import fingerprint, infer_task, prepare_dataset, read_table
from sparksweep.datasets import CHURN_COLUMNS, generate_churn
from sparksweep.errors import DataError

SPEC = DataSpec(path="x.parquet", target="label", drop=["user_id", "feature_date"])


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
        (lambda d: d, DataSpec(path="x.csv", target="label", drop=["nope"]), "not in the data: ['nope']"),
        (lambda d: d.assign(label=0), SPEC, "single class"),
        (lambda d: d.assign(label=d["label"].astype(float).where(d.index > 3)), SPEC, "4 missing values"),
        (lambda d: d.assign(city="Paris"), SPEC, "columns ['city'] are not numeric"),
    ],
)
def test_bad_data_is_named(churn: pd.DataFrame, mutate: object, spec: DataSpec, words: str) -> None:
    with pytest.raises(DataError) as err:
        prepare_dataset(mutate(churn), spec)  # type: ignore[operator]
    assert words in str(err.value)


def test_task_mismatches(churn: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="not numeric"):
        prepare_dataset(churn.assign(label=churn["label"].map({0: "a", 1: "b"})), SPEC, task="regression")
    multi = churn.assign(label=churn.index % 3)
    with pytest.raises(DataError, match="task is binary but"):
        prepare_dataset(multi, SPEC, task="binary")


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
