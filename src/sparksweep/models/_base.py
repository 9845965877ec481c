"""The model-family contract: a name, the tasks it supports, a default space, a builder, and a native saver."""

from __future__ import annotations

import abc
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from sparksweep.search.space import Distribution

if TYPE_CHECKING:
    import pandas as pd

    from sparksweep.data import TrainingData
    from sparksweep.search.pruning import StepReport

__all__ = ["BaseModelFamily", "SavedModel"]


class SavedModel:
    """Where a fitted model was written and how to load it back (the pyfunc model reads these fields)."""

    def __init__(self, path: Path, fmt: str, estimator_class: str) -> None:
        self.path = path
        self.format = fmt
        self.estimator_class = estimator_class


class BaseModelFamily(abc.ABC):
    """A family of models a sweep can search.

    A family says which tasks it supports, its default search space per task, how to build an estimator from a
    trial's parameters (with a thread budget), how to fit it (boosting families use early stopping on the validation
    split) and how to save it in a safe native format.

    Subclass it, set ``name``, ``tasks`` and ``library``, and register an instance with
    :func:`sparksweep.models.register_family`.
    """

    name: ClassVar[str]
    tasks: ClassVar[frozenset[str]]
    library: ClassVar[str]
    """The MLflow autolog flavor and pip package: ``sklearn``, ``xgboost`` or ``lightgbm``."""

    @abc.abstractmethod
    def default_space(self, task: str) -> dict[str, Distribution]:
        """The hyperparameters searched for ``task`` when the sweep file overrides nothing."""

    @abc.abstractmethod
    def build(self, params: dict[str, Any], *, task: str, n_jobs: int, seed: int) -> Any:
        """An unfitted estimator for ``params`` that uses at most ``n_jobs`` threads."""

    def fit(self, estimator: Any, data: TrainingData) -> Any:
        """Fit on the training split; override to use the validation split for early stopping."""
        estimator.fit(data.X_train, data.y_train)
        return estimator

    def fit_reporting(self, estimator: Any, data: TrainingData, report: StepReport) -> Any:
        """Fit like :meth:`fit`, calling ``report(step, predict)`` as training goes (for pruning).

        Boosting families call it after each round; ``report`` raises to stop a hopeless trial. The default fits
        without reporting, so the trial is never pruned.
        """
        return self.fit(estimator, data)

    def predict(self, estimator: Any, X: pd.DataFrame, task: str) -> np.ndarray:
        """Predictions in sparksweep's convention (see :mod:`sparksweep.scoring.metrics`)."""
        if task == "regression":
            return np.asarray(estimator.predict(X), dtype=np.float64)
        proba = np.asarray(estimator.predict_proba(X), dtype=np.float64)
        return proba[:, 1] if task == "binary" else proba

    def save(self, estimator: Any, directory: Path) -> SavedModel:
        """Write the fitted estimator with skops (sklearn's safe format); boosting families use their own."""
        import skops.io as sio

        path = directory / "model.skops"
        sio.dump(estimator, path)
        return SavedModel(path, "skops", f"{type(estimator).__module__}.{type(estimator).__qualname__}")

    def __repr__(self) -> str:
        return f"<model family {self.name!r}>"
