"""Loading, validating and splitting the data a sweep trains on, and its fingerprint.

Example:
    >>> import pandas as pd
    >>> from sparksweep.config import DataSpec
    >>> df = pd.DataFrame({"x": range(100), "y": [0, 1] * 50})
    >>> ds = prepare_dataset(df, DataSpec(path="unused.parquet", target="y"))
    >>> ds.task, len(ds.X_test)
    ('binary', 20)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sparksweep.config import DataSpec
from sparksweep.errors import DataError

__all__ = ["Dataset", "TrainingData", "fingerprint", "infer_task", "prepare_dataset", "read_table"]

_MAX_CLASSES = 50


@dataclass(frozen=True)
class TrainingData:
    """What a trial needs: the training and validation splits (features and encoded target)."""

    X_train: pd.DataFrame
    y_train: np.ndarray
    X_valid: pd.DataFrame
    y_valid: np.ndarray
    task: str
    fingerprint: str


@dataclass(frozen=True)
class Dataset:
    """A validated data set: the trial splits, the held-out test split, the task and the class labels."""

    training: TrainingData
    X_test: pd.DataFrame
    y_test: np.ndarray
    target: str
    task: str
    classes: list[Any] | None
    features: list[str]
    fingerprint: str
    n_rows: int


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a parquet file (or folder of parquet files) or a csv file into pandas."""
    file = Path(path)
    if not file.exists():
        raise DataError(
            f"data file {str(file)!r} does not exist (resolved against {Path.cwd()}); check data.path in the sweep file"
        )
    if file.suffix.lower() == ".csv":
        return pd.read_csv(file)
    return pd.read_parquet(file)


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


def _check_columns(df: pd.DataFrame, spec: DataSpec) -> list[str]:
    if len(df) == 0:
        raise DataError(f"the data at {spec.path!r} has no rows; point data.path at a non-empty table")
    if spec.target not in df.columns:
        raise DataError(
            f"target column {spec.target!r} is not in the data; its columns are {list(df.columns)}. "
            "Fix data.target in the sweep file"
        )
    missing = [c for c in spec.drop if c not in df.columns]
    if missing:
        raise DataError(f"data.drop names columns that are not in the data: {missing}; remove them from data.drop")
    features = [c for c in df.columns if c != spec.target and c not in spec.drop]
    if not features:
        raise DataError("no feature columns are left after removing the target and data.drop")
    bad = [c for c in features if not (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]))]
    if bad:
        raise DataError(
            f"columns {bad} are not numeric; add them to data.drop, or encode them as numbers before the sweep"
        )
    if df[spec.target].isna().any():
        n = int(df[spec.target].isna().sum())
        raise DataError(f"target column {spec.target!r} has {n} missing values; drop those rows or fill them")
    if df[spec.target].nunique() < 2:
        value = df[spec.target].iloc[0]
        raise DataError(
            f"target column {spec.target!r} has a single class ({value!r}) in all {len(df)} rows: "
            "there is nothing to learn; check the target column and any filter applied to the table"
        )
    return features


def _encode_target(y: pd.Series, task: str) -> tuple[np.ndarray, list[Any] | None]:
    if task == "regression":
        if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
            raise DataError(f"target {y.name!r} is not numeric ({y.dtype}), so it cannot be a regression target")
        return y.to_numpy(dtype=np.float64), None
    classes = sorted(y.unique().tolist())
    if len(classes) < 2:
        raise DataError(f"target {y.name!r} has a single class {classes}; a classifier needs at least two")
    if task == "binary" and len(classes) != 2:
        raise DataError(
            f"task is binary but target {y.name!r} has {len(classes)} classes; set task: multiclass or regression"
        )
    codes = pd.Categorical(y, categories=classes).codes.astype(np.int64)
    return codes, classes


def prepare_dataset(df: pd.DataFrame, spec: DataSpec, task: str | None = None) -> Dataset:
    """Validate ``df`` against ``spec``, infer the task when ``task`` is None, and split train / valid / test.

    The split is stratified for classification and depends only on ``spec.split_seed``, so every sweep over the same
    data holds out the same test rows (the champion gate compares models on them).
    """
    from sklearn.model_selection import train_test_split

    features = _check_columns(df, spec)
    y_raw = df[spec.target]
    task = task or infer_task(y_raw)
    y, classes = _encode_target(y_raw, task)
    X = df[features]
    stratify = y if classes is not None else None
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=spec.test_size, random_state=spec.split_seed, stratify=stratify
    )
    stratify_rest = y_rest if classes is not None else None
    X_train, X_valid, y_train, y_valid = train_test_split(
        X_rest, y_rest, test_size=spec.valid_size, random_state=spec.split_seed, stratify=stratify_rest
    )
    fp = fingerprint(df[[*features, spec.target]])
    training = TrainingData(
        X_train=X_train.reset_index(drop=True),
        y_train=y_train,
        X_valid=X_valid.reset_index(drop=True),
        y_valid=y_valid,
        task=task,
        fingerprint=fp,
    )
    return Dataset(
        training=training,
        X_test=X_test.reset_index(drop=True),
        y_test=y_test,
        target=spec.target,
        task=task,
        classes=classes,
        features=features,
        fingerprint=fp,
        n_rows=len(df),
    )
