"""The MLflow pyfunc model every trial logs (an MLflow "model from code").

This file is copied into each logged model and imports nothing from sparksweep, so a registered model loads
anywhere MLflow and the model's own library are installed. Fitted models are stored in native, non-pickle formats:
skops for scikit-learn (only types from an allow-list of modules are trusted), XGBoost's UBJSON and LightGBM's text
model. ``predict`` returns:

* binary: the positive-class probability, one float per row (so ``spark_udf(..., result_type="double")`` gives it);
* multiclass: a DataFrame with one probability column per class, named after the class (so
  ``spark_udf(..., result_type="array<double>")`` gives the probabilities in class order);
* regression: the prediction, one float per row.

An ensemble (``format: ensemble`` in ``meta.json``) holds several fitted models, each an artifact ``model_<i>`` in its
own native format with its weight; it predicts their weighted average in the same convention.

The model takes the raw table: categorical columns hold text. Their categories, fixed when the sweep prepared the
data, are in ``meta.json``; each is turned into a pandas ``category`` column with exactly those categories (a value
outside them counts as missing), as sparksweep.data.encode_categories does for training. Date columns (datetime64,
tz-aware, Python dates or ISO 8601 text) become their numeric parts, with the earliest training date and the time
zone kept in ``meta.json``, as sparksweep.data.expand_dates does for training; numbers in pandas nullable dtypes (or
as objects, as MLflow passes a column its signature declares ``Any``) become floats. The rest of the preprocessing
(imputation, scaling, one-hot or ordinal codes) is part of the saved scikit-learn pipeline.
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
# A skops file names each object's type, and skops constructs it by calling that name (``module.name(*args)``), so
# a name in a trusted module is trusted only if it is a class: a function such as ``builtins.eval`` or ``numpy.load``
# would be called with the file's arguments. The functions fitted models really hold are listed; a class whose
# constructor writes files is refused.
_TRUSTED_FUNCTIONS = ("sklearn.utils.validation.check_array",)
_REFUSED_CLASSES = ("numpy.memmap",)


def _trusted(name: str) -> bool:
    import importlib

    if name in _TRUSTED_TYPES or name in _TRUSTED_FUNCTIONS:
        return True
    if not name.startswith(_TRUSTED_MODULES) or name in _REFUSED_CLASSES:
        return False
    module, _, attr = name.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return False
    return isinstance(obj, type)


def refused_types(untrusted: list[str]) -> list[str]:
    """The names among skops' ``get_untrusted_types`` that sparksweep does not trust (only classes of the trusted
    libraries, and the few functions fitted models hold, are)."""
    return [name for name in untrusted if not _trusted(name)]


def _load_skops(path: str) -> Any:
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    refused = refused_types(untrusted)
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


def _wall_clock(values: pd.Series, tz: str | None) -> pd.Series:
    """Naive wall-clock times, as sparksweep.data._dates.wall_clock (this file cannot import it)."""
    if not pd.api.types.is_datetime64_any_dtype(values.dtype):
        values = pd.to_datetime(values.astype("string"), format="ISO8601", errors="coerce", utc=True)
    if getattr(values.dt, "tz", None) is not None:
        values = (values.dt.tz_convert(tz) if tz else values).dt.tz_localize(None)
    return values


def _date_parts(values: pd.Series, date: dict[str, Any]) -> dict[str, pd.Series]:
    """A date column's numeric parts, as sparksweep.data.expand_dates makes them for training."""
    clock = _wall_clock(values, date.get("tz"))
    parts = {
        "year": clock.dt.year,
        "month": clock.dt.month,
        "day_of_week": clock.dt.day_of_week,
        "day_of_year": clock.dt.day_of_year,
    }
    if date["hour"]:
        parts["hour"] = clock.dt.hour
    parts["days_since"] = (clock - pd.Timestamp(date["origin"])) / pd.Timedelta(days=1)
    return {name: part.astype("float64") for name, part in parts.items()}


