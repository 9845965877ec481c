"""XGBoost (sklearn API, ``hist`` trees) with early stopping on the validation split.

Ranges follow the XGBoost parameter-tuning notes and Probst et al., "Tunability" (JMLR 2019), with
``n_estimators`` left to early stopping instead of searched.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from sparksweep._imports import require
from sparksweep.data import TrainingData
from sparksweep.models._base import BaseModelFamily, SavedModel
from sparksweep.pruning import RoundScorer
from sparksweep.space import Distribution, Float, Int

if TYPE_CHECKING:
    import pandas as pd

    from sparksweep.pruning import StepReport

__all__ = ["XGBoostFamily"]


class XGBoostFamily(BaseModelFamily):
    """``XGBClassifier`` / ``XGBRegressor``."""

    name: ClassVar[str] = "xgboost"
    tasks: ClassVar[frozenset[str]] = frozenset({"binary", "multiclass", "regression"})
    library: ClassVar[str] = "xgboost"
    stops_early: ClassVar[bool] = True
    cv_rounds: ClassVar[bool] = True
    native_categorical: ClassVar[bool] = True

    def default_space(self, task: str) -> dict[str, Distribution]:
        # Probst et al. "Tunability" (JMLR 2019) Table 1 xgboost ranges (eta, max_depth, subsample, colsample_bytree,
        # lambda), narrowed as in FLAML's XGBoost space; n_estimators is left to early stopping.
        return {
            "learning_rate": Float(0.01, 0.3, log=True),
            "max_depth": Int(2, 10),
            "min_child_weight": Float(0.5, 20.0, log=True),
            "subsample": Float(0.5, 1.0),
            "colsample_bytree": Float(0.5, 1.0),
            "reg_lambda": Float(1e-3, 10.0, log=True),
        }

    def build(self, params: dict[str, Any], *, task: str, n_jobs: int, seed: int) -> Any:
        xgb = require("xgboost", "the xgboost model family")
        cls = xgb.XGBRegressor if task == "regression" else xgb.XGBClassifier
        return cls(
            n_estimators=1000,
            early_stopping_rounds=30,
            tree_method="hist",
            enable_categorical=True,  # pandas "category" columns are split on natively
            n_jobs=n_jobs,
            random_state=seed,
            **params,
        )

    def fit(self, estimator: Any, data: TrainingData) -> Any:
        estimator.fit(
            data.X_train,
            data.y_train,
            sample_weight=data.w_train,
            eval_set=[(data.X_valid, data.y_valid)],
            verbose=False,
        )
        return estimator

    def fitted_rounds(self, model: Any) -> int | None:
        try:
            best = model.best_iteration  # 0-based; set when early stopping watched an eval set
        except AttributeError:
            return None
        return int(best) + 1

    def round_curve(self, model: Any) -> list[float]:
        # XGBoost's early stopping watches the last metric of the last eval set (its objective's loss by default).
        last = list(model.evals_result().values())[-1]
        return [float(v) for v in list(last.values())[-1]]

    def predict_rounds(self, model: Any, X: pd.DataFrame, task: str, rounds: int) -> np.ndarray:
        if task == "regression":
            return np.asarray(model.predict(X, iteration_range=(0, rounds)), dtype=np.float64)
        proba = np.asarray(model.predict_proba(X, iteration_range=(0, rounds)), dtype=np.float64)
        return proba[:, 1] if task == "binary" else proba

    def fit_rounds(self, estimator: Any, data: TrainingData, rounds: int) -> Any:
        estimator.set_params(n_estimators=rounds, early_stopping_rounds=None)
        estimator.fit(data.X_train, data.y_train, sample_weight=data.w_train, verbose=False)
        return estimator

    def fit_reporting(self, estimator: Any, data: TrainingData, report: StepReport) -> Any:
        # XGBoost evaluates its eval set every round on cached predictions it updates incrementally; a custom metric
        # receives them, so reporting re-predicts nothing. A custom metric is evaluated after the built-in ones, and
        # XGBoost's early stopping watches the last metric: so early stopping is given the built-in one by name,
        # and training stops exactly where fit() stops.
        xgb = require("xgboost", "the xgboost model family")
        scorer = RoundScorer(report)

        def metric(y_true: np.ndarray, y_pred: np.ndarray) -> float:
            return scorer(np.asarray(y_pred, dtype=np.float64))

        metric.__name__ = scorer.name  # XGBoost names the metric after the function

        class _StopOnLibraryMetric(xgb.callback.EarlyStopping):  # type: ignore[misc,name-defined]
            metric_name: str | None

            def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
                if self.metric_name is None:  # the metric fit() stops on: the last of XGBoost's own
                    self.metric_name = [m for m in evals_log[self.data] if m != scorer.name][-1]
                return bool(super().after_iteration(model, epoch, evals_log))

        params = estimator.get_params()
        rounds, own = params["early_stopping_rounds"], params["eval_metric"]
        builtin = [] if own is None else [own] if isinstance(own, str) else list(own)
        callbacks = list(params["callbacks"] or [])
        if rounds is not None:
            callbacks.append(_StopOnLibraryMetric(rounds=rounds, data_name="validation_0"))
        # A list holding only the function would reach XGBoost's native parameters; the function alone does not.
        ours = [*builtin, metric] if builtin else metric
        estimator.set_params(eval_metric=ours, early_stopping_rounds=None, callbacks=callbacks)
        try:
            return self.fit(estimator, data)
        finally:
            estimator.set_params(eval_metric=own, early_stopping_rounds=rounds, callbacks=params["callbacks"])

    def save(self, estimator: Any, directory: Path) -> SavedModel:
        path = directory / "model.ubj"
        estimator.save_model(path)
        return SavedModel(path, "xgboost", f"xgboost.{type(estimator).__name__}")
