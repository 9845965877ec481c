"""What the tests share: model families registered through the public API (like a user's own family), and a data
handle holding prepared data in the test's process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from sparksweep.data import TrainingData
from sparksweep.metrics import Direction, Metric
from sparksweep.models import BaseModelFamily
from sparksweep.space import Distribution, Float


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


class SleepyFamily(BaseModelFamily):
    """A logistic regression that takes ``pause`` seconds longer to fit: trials that are surely in flight."""

    name: ClassVar[str] = "test.sleepy"
    tasks: ClassVar[frozenset[str]] = frozenset({"binary"})
    library: ClassVar[str] = "sklearn"

    def default_space(self, task: str) -> dict[str, Distribution]:
        return {"C": Float(0.01, 10.0, log=True), "pause": Float(0.8, 1.2)}

    def build(self, params: dict[str, Any], *, task: str, n_jobs: int, seed: int) -> Any:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(max_iter=500, C=params["C"])
        model.sparksweep_pause = params["pause"]
        return model

    def fit(self, estimator: Any, data: TrainingData) -> Any:
        import time

        time.sleep(estimator.sparksweep_pause)
        estimator.fit(data.X_train, data.y_train)
        return estimator

    def predict(self, estimator: Any, X: Any, task: str) -> np.ndarray:
        return np.asarray(estimator.predict_proba(X)[:, 1], dtype=np.float64)


class CurveFamily(BaseModelFamily):
    """Reports 60 rounds of one validation score that grows with ``quality``: a pruner's clear-cut case."""

    name: ClassVar[str] = "test.curve"
    tasks: ClassVar[frozenset[str]] = frozenset({"binary"})
    library: ClassVar[str] = "sklearn"

    def default_space(self, task: str) -> dict[str, Distribution]:
        return {"quality": Float(0.0, 1.0)}

    def build(self, params: dict[str, Any], *, task: str, n_jobs: int, seed: int) -> Any:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(max_iter=500)
        model.sparksweep_quality = params["quality"]
        return model

    def fit_reporting(self, estimator: Any, data: TrainingData, report: Any) -> Any:
        self.fit(estimator, data)
        for step in range(1, 61):
            report(step, lambda: self.predict(estimator, data.X_valid, "binary"))
        return estimator

    def predict(self, estimator: Any, X: Any, task: str) -> np.ndarray:
        noise = np.random.default_rng(0).uniform(size=len(X))
        q = estimator.sparksweep_quality
        return np.asarray(q * estimator.predict_proba(X)[:, 1] + (1 - q) * noise, dtype=np.float64)


@dataclass(frozen=True)
class InProcessData:
    """A data handle that carries the prepared data itself (for tasks run in the test's own process)."""

    fingerprint: str
    data: TrainingData

    def load(self) -> TrainingData:
        return self.data
