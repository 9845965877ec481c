"""Categorical columns: their categories fixed from the whole table, and the two forms they travel in (text with
``None`` where missing in a raw table; pandas ``category`` columns in the encoded table the families train on)."""

from __future__ import annotations

import warnings

import pandas as pd

from sparksweep.errors import DataWarning

__all__ = ["MAX_CATEGORIES", "categories_as_text", "decode_categories", "encode_categories"]

MAX_CATEGORIES = 250
"""Categories kept per categorical column (the most frequent); rarer values are treated as missing. LightGBM,
XGBoost and HistGradientBoosting bin categories, and HistGradientBoosting accepts at most 255 of them."""


def _as_text(values: pd.Series) -> pd.Series:
    """Text values with ``None`` where missing: how a categorical column looks in a raw table (and to MLflow)."""
    text = values.astype("string")
    return text.astype(object).where(text.notna(), None)


def encode_categories(X: pd.DataFrame, categories: dict[str, list[str]]) -> pd.DataFrame:
    """Categorical columns as pandas ``category`` columns with exactly ``categories`` (values outside are missing).

    The logged pyfunc model applies the same rule (models/pyfunc_model.py), so scoring takes the raw table.
    """
    if not categories:
        return X
    out = X.copy()
    for column, cats in categories.items():
        text = X[column].astype("string")
        out[column] = pd.Categorical(text.where(text.isin(cats)), categories=cats)
    return out


def decode_categories(X: pd.DataFrame, categories: dict[str, list[str]]) -> pd.DataFrame:
    """The inverse of :func:`encode_categories`: categorical columns back to text with ``None`` where missing."""
    if not categories:
        return X
    out = X.copy()
    for column in categories:
        out[column] = _as_text(X[column])
    return out


def categories_as_text(X: pd.DataFrame) -> pd.DataFrame:
    """Every pandas ``category`` column as text (``None`` where missing), the form a logged model's signature takes.

    Example:
        >>> categories_as_text(pd.DataFrame({"c": pd.Categorical(["a", None])}))["c"].tolist()
        ['a', None]
    """
    columns = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    return decode_categories(X, {column: [] for column in columns}) if columns else X


def _categories_of(text: pd.Series) -> list[str]:
    counts = text.value_counts(dropna=True)
    if len(counts) > MAX_CATEGORIES:
        warnings.warn(
            f"categorical column {text.name!r} has {len(counts):,} distinct values; the {MAX_CATEGORIES} most "
            "frequent are kept as categories and the rest are treated as missing. If it is an identifier, add it "
            "to data.drop",
            DataWarning,
            stacklevel=3,
        )
        counts = counts.iloc[:MAX_CATEGORIES]
    return sorted(str(v) for v in counts.index)
