"""The kind of each column of a table (:func:`infer_kinds`): the target, the weights, a numeric or categorical
feature, or left out, and the reason, so the rule that chose it can be shown (``sparksweep run --dry-run``) and
recorded on the sweep's parent run.

The rule, in order (``data.drop``, ``data.categorical`` and ``data.numeric`` win over the inference):

* numbers are numeric features, and so are booleans (0 / 1);
* date and timestamp columns (``datetime64``, naive or tz-aware, and Python dates) are dates, and so is a text
  column whose every non-missing value is an ISO 8601 date or timestamp (``2024-03-01``, ``2024-03-01T10:30Z``: how
  a csv file brings dates): the logged model turns each into numeric features (year, month, day of week, day of
  year, hour where the column has a time part, days since the earliest training date; :mod:`sparksweep.data._dates`),
  so scoring takes the raw column;
* pandas ``category`` columns and text columns are categorical features, unless the column is text with mostly
  unique values (more than :data:`UNIQUE_SHARE` of its non-missing values distinct, and more than
  :data:`MIN_UNIQUE_TO_LEAVE_OUT` of them: ids, names, free text), which is left out with a
  :class:`~sparksweep.errors.DataWarning` naming it and why (list it in ``data.categorical`` to keep it);
  a categorical column with more than :data:`~sparksweep.data.MAX_CATEGORIES` values keeps the most frequent ones;
* anything else (durations, bytes, mixed values) is refused with a :class:`~sparksweep.errors.DataError`.

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"plan": ["a", "b"] * 50, "x": range(100), "on": [True, False] * 50, "y": [0, 1] * 50})
    >>> [(k.column, k.kind.value) for k in infer_kinds(df, DataSpec(target="y"))]
    [('plan', 'categorical'), ('x', 'numeric'), ('on', 'numeric'), ('y', 'target')]
"""

from __future__ import annotations

import enum
import warnings
from dataclasses import dataclass

import pandas as pd

from sparksweep.data._dates import is_date_values, wall_clock
from sparksweep.data._spec import DataSpec
from sparksweep.errors import DataError, DataWarning

__all__ = [
    "KINDS_ARTIFACT",
    "MIN_UNIQUE_TO_LEAVE_OUT",
    "UNIQUE_SHARE",
    "ColumnKind",
    "Kind",
    "infer_kinds",
    "kinds_table",
]

KINDS_ARTIFACT = "column_kinds.json"
"""The parent run's table artifact of the kind of each data column (read it with ``mlflow.load_table``)."""
UNIQUE_SHARE = 0.5
"""A text column whose distinct values are more than this share of its non-missing values is mostly unique."""
MIN_UNIQUE_TO_LEAVE_OUT = 50
"""... and it is left out only with more distinct values than this (a small table's few labels stay categories)."""


class Kind(enum.StrEnum):
    """What a column is to the sweep."""

    TARGET = "target"
    WEIGHT = "weight"
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    DATE = "date"
    LEFT_OUT = "left out"


@dataclass(frozen=True)
class ColumnKind:
    """One column's kind, its dtype in the table, and why it was chosen."""

    column: str
    kind: Kind
    dtype: str
    reason: str

    @property
    def is_feature(self) -> bool:
        return self.kind in (Kind.NUMERIC, Kind.CATEGORICAL, Kind.DATE)


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)


def _is_text(values: pd.Series) -> bool:
    if pd.api.types.is_string_dtype(values.dtype) and not pd.api.types.is_object_dtype(values.dtype):
        return True
    if pd.api.types.is_object_dtype(values.dtype):
        return pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")
    return False


def _declared(column: str, values: pd.Series, spec: DataSpec) -> ColumnKind | None:
    dtype = str(values.dtype)
    if column in spec.drop:
        return ColumnKind(column, Kind.LEFT_OUT, dtype, "listed in data.drop")
    if column in spec.categorical:
        if _is_numeric(values) and not isinstance(values.dtype, pd.CategoricalDtype):
            # The logged model's signature would ask for text while the tables users score hold numbers.
            raise DataError(
                f"column {column!r} is listed in data.categorical but holds numbers ({values.dtype}); "
                "categorical columns hold text. Cast it to text in the table (and in the tables you score), or "
                "remove it from data.categorical to use it as a number"
            )
        return ColumnKind(column, Kind.CATEGORICAL, dtype, "listed in data.categorical")
    if column in spec.numeric:
        if is_date_values(values):
            raise DataError(
                f"column {column!r} is listed in data.numeric but holds dates ({values.dtype}); a date column "
                "becomes numeric features by itself (year, month, day of week, ...): remove it from data.numeric"
            )
        if not _is_numeric(values) or isinstance(values.dtype, pd.CategoricalDtype):
            raise DataError(
                f"column {column!r} is listed in data.numeric but holds {values.dtype} values (e.g. "
                f"{values.dropna().iloc[:1].tolist()}); cast it to numbers in the table (and in the tables you "
                "score), or remove it from data.numeric"
            )
        return ColumnKind(column, Kind.NUMERIC, dtype, "listed in data.numeric")
    if column in (spec.time_column, spec.group_column):  # list it in data.numeric / categorical to make it a feature
        key = "time_column" if column == spec.time_column else "group_column"
        return ColumnKind(column, Kind.LEFT_OUT, dtype, f"data.{key}: splits the rows, not a feature")
    return None


