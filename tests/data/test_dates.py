"""Date and timestamp columns: the inference rules that make them dates, and their numeric parts."""

from __future__ import annotations

import datetime
import warnings

import numpy as np
import pandas as pd
import pytest

from sparksweep.data import DataSpec, Kind, expand_dates, infer_kinds, learn_dates, prepare_dataset
from sparksweep.errors import DataError, DataWarning


def _table(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    day = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D")
    return pd.DataFrame(
        {
            "stamp": day + pd.to_timedelta(rng.integers(0, 24, n), unit="h"),
            "day": day,
            "aware": (day + pd.Timedelta(hours=9)).tz_localize("Asia/Tokyo"),
            "iso": pd.Series(day.strftime("%Y-%m-%d"), dtype=object),
            "iso_time": pd.Series(day.strftime("%Y-%m-%dT%H:%M:%SZ"), dtype="string"),
            "python": pd.Series([d.date() for d in day], dtype=object),
            "not_iso": pd.Series(day.strftime("%d/%m/%Y"), dtype=object),
            "y": rng.integers(0, 2, n),
        }
    )


def _kinds(df: pd.DataFrame, **spec: list[str]) -> dict[str, tuple[Kind, str]]:
    with warnings.catch_warnings():  # the day-first text is mostly unique: left out, with a warning
        warnings.simplefilter("ignore", DataWarning)
        return {k.column: (k.kind, k.reason) for k in infer_kinds(df, DataSpec(target="y", **spec))}


def test_each_kind_of_date_column_is_a_date_and_the_reason_names_its_parts() -> None:
    kinds = _kinds(_table())
    for column in ("stamp", "day", "aware", "iso", "iso_time", "python"):
        assert kinds[column][0] is Kind.DATE, (column, kinds[column])
    assert kinds["stamp"][1] == "timestamps: year, month, day of week, day of year, hour, days since the earliest"
    assert kinds["day"][1] == "dates: year, month, day of week, day of year, days since the earliest"
    assert kinds["iso"][1].startswith("text, every value an ISO 8601 date (e.g. '2024-")
    assert "hour" not in kinds["iso"][1]
    assert "hour" not in kinds["python"][1]
    assert kinds["python"][1].startswith("Python dates")
    # text that is not ISO 8601 (day first) stays text: reading 01/02 as a date would be a guess
    assert kinds["not_iso"][0] is not Kind.DATE


def test_text_with_one_value_that_is_no_date_is_not_a_date() -> None:
    for bad in ("2024-13-01", "soon"):
        df = _table().assign(iso=lambda d, bad=bad: d["iso"].where(d.index != 5, bad))
        assert _kinds(df)["iso"] == (
            Kind.LEFT_OUT,
            "text with mostly unique values (104 distinct in 120 rows): an id or free text, not a category",
        )


def test_declared_kinds_win_over_dates_and_durations_are_refused() -> None:
    kinds = _kinds(_table(), drop=["stamp"], categorical=["iso"])
    assert kinds["stamp"] == (Kind.LEFT_OUT, "listed in data.drop")
    assert kinds["iso"] == (Kind.CATEGORICAL, "listed in data.categorical")
    with pytest.raises(DataError, match=r"column 'day' is listed in data\.numeric but holds dates"):
        _kinds(_table(), numeric=["day"])
    with pytest.raises(DataError, match=r"column 'wait' holds durations .* data\.drop"):
        _kinds(_table().assign(wait=pd.to_timedelta(np.arange(120), unit="h")))


def test_the_parts_are_learned_from_the_training_rows() -> None:
    X = pd.DataFrame(
        {
            "when": pd.to_datetime(["2024-03-01", "2024-01-01", None, "2024-12-31 18:30"], format="ISO8601"),
            "x": [1.0, 2.0, 3.0, 4.0],
        }
    )
    dates = learn_dates(X, ["when"], train=np.array([0, 3]))
    assert dates["when"].origin == "2024-03-01T00:00:00", "the earliest of the training rows, not of the table"
    assert dates["when"].hour, "a time part anywhere in the column"
    out = expand_dates(X, dates)
    assert list(out.columns) == [
        "when__year",
        "when__month",
        "when__day_of_week",
        "when__day_of_year",
        "when__hour",
        "when__days_since",
        "x",
    ]
    assert out.loc[3, ["when__year", "when__month", "when__day_of_week", "when__hour"]].tolist() == [2024, 12, 1, 18]
    assert out.loc[1, "when__days_since"] == -60.0
    assert out.loc[3, "when__days_since"] == pytest.approx(305 + 18.5 / 24)
    assert out.loc[2].drop("x").isna().all(), "a missing date has missing parts"


def test_a_tz_aware_column_counts_in_its_own_zone_and_text_or_python_dates_give_the_same_parts() -> None:
    aware = pd.Series(pd.to_datetime(["2024-06-01 23:30", "2024-06-02 08:00"]).tz_localize("Asia/Tokyo"))
    dates = learn_dates(pd.DataFrame({"t": aware}), ["t"])
    assert dates["t"].tz == "Asia/Tokyo"
    as_utc = expand_dates(pd.DataFrame({"t": aware.dt.tz_convert("UTC")}), dates)
    pd.testing.assert_frame_equal(as_utc, expand_dates(pd.DataFrame({"t": aware}), dates))
    assert as_utc["t__hour"].tolist() == [23.0, 8.0]

    day = learn_dates(pd.DataFrame({"d": pd.to_datetime(["2024-02-01", "2024-02-03"])}), ["d"])
    expected = expand_dates(pd.DataFrame({"d": pd.to_datetime(["2024-02-03", None])}), day)
    for raw in (["2024-02-03", None], [datetime.date(2024, 2, 3), None]):
        pd.testing.assert_frame_equal(expand_dates(pd.DataFrame({"d": pd.Series(raw, dtype=object)}), day), expected)
    assert expected["d__days_since"].iloc[0] == 2.0


def test_prepare_keeps_the_raw_date_in_the_test_rows_and_trains_on_its_parts() -> None:
    df = _table().drop(columns=["not_iso"])
    ds = prepare_dataset(df, DataSpec(path="-", target="y", drop=["aware", "iso_time", "python", "day"]))
    assert ds.features == ["stamp", "iso"]
    assert pd.api.types.is_datetime64_any_dtype(ds.X_test["stamp"])
    assert ds.X_test["iso"].iloc[0] == df.loc[df["stamp"] == ds.X_test["stamp"].iloc[0], "iso"].iloc[0]
    columns = list(ds.training.X_train.columns)
    assert columns[:6] == [f"stamp__{p}" for p in ("year", "month", "day_of_week", "day_of_year", "hour", "days_since")]
    assert "iso__hour" not in columns
    assert "iso__days_since" in columns
    assert ds.training.X_train["stamp__days_since"].min() == 0.0, "days since the earliest training date"
    raw = ds.training.raw_rows(ds.training.X_valid.head(3), ds.features)
    assert list(raw.columns) == ["stamp", "iso"]
    assert pd.api.types.is_datetime64_any_dtype(raw["stamp"])


def test_a_date_part_that_would_shadow_a_column_is_refused() -> None:
    df = _table()[["day", "y"]].assign(day__year=1.0)
    with pytest.raises(DataError, match=r"date column 'day' becomes the feature 'day__year'"):
        prepare_dataset(df, DataSpec(path="-", target="y"))
