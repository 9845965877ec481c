"""Splits by time (``data.time_column``) and by group (``data.group_column``): the holdout and the folds of
``search.cv`` never score a row with a model that saw a later row, or a group it trained on; a table where a shuffled
split leaks the future scores lower split forward (and as a hand-made forward split does); a grouped table scores
lower split by group than by row; bad settings are refused before any trial."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from sparksweep.data import Dataset, DataSpec, check_folds, holdout_split, prepare_dataset
from sparksweep.errors import DataError
from sparksweep.metrics import get_metric
from sparksweep.models import get_family
from sparksweep.worker import TrialTask, cv_folds
from sparksweep.worker._cv import cross_validate
from tests.helpers import InProcessData

FOREST = {"n_estimators": 30, "min_samples_leaf": 2}


def _drifting(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A target that drifts with time (a random walk) plus a weak real signal ``x``, and ``recorded_at``, a number
    that tracks when the row was recorded: a shuffled split lets the model read the drift at each moment off the
    neighbouring rows, later ones included; the rows are stored shuffled, with a few times shared."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, n * 2, size=n))
    x = rng.normal(size=n)
    walk = np.cumsum(rng.normal(scale=0.5, size=n))
    df = pd.DataFrame(
        {
            "at": pd.Timestamp("2024-01-01") + pd.to_timedelta(t, unit="h"),
            "x": x,
            "recorded_at": t + rng.normal(scale=0.5, size=n),
            "y": walk + 0.5 * x + rng.normal(scale=0.2, size=n),
        }
    )
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def _customers(n_customers: int = 60, rows: int = 8, seed: int = 0) -> pd.DataFrame:
    """Many rows per customer, a per-customer effect on the target, and a customer attribute (``profile``) that
    tells customers apart without telling their effect: a row split learns each customer's effect from its other
    rows, which a new customer does not have."""
    rng = np.random.default_rng(seed)
    customer = np.repeat(np.arange(n_customers), rows)
    effect = rng.normal(scale=2.0, size=n_customers)[customer]
    x = rng.normal(size=len(customer))
    return pd.DataFrame(
        {
            "customer": [f"c{c:03d}" for c in customer],
            "profile": rng.uniform(size=n_customers)[customer],
            "x": x,
            "y": effect + x + rng.normal(scale=0.3, size=len(customer)),
        }
    )


def _valid_r2(ds: Dataset) -> float:
    """The holdout's validation score, as a trial computes it: fit on the training rows, score the valid rows."""
    family = get_family("sklearn.random_forest")
    model = family.fit(family.build(FOREST, task="regression", n_jobs=1, seed=0), ds.training)
    return get_metric("r2")(ds.training.y_valid, family.predict(model, ds.training.X_valid, "regression"))


def _cv_r2(ds: Dataset, k: int = 4) -> float:
    task = TrialTask(
        number=0,
        run_id="unused",
        tracking_uri="unused",
        family=get_family("sklearn.random_forest"),
        params=FOREST,
        task="regression",
        metric="r2",
        features=ds.features,
        classes=None,
        n_jobs=1,
        seed=0,
        data=InProcessData(ds.fingerprint, ds.training),
        cv=k,
        cv_seed=0,
    )
    scores = cross_validate(task, ds.training, get_metric("r2")).scores
    return float(np.mean(scores))


# ---- the splits -----------------------------------------------------------------------------------------------------


def test_by_time_the_test_rows_are_the_latest_and_the_valid_rows_the_latest_before_them() -> None:
    df = _drifting()
    ds = prepare_dataset(df, DataSpec(target="y", drop=["at"], time_column="recorded_at", numeric=["recorded_at"]))
    assert ds.training.time_ordered
    train, valid = ds.training.X_train["recorded_at"], ds.training.X_valid["recorded_at"]
    test = ds.X_test["recorded_at"]
    assert train.max() < valid.min()
    assert valid.max() < test.min()
    assert train.is_monotonic_increasing
    assert valid.is_monotonic_increasing
    assert (len(train), len(valid), len(test)) == (256, 64, 80)


def test_a_time_shared_by_several_rows_is_never_on_both_sides_of_a_cut() -> None:
    times = np.repeat(np.arange(10), 10)[::-1]  # ten rows a day, stored latest first
    spec = DataSpec(target="y", test_size=0.15, valid_size=0.15)
    train, valid, test = holdout_split(np.zeros(100), spec, stratify=False, times=times)
    assert times[train].max() < times[valid].min()
    assert times[valid].max() < times[test].min()
    assert (len(train), len(valid), len(test)) == (80, 10, 10)  # each cut moved up to the next new day


def test_the_time_and_group_columns_are_not_features_unless_listed() -> None:
    ds = prepare_dataset(_drifting(), DataSpec(target="y", drop=["at"], time_column="recorded_at"))
    kinds = {k.column: k for k in ds.kinds}
    assert "recorded_at" not in ds.features
    assert kinds["recorded_at"].kind.value == "left out"
    assert "data.time_column" in kinds["recorded_at"].reason
    listed = prepare_dataset(
        _drifting(), DataSpec(target="y", drop=["at"], time_column="recorded_at", numeric=["recorded_at"])
    )
    assert "recorded_at" in listed.features
    grouped = prepare_dataset(_customers(), DataSpec(target="y", group_column="customer"))
    assert "customer" not in grouped.features
    assert "data.group_column" in {k.column: k for k in grouped.kinds}["customer"].reason


@pytest.mark.parametrize("stops_early", [True, False])
def test_forward_folds_never_score_a_row_with_a_model_fitted_on_a_later_row(stops_early: bool) -> None:
    y = np.arange(101) % 2
    folds = cv_folds(y, k=4, seed=3, stratify=True, stops_early=stops_early, time_ordered=True)
    assert len(folds) == 4
    for fit, stop, score in folds:
        assert fit.max() < score.min()
        if stops_early:
            assert fit.max() < stop.min()  # it stops on the latest of its training rows
            assert stop.max() < score.min()
        else:
            assert np.array_equal(stop, score)  # ignored by the families that do not stop early


