"""The MLflow pyfunc model every trial logs (an MLflow "model from code").

This file is copied into each logged model and imports nothing from sparksweep, so a registered model loads
anywhere MLflow and the model's own library are installed. Fitted models are stored in native, non-pickle formats:
skops for scikit-learn (only types from an allow-list of modules are trusted), XGBoost's UBJSON and LightGBM's text
model. ``predict`` returns:

* binary: the positive-class probability, one float per row (so ``spark_udf(..., result_type="double")`` gives it);
* multiclass: a DataFrame with one probability column per class, named after the class (so
  ``spark_udf(..., result_type="array<double>")`` gives the probabilities in class order);
* regression: the prediction, one float per row.

The model takes the raw table: categorical columns hold text. Their categories, fixed when the sweep prepared the
data, are in ``meta.json``; each is turned into a pandas ``category`` column with exactly those categories (a value
outside them counts as missing), as sparksweep.data.encode_categories does for training. The rest of the
preprocessing (imputation, scaling, one-hot or ordinal codes) is part of the saved scikit-learn pipeline.
"""

from __future__ import annotations

import json
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc.model import PythonModel

_TRUSTED_MODULES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.", "xgboost.", "lightgbm.")
# HistGradientBoosting's categorical preprocessor holds functools.partial(sklearn.utils.validation.check_array, ...);
# the wrapped function is listed (and checked) on its own, so the partial adds no reach beyond the trusted modules.
_TRUSTED_TYPES = ("functools.partial",)


def _load_skops(path: str) -> Any:
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    refused = [t for t in untrusted if not t.startswith(_TRUSTED_MODULES) and t not in _TRUSTED_TYPES]
    if refused:
        raise ValueError(f"refusing to load {path}: it holds types outside the trusted libraries: {refused}")
    return sio.load(path, trusted=untrusted)


def _encode_categories(X: pd.DataFrame, categories: dict[str, list[str]]) -> pd.DataFrame:
    """Text columns as categories, as in training (sparksweep.data.encode_categories: this file cannot import it)."""
    if not categories:
        return X
    out = X.copy()
    for column, cats in categories.items():
        text = X[column].astype("string")
        out[column] = pd.Categorical(text.where(text.isin(cats)), categories=cats)
    return out


class SparkSweepModel(PythonModel):
    """Wraps a fitted estimator saved in its native format and predicts in sparksweep's convention."""

    def load_context(self, context: Any) -> None:
        with open(context.artifacts["meta"]) as fh:
            meta = json.load(fh)
        self.task: str = meta["task"]
        self.features: list[str] = meta["features"]
        self.format: str = meta["format"]
        self.classes: list[str] = [str(c) for c in meta.get("classes") or []]
        self.categories: dict[str, list[str]] = dict(meta.get("categories") or {})
        path = context.artifacts["model"]
        if self.format == "skops":
            self.model = _load_skops(path)
        elif self.format == "xgboost":
            import xgboost

            self.model = getattr(xgboost, meta["estimator_class"].split(".")[-1])()
            self.model.load_model(path)
        elif self.format == "lightgbm":
            import lightgbm

            self.model = lightgbm.Booster(model_file=path)
        else:
            raise ValueError(f"unknown model format {self.format!r} in {context.artifacts['meta']}")

    @property
    def takes_matrix(self) -> bool:
        """Whether :meth:`predict_array` takes a plain 2-D float array of the features (a LightGBM booster with no
        categorical columns), which skips building a DataFrame per batch."""
        return self.format == "lightgbm" and not self.categories

    def predict_array(self, X: pd.DataFrame | np.ndarray, threads: int | None = None) -> np.ndarray:
        """Predictions as float64: binary P(positive class) ``[n]``, multiclass probabilities ``[n, classes]`` in
        class order, regression values ``[n]``.

        ``X`` is a DataFrame holding the feature columns (text in categorical columns), or, when
        :attr:`takes_matrix`, a 2-D array of the features in ``self.features`` order. ``threads`` caps the model's
        own threads (LightGBM, XGBoost); None keeps the model's setting.
        """
        if isinstance(X, pd.DataFrame):
            X = _encode_categories(X[self.features], self.categories)
        if self.format == "lightgbm":
            out = np.asarray(self.model.predict(X, **({} if threads is None else {"num_threads": threads})))
            out = out.astype(np.float64, copy=False)
            if self.task == "multiclass" or self.task == "regression":
                return out
            return out if out.ndim == 1 else out[:, 1]
        if threads is not None and self.format == "xgboost":
            self.model.set_params(n_jobs=threads)
        if self.task == "regression":
            return np.asarray(self.model.predict(X), dtype=np.float64)
        proba = np.asarray(self.model.predict_proba(X), dtype=np.float64)
        return proba[:, 1] if self.task == "binary" else proba

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
        missing = [c for c in self.features if c not in model_input.columns]
        if missing:
            raise ValueError(f"the input lacks the model's feature columns {missing}")
        out = self.predict_array(model_input)
        if self.task != "multiclass":
            return pd.Series(out, name="prediction")
        columns = self.classes if len(self.classes) == out.shape[1] else [str(i) for i in range(out.shape[1])]
        return pd.DataFrame(out, columns=columns, index=model_input.index)


mlflow.models.set_model(SparkSweepModel())
