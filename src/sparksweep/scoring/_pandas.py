"""Scoring a pandas DataFrame, for small data: columns checked against the model's signature once, then
sparksweep's own models called directly (one float64 matrix when every feature is numeric), others through
``predict``.

Example:
    >>> preds = score_pandas(df, "models:/churn-model@champion")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sparksweep.data import categories_as_text
from sparksweep.scoring._models import ModelKind, load_model
from sparksweep.scoring.schema import model_input_types, pandas_column_types, require_columns

__all__ = ["score_pandas"]


def _pandas_output(prediction: Any, kind: ModelKind, index: Any, prediction_col: str) -> pd.DataFrame:
    values = np.asarray(prediction, dtype=np.float64)
    if values.ndim == 2:
        labels = np.asarray(kind.classes if len(kind.classes) == values.shape[1] else range(values.shape[1]), dtype=str)
        return pd.DataFrame(
            {"probabilities": list(values), prediction_col: labels[values.argmax(axis=1)]},
            index=index,
        )
    return pd.DataFrame({prediction_col: values}, index=index)


def score_pandas(
    df: pd.DataFrame,
    model_uri: str,
    *,
    tracking_uri: str | None = None,
    prediction_col: str = "prediction",
    keep: list[str] | None = None,
    model: Any = None,
) -> pd.DataFrame:
    """Score a pandas DataFrame; returns the ``keep`` columns (all columns when None) plus the prediction column(s).

    The columns are checked against the model's signature once; sparksweep's own models are then called directly
    (a LightGBM model with numeric features gets one float64 matrix), other models through ``predict``.

    Args:
        df: The rows to score; the model's feature columns are matched by name and type.
        model_uri: ``models:/<name>@champion``, ``models:/m-<id>``, ``runs:/...`` or a local path.
        tracking_uri: The store that resolves ``models:/`` URIs.
        prediction_col: Name of the prediction column.
        keep: Columns carried through (e.g. ``["user_id"]``).
        model: An already loaded pyfunc model for ``model_uri`` (skips the download).

    Example:
        >>> score_pandas(users, "models:/churn@champion", keep=["user_id"])  # doctest: +SKIP
    """
    model = model if model is not None else load_model(model_uri, tracking_uri)
    required = model_input_types(model)
    kind = ModelKind.of(model)
    if kind.takes_matrix(required):
        require_columns(required, pandas_column_types(df[[c for c in required if c in df.columns]]), model_uri)
        prediction = kind.inner.predict_array(df[list(required)].to_numpy(np.float64, na_value=np.nan))
    else:
        features = categories_as_text(df)  # models take text where a table has pandas categories
        match = require_columns(required, pandas_column_types(features), model_uri)
        X = features[list(required)] if required else features
        if match.casts:
            X = X.astype({c: _numpy_type(t) for c, t in match.casts.items()})
        prediction = kind.inner.predict_array(X) if kind.inner is not None else model.predict(X)
    out = df.copy() if keep is None else df[keep].copy()
    scored = _pandas_output(prediction, kind, out.index, prediction_col)
    return pd.concat([out, scored], axis=1)


def _numpy_type(mlflow_type: str) -> str:
    return {"long": "int64", "integer": "int32", "double": "float64", "float": "float32"}.get(mlflow_type, "object")
