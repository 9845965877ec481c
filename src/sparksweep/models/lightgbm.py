"""LightGBM (sklearn API) with early stopping on the validation split.

Ranges follow LightGBM's "Parameters Tuning" guide (num_leaves, min_child_samples, bagging and feature fraction)
and FLAML's LightGBM space (flaml/automl/model.py), with ``n_estimators`` left to early stopping.
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

__all__ = ["LightGBMFamily"]


class LightGBMFamily(BaseModelFamily):
    """``LGBMClassifier`` / ``LGBMRegressor``; saved as the booster's native text model."""

    name: ClassVar[str] = "lightgbm"
    tasks: ClassVar[frozenset[str]] = frozenset({"binary", "multiclass", "regression"})
    library: ClassVar[str] = "lightgbm"
    stops_early: ClassVar[bool] = True
    cv_rounds: ClassVar[bool] = True
    native_categorical: ClassVar[bool] = True

    def default_space(self, task: str) -> dict[str, Distribution]:
        # LightGBM "Parameters Tuning" (num_leaves, min_data_in_leaf, bagging/feature fraction, lambda_l2) with the
        # ranges of FLAML's LightGBM space; n_estimators is left to early stopping.
        return {
            "learning_rate": Float(0.01, 0.3, log=True),
            "num_leaves": Int(8, 256, log=True),
            "min_child_samples": Int(5, 100, log=True),
            "subsample": Float(0.5, 1.0),
            "colsample_bytree": Float(0.5, 1.0),
            "reg_lambda": Float(1e-3, 10.0, log=True),
        }

    def build(self, params: dict[str, Any], *, task: str, n_jobs: int, seed: int) -> Any:
        lgb = require("lightgbm", "the lightgbm model family")
        cls = lgb.LGBMRegressor if task == "regression" else lgb.LGBMClassifier
        return cls(n_estimators=1000, subsample_freq=1, n_jobs=n_jobs, random_state=seed, verbose=-1, **params)

    def fit(self, estimator: Any, data: TrainingData) -> Any:
        return self._fit(estimator, data, None)

    def fit_reporting(self, estimator: Any, data: TrainingData, report: StepReport) -> Any:
        # LightGBM evaluates the validation set every round on predictions it updates incrementally; a custom
        # metric receives them, so reporting re-predicts nothing. (Predicting the validation set from scratch every
        # 10 rounds cost more than the rounds a pruned trial saved, and Booster.predict ignores the thread budget.)
        scorer = RoundScorer(report)

        def sparksweep_metric(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[str, float, bool]:
            return scorer.name, scorer(np.asarray(y_pred, dtype=np.float64)), scorer.higher_is_better

        return self._fit(estimator, data, sparksweep_metric)

    def _fit(self, estimator: Any, data: TrainingData, metric: Any) -> Any:
        lgb = require("lightgbm", "the lightgbm model family")
        # Columns of pandas "category" dtype are LightGBM categorical features (categorical_feature="auto").
        # Early stopping watches LightGBM's own first metric only (its objective's loss), with or without ours.
        estimator.fit(
            data.X_train,
            data.y_train,
            sample_weight=data.w_train,
            eval_X=(data.X_valid,),
            eval_y=(data.y_valid,),
            eval_metric=metric,
            callbacks=[lgb.early_stopping(30, first_metric_only=True, verbose=False)],
        )
        return estimator

    def fitted_rounds(self, model: Any) -> int | None:
        rounds = int(getattr(model, "best_iteration_", 0) or 0)
        return rounds if rounds > 0 else None

    def round_curve(self, model: Any) -> list[float]:
        # The first metric of the first eval set: the objective's loss, which early stopping watches.
        first = next(iter(model.evals_result_.values()))
        return [float(v) for v in next(iter(first.values()))]

    def predict_rounds(self, model: Any, X: pd.DataFrame, task: str, rounds: int) -> np.ndarray:
        if task == "regression":
            return np.asarray(model.predict(X, num_iteration=rounds), dtype=np.float64)
        proba = np.asarray(model.predict_proba(X, num_iteration=rounds), dtype=np.float64)
        return proba[:, 1] if task == "binary" else proba

    def fit_rounds(self, estimator: Any, data: TrainingData, rounds: int) -> Any:
        estimator.set_params(n_estimators=rounds)
        estimator.fit(data.X_train, data.y_train, sample_weight=data.w_train)
        return estimator

    def save(self, estimator: Any, directory: Path) -> SavedModel:
        path = directory / "model.lgb.txt"
        estimator.booster_.save_model(str(path))
        return SavedModel(path, "lightgbm", "lightgbm.Booster")
