"""Defects of a table that the data preparation would otherwise trip over deep inside pandas or scikit-learn (or that
every trial would then fail on): each is a :class:`~sparksweep.errors.DataError` naming the column and the fix.

What is refused, and why (what is accepted is listed in the README's "Data" section):

* column names given twice (pandas then hands back a frame where a column is expected) or that are not text
  (parquet, MLflow signatures and the sweep file name columns by text);
* ``inf`` or ``-inf`` in the target or a feature: scikit-learn's imputers and estimators refuse infinity, so every
  trial would fail; missing values (NaN) are fine, they are imputed;
* a feature with no value in any row: it carries nothing, and scikit-learn's imputer drops it, so the fitted model
  would expect fewer columns than it was given;
* complex numbers, and lists, dicts or sets in a column: no model takes them as numbers or as categories;
* classes too rare for the stratified train / valid / test split (checked by :func:`split_or_explain`).

Example:
    >>> import pandas as pd
    >>> check_table(pd.DataFrame({"x": [1.0, float("inf")], "y": [0, 1]}), "y", [])
    Traceback (most recent call last):
    ...
    sparksweep.errors.DataError: column 'x' holds inf or -inf in 1 row(s) (e.g. row 1); ...
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from sparksweep.errors import DataError

__all__ = ["check_table", "split_or_explain"]

T = TypeVar("T")


def _check_names(df: pd.DataFrame) -> None:
    twice = sorted(str(name) for name, n in Counter(df.columns).items() if n > 1)
    if twice:
        raise DataError(
            f"the data has columns named more than once: {twice}; rename or remove the duplicates before the sweep"
        )
    not_text = [name for name in df.columns if not isinstance(name, str)]
    if not_text:
        raise DataError(
            f"column names must be text, and {not_text!r} are not; rename them (e.g. df.columns = "
            "df.columns.astype(str)) before the sweep"
        )


def _check_values(column: str, values: pd.Series, what: str) -> None:
    if pd.api.types.is_complex_dtype(values):
        raise DataError(f"{what} {column!r} holds complex numbers ({values.dtype}); use real numbers")
    if pd.api.types.is_float_dtype(values):
        infinite = np.isinf(values.to_numpy(dtype=np.float64, na_value=np.nan))
        if infinite.any():
            first = values.index[int(np.argmax(infinite))]
            raise DataError(
                f"{what} {column!r} holds inf or -inf in {int(infinite.sum())} row(s) (e.g. row {first}); "
                "replace them with a finite value, or with a missing value (NaN, imputed) for a feature"
            )
    elif values.dtype == object:
        nested = values.map(lambda v: isinstance(v, list | dict | set | tuple | np.ndarray))
        if nested.any():
            example = values[nested].iloc[0]
            raise DataError(
                f"{what} {column!r} holds lists or mappings (e.g. {example!r}), which no model takes; "
                "expand them into columns of numbers or text, or add the column to data.drop"
            )


def check_table(df: pd.DataFrame, target: str, skip: list[str]) -> None:
    """Refuse the table's defects listed in the module docstring; ``skip``: columns that are neither the target nor
    features (data.drop, the weight column), which are not checked beyond their names."""
    _check_names(df)
    if target in df.columns:
        _check_values(target, df[target], "target column")
    ignored = {target, *skip}
    for column in (c for c in df.columns if c not in ignored):
        values = df[column]
        if len(values) and values.isna().all():
            raise DataError(
                f"column {column!r} has no value in any of the {len(values)} rows; add it to data.drop (or fill it)"
            )
        _check_values(column, values, "column")


def split_or_explain(split: Callable[[], T], target: str, y: Any) -> T:
    """Run the stratified split; scikit-learn's refusal (a class with too few rows, or more classes than test rows)
    becomes a :class:`DataError` naming the target column, its rarest class and the fix."""
    try:
        return split()
    except ValueError as exc:
        counts = Counter(np.asarray(y).tolist())
        rare, n = min(counts.items(), key=lambda kv: kv[1])
        raise DataError(
            f"the rows cannot be split into train, valid and test sets with every class of target column {target!r} "
            f"in each ({exc}); its rarest class (code {rare}) has {n} row(s) of {len(y)}. Every class needs at least "
            "3 rows and the test share must hold one row per class: add rows, merge rare classes, or set "
            "data.test_size / data.valid_size higher"
        ) from exc