def _as_model_input(X: pd.DataFrame, categories: dict[str, list[str]], dates: dict[str, Any]) -> pd.DataFrame:
    """The raw feature columns as the estimator was trained on them: date columns as their parts, nullable or
    object numbers as floats, text or categories as the fixed categories."""
    loose = [
        name
        for name, dtype in X.dtypes.items()
        if name not in categories
        and name not in dates
        and (pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.api.extensions.ExtensionDtype))
    ]
    if not dates and not loose:  # the common case: nothing to rebuild
        return _encode_categories(X, categories)
    columns: dict[str, pd.Series] = {}
    for name in X.columns:
        if name in dates:
            columns.update({f"{name}__{p}": v for p, v in _date_parts(X[name], dates[name]).items()})
        elif name in loose:
            columns[name] = pd.to_numeric(X[name], errors="coerce").astype("float64")
        else:
            columns[name] = X[name]
    return _encode_categories(pd.DataFrame(columns, index=X.index), categories)


def _load_native(fmt: str, estimator_class: str, path: str, meta_path: str) -> Any:
    """A fitted model saved in its library's own format (``fmt``: skops, xgboost or lightgbm)."""
    if fmt == "skops":
        return _load_skops(path)
    if fmt == "xgboost":
        import xgboost

        model = getattr(xgboost, estimator_class.split(".")[-1])()
        model.load_model(path)
        return model
    if fmt == "lightgbm":
        import lightgbm

        return lightgbm.Booster(model_file=path)
    raise ValueError(f"unknown model format {fmt!r} in {meta_path}")


def _predict_native(model: Any, fmt: str, task: str, X: Any, threads: int | None) -> np.ndarray:
    """One fitted model's predictions in sparksweep's convention, as float64."""
    if fmt == "lightgbm":
        out = np.asarray(model.predict(X, **({} if threads is None else {"num_threads": threads})))
        out = out.astype(np.float64, copy=False)
        if task == "multiclass" or task == "regression":
            return out
        return out if out.ndim == 1 else out[:, 1]
    if threads is not None and fmt == "xgboost":
        model.set_params(n_jobs=threads)
    if task == "regression":
        return np.asarray(model.predict(X), dtype=np.float64)
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    return proba[:, 1] if task == "binary" else proba


class SparkSweepModel(PythonModel):
    """Wraps a fitted estimator (or a weighted ensemble of them) saved in its native format and predicts in
    sparksweep's convention."""

    def load_context(self, context: Any) -> None:
        meta_path = context.artifacts["meta"]
        with open(meta_path) as fh:
            meta = json.load(fh)
        self.task: str = meta["task"]
        self.features: list[str] = meta["features"]
        self.format: str = meta["format"]
        self.classes: list[str] = [str(c) for c in meta.get("classes") or []]
        self.categories: dict[str, list[str]] = dict(meta.get("categories") or {})
        self.dates: dict[str, Any] = dict(meta.get("dates") or {})
        self.members: list[tuple[Any, str, float]] = []
        """An ensemble's (model, format, weight); empty for a single model."""
        if self.format == "ensemble":
            for member in meta["members"]:
                path = context.artifacts[member["artifact"]]
                model = _load_native(member["format"], member["estimator_class"], path, meta_path)
                self.members.append((model, member["format"], float(member["weight"])))
            self.model = None
        else:
            path = context.artifacts["model"]
            self.model = _load_native(self.format, meta.get("estimator_class", ""), path, meta_path)

    @property
    def takes_matrix(self) -> bool:
        """Whether :meth:`predict_array` takes a plain 2-D float array of the features (a LightGBM booster with no
        categorical columns), which skips building a DataFrame per batch."""
        return self.format == "lightgbm" and not self.categories and not self.dates

    def predict_array(self, X: pd.DataFrame | np.ndarray, threads: int | None = None) -> np.ndarray:
        """Predictions as float64: binary P(positive class) ``[n]``, multiclass probabilities ``[n, classes]`` in
        class order, regression values ``[n]``.

        ``X`` is a DataFrame holding the raw feature columns (text in categorical columns, dates), or, when
        :attr:`takes_matrix`, a 2-D array of the features in ``self.features`` order. ``threads`` caps the model's
        own threads (LightGBM, XGBoost); None keeps the model's setting.
        """
        if isinstance(X, pd.DataFrame):
            X = _as_model_input(X[self.features], self.categories, self.dates)
        if not self.members:
            return _predict_native(self.model, self.format, self.task, X, threads)
        if not isinstance(X, pd.DataFrame):  # every member takes the features by name
            X = pd.DataFrame(X, columns=self.features)
        total: np.ndarray | None = None
        for model, fmt, weight in self.members:
            part = weight * _predict_native(model, fmt, self.task, X, threads)
            total = part if total is None else total + part
        return np.asarray(total, dtype=np.float64)

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
