"""Date and timestamp columns as numeric features: year, month, day of week, day of year, hour (where the column has
a time part) and days since the earliest date of the training rows.

The raw table keeps the date column as the user gives it (``datetime64``, tz-aware, Python dates or ISO 8601 text);
the encoded table the families train on holds its parts instead, named ``<column>__<part>``. What the expansion
learns (the earliest date, whether there is a time part, the time zone) is a :class:`DateFeatures`, saved with the
logged model (``meta.json``); the model's own copy of the expansion (models/pyfunc_model.py, which imports nothing
from sparksweep) turns the raw column into the same parts when it scores.

Values are compared as wall-clock times: a tz-aware column counts in its own zone (a tz-aware value scored later
is converted to that zone), a naive one as written; text with an offset counts in UTC. Missing or unparseable
values give missing parts.

Example:
    >>> import pandas as pd
    >>> X = pd.DataFrame({"signup": pd.to_datetime(["2024-01-01", "2024-03-02 10:30"]), "x": [1.0, 2.0]})
    >>> dates = learn_dates(X, ["signup"])
    >>> list(expand_dates(X, dates).columns)  # doctest: +NORMALIZE_WHITESPACE
    ['signup__year', 'signup__month', 'signup__day_of_week', 'signup__day_of_year', 'signup__hour',
     'signup__days_since', 'x']
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sparksweep.errors import DataError

__all__ = ["DATE_PARTS", "DateFeatures", "expand_dates", "is_date_values", "learn_dates", "restore_dates", "wall_clock"]

DATE_PARTS = ("year", "month", "day_of_week", "day_of_year", "hour", "days_since")
"""The numeric features of a date column, in order (``hour`` only where the column has a time part)."""

_ISO = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?")
_EPOCH = "1970-01-01T00:00:00"


@dataclass(frozen=True)
class DateFeatures:
    """What the expansion of one date column learned from the training rows."""

    origin: str
    """The earliest wall-clock time of the training rows (ISO 8601): ``days_since`` counts from it."""
    hour: bool
    """Whether the column has a time part (any value off midnight), so ``hour`` is a feature."""
    tz: str | None
    """The time zone of a tz-aware column (tz-aware values scored later are converted to it); None when naive."""

    def parts(self) -> list[str]:
        return [p for p in DATE_PARTS if p != "hour" or self.hour]

    def names(self, column: str) -> list[str]:
        """The encoded columns of ``column``, in order."""
        return [f"{column}__{p}" for p in self.parts()]

    def as_meta(self) -> dict[str, object]:
        """The form ``meta.json`` stores (read by the logged model)."""
        return {"origin": self.origin, "hour": self.hour, "tz": self.tz}


def wall_clock(values: pd.Series, tz: str | None) -> pd.Series:
    """``values`` (datetime64, tz-aware, Python dates or ISO 8601 text) as naive wall-clock times (``tz``: the
    zone tz-aware values are converted to first; None keeps their own)."""
    if not pd.api.types.is_datetime64_any_dtype(values.dtype):
        values = pd.to_datetime(values.astype("string"), format="ISO8601", errors="coerce", utc=True)
    if getattr(values.dt, "tz", None) is not None:
        values = (values.dt.tz_convert(tz) if tz else values).dt.tz_localize(None)
    return values


def is_date_values(values: pd.Series) -> bool:
    """Whether a column holds dates: datetime64 (naive or tz-aware), Python dates, or text whose every non-missing
    value is an ISO 8601 date or timestamp (``2024-03-01``, ``2024-03-01T10:30:00Z``)."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return True
    known = values.dropna()
    if len(known) == 0 or not (pd.api.types.is_object_dtype(values.dtype) or pd.api.types.is_string_dtype(values)):
        return False
    inferred = pd.api.types.infer_dtype(known, skipna=True)
    if inferred in ("date", "datetime"):
        return True
    if inferred != "string":
        return False
    distinct = pd.Series(known.unique(), dtype="string")
    if not bool(distinct.str.fullmatch(_ISO).all()):
        return False
    return bool(pd.to_datetime(distinct, format="ISO8601", errors="coerce", utc=True).notna().all())


def learn_dates(
    X: pd.DataFrame, columns: list[str], train: Sequence[int] | np.ndarray | None = None
) -> dict[str, DateFeatures]:
    """The :class:`DateFeatures` of each of ``columns``: the earliest date of the training rows (positions
    ``train``; all rows by default), and whether the column has a time part anywhere in ``X``."""
    out: dict[str, DateFeatures] = {}
    for column in columns:
        values = X[column]
        tz = str(values.dt.tz) if pd.api.types.is_datetime64_any_dtype(values.dtype) and values.dt.tz else None
        clock = wall_clock(values, tz).dropna()
        earliest = (clock if train is None else wall_clock(values.iloc[np.asarray(train)], tz)).min()
        origin = _EPOCH if pd.isna(earliest) else pd.Timestamp(earliest).isoformat()
        out[column] = DateFeatures(origin=origin, hour=bool((clock != clock.dt.normalize()).any()), tz=tz)
    return out


def _parts(values: pd.Series, features: DateFeatures) -> dict[str, pd.Series]:
    clock = wall_clock(values, features.tz)
    parts = {
        "year": clock.dt.year,
        "month": clock.dt.month,
        "day_of_week": clock.dt.day_of_week,
        "day_of_year": clock.dt.day_of_year,
        "hour": clock.dt.hour,
        "days_since": (clock - pd.Timestamp(features.origin)) / pd.Timedelta(days=1),
    }
    return {p: parts[p].astype("float64") for p in features.parts()}


def expand_dates(X: pd.DataFrame, dates: dict[str, DateFeatures]) -> pd.DataFrame:
    """``X`` with each date column replaced, in place, by its numeric parts (``<column>__<part>``, float64)."""
    if not dates:
        return X
    columns: dict[str, pd.Series] = {}
    for name in X.columns:
        if name not in dates:
            columns[name] = X[name]
            continue
        for part, values in _parts(X[name], dates[name]).items():
            encoded = f"{name}__{part}"
            if encoded in X.columns:
                raise DataError(
                    f"date column {name!r} becomes the feature {encoded!r}, but the table already has a column of "
                    f"that name; rename one of them, or add {name!r} to data.drop"
                )
            columns[encoded] = values
    return pd.DataFrame(columns, index=X.index)


def restore_dates(encoded: pd.DataFrame, dates: dict[str, DateFeatures]) -> pd.DataFrame:
    """The inverse of :func:`expand_dates` up to the wall clock: each date column rebuilt (naive) from its
    ``days_since`` part, where its parts stood (for a model's signature and input example)."""
    if not dates:
        return encoded
    owners = {name: column for column, f in dates.items() for name in f.names(column)}
    out: dict[str, pd.Series] = {}
    for name in encoded.columns:
        column = owners.get(name)
        if column is None:
            out[name] = encoded[name]
        elif name == f"{column}__days_since":
            days = pd.to_timedelta(encoded[name], unit="D")
            out[column] = pd.Timestamp(dates[column].origin) + days
    return pd.DataFrame(out, index=encoded.index)