def test_group_splits_put_no_group_on_both_sides_of_the_holdout_or_any_fold() -> None:
    df = _customers()
    ds = prepare_dataset(df, DataSpec(target="y", group_column="customer", numeric=["profile"]))
    t = ds.training
    profile = df.groupby("customer")["profile"].first()  # one value per customer: it names the customer
    of = {v: c for c, v in profile.items()}
    sides = [set(map(of.get, X["profile"])) for X in (t.X_train, t.X_valid, ds.X_test)]
    assert all(sides)
    assert not sides[0] & sides[1]
    assert not sides[0] & sides[2]
    assert not sides[1] & sides[2]
    y = np.concatenate([t.y_train, t.y_valid])
    assert t.groups is not None
    assert len(t.groups) == len(y)
    for stratify in (True, False):
        labels = (y > np.median(y)).astype(int) if stratify else y  # StratifiedGroupKFold, or GroupKFold
        for fit, stop, score in cv_folds(labels, k=4, seed=1, stratify=stratify, stops_early=True, groups=t.groups):
            assert not set(t.groups[fit]) & set(t.groups[score])
            assert not set(t.groups[stop]) & set(t.groups[score])
            assert not set(t.groups[fit]) & set(t.groups[stop])


# ---- what the splits measure ----------------------------------------------------------------------------------------


def test_a_forward_split_scores_a_drifting_table_lower_than_a_shuffled_split_and_as_a_hand_made_one() -> None:
    df = _drifting()
    shuffled = prepare_dataset(df, DataSpec(target="y", drop=["at"]))
    forward = prepare_dataset(df, DataSpec(target="y", time_column="at"))
    assert forward.features == shuffled.features == ["x", "recorded_at"]
    leaky, honest = _valid_r2(shuffled), _valid_r2(forward)
    assert honest < leaky - 0.3
    # By hand: sort by time, the last fifth is the test, the last fifth of the rest the validation.
    from sklearn.ensemble import RandomForestRegressor

    ordered = df.sort_values("at", kind="stable").reset_index(drop=True)
    n_test = int(np.ceil(0.2 * len(ordered)))
    rest = ordered.iloc[: len(ordered) - n_test]
    n_valid = int(np.ceil(0.2 * len(rest)))
    fit_rows, valid_rows = rest.iloc[: len(rest) - n_valid], rest.iloc[len(rest) - n_valid :]
    assert ordered["at"].iloc[len(ordered) - n_test - 1] < ordered["at"].iloc[len(ordered) - n_test]  # no tie
    assert rest["at"].iloc[len(rest) - n_valid - 1] < rest["at"].iloc[len(rest) - n_valid]
    model = RandomForestRegressor(**FOREST, n_jobs=1, random_state=0).fit(fit_rows[["x", "recorded_at"]], fit_rows["y"])
    by_hand = get_metric("r2")(valid_rows["y"].to_numpy(), model.predict(valid_rows[["x", "recorded_at"]]))
    assert honest == pytest.approx(by_hand, abs=1e-9)
    # search.cv: the forward-chaining folds score lower than the shuffled folds too.
    assert _cv_r2(forward) < _cv_r2(shuffled) - 0.3


def test_a_group_split_scores_a_table_of_customers_lower_than_a_row_split() -> None:
    df = _customers()
    by_row = prepare_dataset(df, DataSpec(target="y", drop=["customer"]))
    by_group = prepare_dataset(df, DataSpec(target="y", group_column="customer"))
    assert by_row.features == by_group.features == ["profile", "x"]
    assert _valid_r2(by_group) < _valid_r2(by_row) - 0.3
    assert _cv_r2(by_group) < _cv_r2(by_row) - 0.3


# ---- refused settings -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"time_column": "when"}, "data.time_column 'when' is not in the data"),
        ({"group_column": "who"}, "data.group_column 'who' is not in the data"),
        ({"time_column": "x", "group_column": "customer"}, "cannot be used together"),
        ({"time_column": "y"}, "time_column 'y' is also the target"),
        ({"group_column": "y"}, "group_column 'y' is also the target"),
    ],
)
def test_bad_split_columns_are_refused_with_the_value_and_the_fix(data: dict[str, Any], match: str) -> None:
    with pytest.raises((DataError, ValidationError), match=match):
        prepare_dataset(_customers(), DataSpec(target="y", **data))


def test_too_few_groups_or_times_are_refused() -> None:
    few = _customers(n_customers=2)
    with pytest.raises(DataError, match=r"'customer' has 2 distinct group.*at least 3"):
        prepare_dataset(few, DataSpec(target="y", group_column="customer"))
    one_day = _customers().assign(day=pd.Timestamp("2024-01-01"))
    with pytest.raises(DataError, match="'day' has 1 distinct times"):
        prepare_dataset(one_day, DataSpec(target="y", drop=["customer"], time_column="day"))
    with pytest.raises(DataError, match="do not order rows in time"):
        prepare_dataset(_customers(), DataSpec(target="y", time_column="customer"))


def test_fewer_groups_in_the_training_rows_than_cv_folds_are_refused() -> None:
    ds = prepare_dataset(_customers(n_customers=6), DataSpec(target="y", group_column="customer"))
    n_groups = len(np.unique(ds.training.groups))
    check_folds(ds.training, n_groups)
    with pytest.raises(DataError, match=f"search.cv: {n_groups + 1} needs at least {n_groups + 1} groups"):
        check_folds(ds.training, n_groups + 1)
