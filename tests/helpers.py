"""Model families used by the tests: registered through the public API, like a user's own family."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from sparksweep.data import TrainingData
from sparksweep.models import BaseModelFamily
from sparksweep.scoring.metrics import Direction, Metric
from sparksweep.search.space import Distribution, Float


class ConstantFamily(BaseModelFamily):
    """Predicts the training prior for every row: an AUC of 0.5, worse than any real model."""

    name: ClassVar[str] = "test.constant"
    tasks: ClassVar[frozenset[str]] = frozenset({"binary"})
    library: ClassVar[str] = "sklearn"

    def default_space(self, task: str) -> dict[str, Distribution]:
        return {"unused": Float(0.0, 1.0)}

    def build(self, params: dict[str, Any], *, task: str, n_jobs: int, seed: int) -> Any:
        from sklearn.dummy import DummyClassifier

        return DummyClassifier(strategy="prior")


class FlakyFamily(BaseModelFamily):
    """A logistic regression whose fit raises on odd trial seeds (the engine seeds trial n with seed + n)."""

    name: ClassVar[str] = "test.flaky"
    tasks: ClassVar[frozenset[str]] = frozenset({"binary"})
    library: ClassVar[str] = "sklearn"

    def default_space(self, task: str) -> dict[str, Distribution]:
        return {"C": Float(0.01, 10.0, log=True)}

    def build(self, params: dict[str, Any], *, task: str, n_jobs: int, seed: int) -> Any:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(max_iter=500, **params)
        model.sparksweep_seed = seed
        return model

    def fit(self, estimator: Any, data: TrainingData) -> Any:
        if estimator.sparksweep_seed % 2 == 1:
            raise RuntimeError(f"deliberate failure for seed {estimator.sparksweep_seed}")
        estimator.fit(data.X_train, data.y_train)
        return estimator

    def predict(self, estimator: Any, X: Any, task: str) -> np.ndarray:
        return np.asarray(estimator.predict_proba(X)[:, 1], dtype=np.float64)


def _brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((p - y) ** 2))


brier = Metric("brier", Direction.MINIMIZE, frozenset({"binary"}), _brier)
"""A custom metric, named in sweep files by its import path ``tests.helpers:brier``."""
