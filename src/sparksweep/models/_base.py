"""The model-family contract: a name, the tasks it supports, a default space, a builder, and a native saver.

A family also says what it needs from the data: whether it takes categorical columns and missing values itself
(LightGBM, XGBoost, HistGradientBoosting) or gets a preprocessing step fitted in front of it (imputation, scaling,
one-hot or ordinal encoding), whether it can use sample weights, and how many training rows it can handle.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from sparksweep.errors import DataError
from sparksweep.models._preprocessing import Encoding, make_preprocessor
from sparksweep.space import Distribution

if TYPE_CHECKING:
    import pandas as pd

    from sparksweep.data import TrainingData
    from sparksweep.pruning import StepReport

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
    :func:`sparksweep.models.register_family` (or expose the class under the ``sparksweep.families`` entry point of
    your package). The default :meth:`fit` puts a preprocessing step in front of the estimator (median imputation,
    and one-hot encoding of categorical columns), so any scikit-learn estimator works on tables with text categories
    and missing values.

    Example:
        >>> from sparksweep.space import Float
        >>> class RidgeFamily(BaseModelFamily):
        ...     name, tasks, library = "my.ridge", frozenset({"regression"}), "sklearn"
        ...     def default_space(self, task):
        ...         return {"alpha": Float(1e-3, 100.0, log=True)}
        ...     def build(self, params, *, task, n_jobs, seed):
        ...         from sklearn.linear_model import Ridge
        ...         return Ridge(**params)
        >>> RidgeFamily()
        <model family 'my.ridge'>
    """

    name: ClassVar[str]
    tasks: ClassVar[frozenset[str]]
    library: ClassVar[str]
    """The MLflow autolog flavor and pip package: ``sklearn``, ``xgboost`` or ``lightgbm``."""

    native_categorical: ClassVar[bool] = False
    """True when the estimator takes pandas ``category`` columns and missing values itself (no preprocessing)."""
    encoding: ClassVar[Encoding] = "one_hot"
    """How the preprocessing step encodes categorical columns for estimators that cannot take them."""
    scale_numeric: ClassVar[bool] = False
    """Standardize numeric columns in the preprocessing step (distance-, kernel- and penalty-based models)."""
    supports_sample_weight: ClassVar[bool] = True
    """Whether ``fit`` can use ``data.weight_column`` / ``data.class_weight``."""
    stops_early: ClassVar[bool] = False
    """True when ``fit`` uses ``data.X_valid`` to stop training (early stopping); CV then gives it a stopping set
    of its own in each fold instead of the fold it is scored on."""
    cv_rounds: ClassVar[bool] = False
    """True when CV may stop the family on the folds it scores and then score every fold at one shared number of
    rounds, as ``lightgbm.cv`` and ``xgboost.cv`` do (:meth:`round_curve`, :meth:`predict_rounds`); False: it stops
    on a share of each fold's training rows."""
    max_train_rows: ClassVar[int | None] = None
    """The most training rows the family accepts (None: no limit); larger data is refused before any trial."""
    alternatives: ClassVar[str] = "sklearn.hist_gradient_boosting, lightgbm or xgboost"
    """Families to suggest when this one refuses the data."""

    @abc.abstractmethod
    def default_space(self, task: str) -> dict[str, Distribution]:
        """The hyperparameters searched for ``task`` when the sweep file overrides nothing."""

    @abc.abstractmethod
    def build(self, params: dict[str, Any], *, task: str, n_jobs: int, seed: int) -> Any:
        """An unfitted estimator for ``params`` that uses at most ``n_jobs`` threads."""

    def check_data(self, data: TrainingData) -> None:
        """Refuse data this family cannot fit, before any trial runs (:class:`DataError` naming the fix)."""
        n_rows = len(data.X_train)
        if self.max_train_rows is not None and n_rows > self.max_train_rows:
            raise DataError(
                f"model family {self.name!r} is for small data: the training split has {n_rows:,} rows, above its "
                f"limit of {self.max_train_rows:,} (its fit time grows with the square of the rows or faster). "
                f"Remove it from 'models' and use {self.alternatives}, or sample the table down"
            )
        if data.w_train is not None and not self.supports_sample_weight:
            raise DataError(
                f"model family {self.name!r} cannot use sample weights, and this sweep sets data.weight_column or "
                "data.class_weight; remove the family from 'models' or the weights from the data settings"
            )

    def preprocessor(self, data: TrainingData) -> Any | None:
        """The unfitted transformer put in front of the estimator, or None when it takes the table as it is."""
        if self.native_categorical:
            return None
        return make_preprocessor(data.numeric, data.categorical, scale=self.scale_numeric, encoding=self.encoding)

    def with_preprocessing(self, estimator: Any, data: TrainingData) -> Any:
        """``estimator`` behind its preprocessing step (a ``Pipeline``), or itself when it needs none."""
        from sklearn.pipeline import Pipeline

        pre = self.preprocessor(data)
        return estimator if pre is None else Pipeline([("preprocess", pre), ("model", estimator)])

    @staticmethod
    def weight_kwargs(model: Any, data: TrainingData) -> dict[str, Any]:
        """The ``fit`` keyword that passes the sample weights to ``model`` (through a pipeline when there is one)."""
        if data.w_train is None:
            return {}
        from sklearn.pipeline import Pipeline

        return {"model__sample_weight" if isinstance(model, Pipeline) else "sample_weight": data.w_train}

    def fit(self, estimator: Any, data: TrainingData) -> Any:
        """Fit on the training split and return the fitted model (the estimator, or a pipeline ending in it).

        Override to use the validation split for early stopping.
        """
        model = self.with_preprocessing(estimator, data)
        model.fit(data.X_train, data.y_train, **self.weight_kwargs(model, data))
        return model

    def fitted_rounds(self, model: Any) -> int | None:
        """The boosting rounds ``model`` (fitted by :meth:`fit`) predicts with after early stopping; None for a
        family that does not stop early (or cannot say), whose refit then fits as :meth:`fit` does."""
        return None

    def fit_rounds(self, estimator: Any, data: TrainingData, rounds: int) -> Any:
        """Fit on all of ``data``'s training rows for exactly ``rounds`` rounds, without a stopping set, and return
        the fitted model.

        The refit of a trial uses it with the rounds early stopping chose in the trial (:meth:`fitted_rounds`, the
        mean over CV folds), so the final model learns from every row instead of keeping a share to stop on.
        Families whose :meth:`fitted_rounds` returns a number implement it.
        """
        raise NotImplementedError(
            f"model family {self.name!r} reports its fitted rounds but cannot fit a fixed number of them; "
            "implement fit_rounds, or return None from fitted_rounds"
        )

    def round_curve(self, model: Any) -> list[float]:
        """The loss early stopping watched on the validation rows after each round of ``model`` (lower is better),
        for the families with :attr:`cv_rounds`."""
        raise NotImplementedError(f"model family {self.name!r} has no per-round curve; set cv_rounds = False")

    def predict_rounds(self, model: Any, X: pd.DataFrame, task: str, rounds: int) -> np.ndarray:
        """Predictions of ``model``'s first ``rounds`` rounds, in :meth:`predict`'s convention (:attr:`cv_rounds`)."""
        raise NotImplementedError(f"model family {self.name!r} cannot predict with part of its rounds")

    def fit_reporting(self, estimator: Any, data: TrainingData, report: StepReport) -> Any:
        """Fit like :meth:`fit`, calling ``report(step, predict)`` as training goes (for pruning).

        Boosting families call it after each round; ``report`` raises to stop a hopeless trial. The default fits
        without reporting, so the trial is never pruned.
        """
        return self.fit(estimator, data)

    def predict(self, estimator: Any, X: pd.DataFrame, task: str) -> np.ndarray:
        """Predictions in sparksweep's convention (see :mod:`sparksweep.metrics`)."""
        if task == "regression":
            return np.asarray(estimator.predict(X), dtype=np.float64)
        proba = np.asarray(estimator.predict_proba(X), dtype=np.float64)
        return proba[:, 1] if task == "binary" else proba

    def save(self, estimator: Any, directory: Path) -> SavedModel:
        """Write the fitted estimator with skops (sklearn's safe format); boosting families use their own."""
        from sparksweep.models import _skops

        path = directory / "model.skops"
        _skops.dump(estimator, path)
        return SavedModel(path, "skops", f"{type(estimator).__module__}.{type(estimator).__qualname__}")

    def __repr__(self) -> str:
        return f"<model family {self.name!r}>"
