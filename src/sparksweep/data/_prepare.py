"""Preparing a table for a sweep (:func:`prepare_dataset`): the checks of its columns, target and weights, the
target's encoding, warnings about suspected leaks, the train / valid / test split, and the fingerprints."""

from __future__ import annotations

import functools
import hashlib
import warnings
from typing import Any

import numpy as np
import pandas as pd

from sparksweep.data._categories import _as_text, _categories_of, encode_categories
from sparksweep.data._checks import check_table, split_or_explain
from sparksweep.data._dates import expand_dates, learn_dates
from sparksweep.data._kinds import ColumnKind, Kind, infer_kinds
from sparksweep.data._spec import DataSpec
from sparksweep.data._splits import holdout_split, split_columns
from sparksweep.data._types import Dataset, TrainingData
from sparksweep.errors import DataError, DataWarning

__all__ = ["fingerprint", "infer_task", "prepare_dataset"]

_MAX_CLASSES = 50
_LEAK_SAMPLE = 50_000


# ---- fingerprints and tasks -----------------------------------------------------------------------------------------


def fingerprint(df: pd.DataFrame) -> str:
    """A content hash of a table: its column names, dtypes and values (row order included)."""
    digest = hashlib.sha256()
    digest.update(repr([(str(c), str(t)) for c, t in df.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def infer_task(y: pd.Series) -> str:
    """``binary`` for two values, ``multiclass`` for a few discrete values, else ``regression``."""
    n_unique = y.nunique(dropna=True)
    if n_unique == 2:
        return "binary"
    discrete = not pd.api.types.is_float_dtype(y) or bool(np.all(np.mod(y.dropna(), 1) == 0))
    if discrete and 2 < n_unique <= _MAX_CLASSES:
        return "multiclass"
    if pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y):
        return "regression"
    return "multiclass"


# ---- checks ---------------------------------------------------------------------------------------------------------


def _not_in(df: pd.DataFrame, names: list[str], key: str) -> None:
    missing = [c for c in names if c not in df.columns]
    if missing:
        raise DataError(
            f"data.{key} names columns that are not in the data: {missing}; its columns are {list(df.columns)}. "
            f"Remove them from data.{key} or fix their spelling"
        )


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)


def _column_kinds(df: pd.DataFrame, spec: DataSpec) -> list[ColumnKind]:
    """Every column's kind (:func:`~sparksweep.data._kinds.infer_kinds`), after the spec's names are checked."""
    if len(df) == 0:
        raise DataError(f"the data from {spec.source} has no rows; point the sweep at a non-empty table")
    if spec.target not in df.columns:
        raise DataError(
            f"target column {spec.target!r} is not in the data; its columns are {list(df.columns)}. "
            "Fix data.target in the sweep file"
        )
    _not_in(df, spec.drop, "drop")
    _not_in(df, spec.categorical, "categorical")
    _not_in(df, spec.numeric, "numeric")
    if spec.weight_column is not None:
        _not_in(df, [spec.weight_column], "weight_column")
    kinds = infer_kinds(df, spec)
    if not any(k.is_feature for k in kinds):
        raise DataError(
            "no feature columns are left after removing the target, data.drop, data.weight_column and the "
            "columns left out: " + "; ".join(f"{k.column}: {k.reason}" for k in kinds if k.kind is Kind.LEFT_OUT)
        )
    return kinds


def _check_target(y: pd.Series) -> None:
    if y.isna().any():
        n = int(y.isna().sum())
        raise DataError(
            f"target column {y.name!r} has {n} missing values; drop those rows or fill them before the sweep"
        )
    if y.nunique() < 2:
        value = y.iloc[0]
        value = value.item() if isinstance(value, np.generic) else value
        raise DataError(
            f"target column {y.name!r} has a single class ({value!r}) in all {len(y)} rows: there is nothing "
            "to learn; check the target column and any filter applied to the table"
        )


def _encode_target(y: pd.Series, task: str) -> tuple[np.ndarray, list[Any] | None]:
    if task == "regression":
        if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
            raise DataError(
                f"target {y.name!r} is not numeric ({y.dtype}), so it cannot be a regression target; "
                "set task: binary or multiclass"
            )
        return y.to_numpy(dtype=np.float64), None
    if pd.api.types.is_float_dtype(y) and not bool(np.all(np.mod(y, 1) == 0)):
        example = y[np.mod(y, 1) != 0].iloc[0]
        raise DataError(
            f"target {y.name!r} holds continuous values (e.g. {example}) but the task is {task}; "
            "set task: regression, or bin the target into classes before the sweep"
        )
    classes = sorted(y.unique().tolist())
    if task == "binary" and len(classes) != 2:
        raise DataError(
            f"task is binary but target {y.name!r} has {len(classes)} classes; set task: multiclass or regression"
        )
    if len(classes) > _MAX_CLASSES:
        raise DataError(
            f"target {y.name!r} has {len(classes)} distinct values, more than the {_MAX_CLASSES} classes a {task} "
            "task allows; if it is a quantity, set task: regression"
        )
    codes = pd.Categorical(y, categories=classes).codes.astype(np.int64)
    return codes, classes


def _normalize_numeric(values: pd.Series) -> pd.Series:
    """Nullable extension dtypes (Int64, Float64, boolean) as numpy float64, which every library takes."""
    if _is_nullable(values):
        return values.astype("float64")
    return values


def _is_nullable(values: pd.Series) -> bool:
    return isinstance(values.dtype, pd.api.extensions.ExtensionDtype) and not isinstance(
        values.dtype, pd.CategoricalDtype
    )


def _raw_features(df: pd.DataFrame, kinds: list[ColumnKind]) -> pd.DataFrame:
    """The feature columns as a user scores them: text (None where missing) in categorical columns, numbers as
    numpy dtypes, date columns as given."""
    columns = {}
    for k in kinds:
        values = df[k.column]
        if k.kind is Kind.CATEGORICAL:
            columns[k.column] = _as_text(values)
        elif k.kind is Kind.NUMERIC:
            columns[k.column] = _normalize_numeric(values)
        elif k.kind is Kind.DATE:
            columns[k.column] = values
    return pd.DataFrame(columns, index=df.index).reset_index(drop=True)


def _weights(df: pd.DataFrame, spec: DataSpec) -> np.ndarray | None:
    if spec.weight_column is None:
        return None
    w = df[spec.weight_column]
    name = spec.weight_column
    if not _is_numeric(w) or pd.api.types.is_bool_dtype(w):
        raise DataError(f"weight column {name!r} is not numeric ({w.dtype}); give a column of non-negative numbers")
    values = w.to_numpy(dtype=np.float64)
    if np.isnan(values).any():
        raise DataError(
            f"weight column {name!r} has {int(np.isnan(values).sum())} missing values; fill them (e.g. with 1.0)"
        )
    if (values < 0).any() or values.sum() <= 0:
        raise DataError(f"weight column {name!r} has negative values or sums to zero; weights must be >= 0")
    return values


def _class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """'balanced' weights, n / (n_classes * count of the row's class), as scikit-learn computes them."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    per_class = len(y) / (n_classes * np.maximum(counts, 1.0))
    return np.asarray(per_class[y], dtype=np.float64)


# ---- leak warnings --------------------------------------------------------------------------------------------------


def _separation(x: np.ndarray, y: np.ndarray, task: str) -> float:
    """How well one column ranks the target on its own: 0 (no signal) to 1 (perfect)."""
    from scipy.stats import rankdata, spearmanr

    if task == "regression":
        rho = spearmanr(x, y).statistic
        return 0.0 if not np.isfinite(rho) else float(abs(rho))
    ranks = rankdata(x)
    best = 0.0
    for cls in np.unique(y):
        positive = y == cls
        n_pos, n_neg = int(positive.sum()), int((~positive).sum())
        if n_pos == 0 or n_neg == 0:
            continue
        auc = (ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        best = max(best, abs(2 * auc - 1))
    return float(best)


def _warn_on_leaks(X: pd.DataFrame, y: np.ndarray, task: str, categorical: list[str]) -> None:
    """Warn about identifier-like columns that predict the target, and columns that predict it almost perfectly."""
    n = len(X)
    rows = np.random.default_rng(0).choice(n, size=min(n, _LEAK_SAMPLE), replace=False) if n > _LEAK_SAMPLE else None
    sample = X if rows is None else X.iloc[rows]
    target = y if rows is None else y[rows]
    for column in sample.columns:
        values = sample[column]
        distinct = values.nunique(dropna=True)
        id_like = distinct >= 0.95 * len(values) and (column in categorical or pd.api.types.is_integer_dtype(values))
        if column in categorical:
            if not id_like:
                continue
            codes = pd.factorize(values, sort=True)[0].astype(np.float64)
        else:
            codes = values.to_numpy(dtype=np.float64, na_value=np.nan)
        known = ~np.isnan(codes)
        if known.sum() < 20 or np.ptp(codes[known]) == 0:  # too few values, or one (a date's year, say)
            continue
        score = _separation(codes[known], target[known], task)
        measure = "|Spearman rho|" if task == "regression" else "|2*AUC-1|"
        if id_like and score > 0.2:
            warnings.warn(
                f"column {column!r} looks like an identifier ({distinct:,} distinct values in {len(values):,} rows) "
                f"yet it predicts the target on its own ({measure} = {score:.2f}): ids that follow the label leak how "
                "the table was built. Add it to data.drop",
                DataWarning,
                stacklevel=3,
            )
        elif score > 0.99:
            warnings.warn(
                f"column {column!r} predicts the target almost perfectly on its own ({measure} = {score:.3f}); if it "
                "is derived from the label (or recorded after it), add it to data.drop",
                DataWarning,
                stacklevel=3,
            )


# ---- preparation ----------------------------------------------------------------------------------------------------


def _preparation_key(content: str, spec: DataSpec, task: str, categories: dict[str, list[str]]) -> str:
    settings = (
        content,
        task,
        spec.test_size,
        spec.valid_size,
        spec.split_seed,
        spec.time_column,
        spec.group_column,
        spec.weight_column,
        spec.class_weight,
        sorted(categories),
    )
    return hashlib.sha256(repr(settings).encode()).hexdigest()[:16]


def prepare_dataset(df: pd.DataFrame, spec: DataSpec, task: str | None = None) -> Dataset:
    """Validate ``df`` against ``spec``, infer the task when ``task`` is None, and split train / valid / test
    (shuffled, by ``data.time_column`` or by ``data.group_column``: :mod:`sparksweep.data._splits`).

    Every check runs here, before any trial: a problem is a :class:`DataError` naming the column and the fix, and
    suspected leaks are :class:`DataWarning`. The shuffled split is stratified for classification; every split
    depends only on the table and ``spec``'s split settings (``split_seed``), so every sweep over the same data
    holds out the same test rows (the champion gate compares models on them).
    """
    check_table(df, spec.target, [*spec.drop, *([spec.weight_column] if spec.weight_column else [])])
    kinds = _column_kinds(df, spec)
    features = [k.column for k in kinds if k.is_feature]
    categorical = [k.column for k in kinds if k.kind is Kind.CATEGORICAL]
    y_raw = df[spec.target]
    _check_target(y_raw)
    task = task or infer_task(y_raw)
    y, classes = _encode_target(y_raw, task)
    if spec.class_weight is not None and classes is None:
        raise DataError("data.class_weight applies to classification, but the task is regression; remove it")
    weights = _weights(df, spec)
    times, groups = split_columns(df, spec)

    raw = _raw_features(df, kinds)
    categories = {c: _categories_of(raw[c].rename(c)) for c in categorical}

    split = functools.partial(holdout_split, y, spec, stratify=classes is not None, times=times, groups=groups)
    by_class = classes is not None and times is None and groups is None
    train, valid, test = split_or_explain(split, spec.target, y) if by_class else split()
    dates = learn_dates(raw, [k.column for k in kinds if k.kind is Kind.DATE], train)
    numbers = expand_dates(raw, dates)
    _warn_on_leaks(numbers, y, task, categorical)
    encoded = encode_categories(numbers, categories)
    w_train = None if weights is None else weights[train]
    if spec.class_weight == "balanced" and classes is not None:
        balanced = _class_weights(y[train], len(classes))
        w_train = balanced if w_train is None else w_train * balanced

    order = [c for c in (spec.weight_column, spec.time_column, spec.group_column) if c and c not in features]
    kept = [*features, spec.target, *order]
    content = fingerprint(df[kept])
    training = TrainingData(
        X_train=encoded.iloc[train].reset_index(drop=True),
        y_train=y[train],
        X_valid=encoded.iloc[valid].reset_index(drop=True),
        y_valid=y[valid],
        task=task,
        fingerprint=_preparation_key(content, spec, task, categories),
        categories=categories,
        w_train=w_train,
        dates=dates,
        nullable=tuple(k.column for k in kinds if k.kind is Kind.NUMERIC and _is_nullable(df[k.column])),
        time_ordered=times is not None,
        groups=None if groups is None else np.concatenate([groups[train], groups[valid]]),
    )
    return Dataset(
        training=training,
        X_test=raw.iloc[test].reset_index(drop=True),
        y_test=y[test],
        target=spec.target,
        task=task,
        classes=classes,
        features=features,
        fingerprint=content,
        n_rows=len(df),
        categories=categories,
        kinds=kinds,
    )