def _inferred(column: str, values: pd.Series) -> ColumnKind:
    dtype = str(values.dtype)
    if isinstance(values.dtype, pd.CategoricalDtype):
        return ColumnKind(column, Kind.CATEGORICAL, dtype, f"pandas category dtype, {values.nunique()} distinct")
    if pd.api.types.is_bool_dtype(values):
        return ColumnKind(column, Kind.NUMERIC, dtype, "boolean, as 0 / 1")
    if _is_numeric(values):
        return ColumnKind(column, Kind.NUMERIC, dtype, "numbers")
    if is_date_values(values):
        return ColumnKind(column, Kind.DATE, dtype, _date_reason(values))
    if pd.api.types.is_timedelta64_dtype(values):
        raise DataError(
            f"column {column!r} holds durations ({values.dtype}), which models cannot use as they are; add it to "
            "data.drop, or convert it to a number (e.g. days: column.dt.total_seconds() / 86400) before the sweep"
        )
    if not _is_text(values):
        raise DataError(
            f"column {column!r} holds neither numbers nor text (dtype {values.dtype}, e.g. "
            f"{values.dropna().iloc[:1].tolist()}); convert it to numbers or text, or add it to data.drop"
        )
    known = int(values.notna().sum())
    distinct = int(values.nunique(dropna=True))
    if distinct > MIN_UNIQUE_TO_LEAVE_OUT and distinct > UNIQUE_SHARE * known:
        reason = (
            f"text with mostly unique values ({distinct:,} distinct in {known:,} rows): an id or free text, "
            "not a category"
        )
        warnings.warn(
            f"column {column!r} is left out of the features: {reason}. List it in data.categorical to use it "
            "anyway, or in data.drop to silence this",
            DataWarning,
            stacklevel=4,
        )
        return ColumnKind(column, Kind.LEFT_OUT, dtype, reason)
    return ColumnKind(column, Kind.CATEGORICAL, dtype, f"text, {distinct:,} distinct")


def _date_reason(values: pd.Series) -> str:
    clock = wall_clock(values, None).dropna()
    timed = bool((clock != clock.dt.normalize()).any())
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        what = "timestamps" if timed else "dates"
    elif pd.api.types.infer_dtype(values, skipna=True) == "string":
        what = f"text, every value an ISO 8601 date (e.g. {str(values.dropna().iloc[0])!r})"
    else:
        what = "Python dates"
    return f"{what}: year, month, day of week, day of year, {'hour, ' if timed else ''}days since the earliest"


def infer_kinds(df: pd.DataFrame, spec: DataSpec) -> list[ColumnKind]:
    """Every column's kind, in the table's order, by the rule in the module docstring (``df``'s names must have been
    checked: the target, and the columns ``spec`` lists, are in it)."""
    kinds = []
    for column in df.columns:
        values = df[column]
        if column == spec.target:
            kinds.append(ColumnKind(column, Kind.TARGET, str(values.dtype), "data.target"))
        elif column == spec.weight_column:
            kinds.append(ColumnKind(column, Kind.WEIGHT, str(values.dtype), "data.weight_column"))
        else:
            kinds.append(_declared(column, values, spec) or _inferred(column, values))
    return kinds


def kinds_table(kinds: list[ColumnKind]) -> dict[str, list[str]]:
    """The kinds as columns of a table (``column``, ``kind``, ``dtype``, ``reason``), as the parent run records
    them (``mlflow.log_table``)."""
    return {
        "column": [k.column for k in kinds],
        "kind": [k.kind.value for k in kinds],
        "dtype": [k.dtype for k in kinds],
        "reason": [k.reason for k in kinds],
    }
