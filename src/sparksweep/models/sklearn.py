"""scikit-learn families.

Default ranges follow published tuning studies: Probst, Boulesteix & Bischl, "Tunability: Importance of
Hyperparameters of Machine Learning Algorithms" (JMLR 2019) and Probst, Wright & Boulesteix, "Hyperparameters and
tuning strategies for random forest" (WIREs 2019), narrowed where a range only costs time on tabular data of this size
(FLAML's default spaces, flaml/automl/model.py, make the same trade).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from sparksweep.data import TrainingData
from sparksweep.models._base import BaseModelFamily
from sparksweep.search.space import Distribution, Float, Int

if TYPE_CHECKING:
    from sparksweep.search.pruning import StepReport

__all__ = ["HistGradientBoostingFamily", "LogisticRegressionFamily", "RandomForestFamily"]

_ALL = frozenset({"binary", "multiclass", "regression"})
_CLASSIFICATION = frozenset({"binary", "multiclass"})


class HistGradientBoostingFamily(BaseModelFamily):
    """``HistGradientBoostingClassifier`` / ``Regressor`` with early stopping on the validation split."""

    name: ClassVar[str] = "sklearn.hist_gradient_boosting"
    tasks: ClassVar[frozenset[str]] = _ALL
    library: ClassVar[str] = "sklearn"

    def default_space(self, task: str) -> dict[str, Distribution]:
        return {
            "learning_rate": Float(0.01, 0.3, log=True),
            "max_leaf_nodes": Int(8, 128, log=True),
            "min_samples_leaf": Int(5, 200, log=True),
            "l2_regularization": Float(1e-6, 10.0, log=True),
        }

    def build(self, params: dict[str, Any], *, task: str, n_jobs: int, seed: int) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        cls = HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier
        # Threads are bounded by threadpoolctl around fit/predict (HGB has no n_jobs).
        return cls(max_iter=500, early_stopping=True, n_iter_no_change=20, random_state=seed, **params)

    def fit(self, estimator: Any, data: TrainingData) -> Any:
        estimator.fit(data.X_train, data.y_train, X_val=data.X_valid, y_val=data.y_valid)
        return estimator

    def fit_reporting(self, estimator: Any, data: TrainingData, report: StepReport) -> Any:
        # HGB has no callbacks: grow it in chunks of 10 iterations with warm_start, reporting after each.
        total = int(estimator.max_iter)
        estimator.set_params(warm_start=True)
        try:
            for rounds in range(10, total + 10, 10):
                estimator.set_params(max_iter=min(rounds, total))
                self.fit(estimator, data)
                report(int(estimator.n_iter_), lambda: self.predict(estimator, data.X_valid, data.task))
                if estimator.n_iter_ < min(rounds, total) or _stops_early(estimator):
                    break
        finally:
            estimator.set_params(warm_start=False, max_iter=total)
        return estimator


def _stops_early(estimator: Any) -> bool:
    """scikit-learn's own early-stopping rule on the validation scores so far: a chunk that ends exactly where one
    fit would have stopped must not grow another iteration."""
    scores = list(estimator.validation_score_)
    reference_position = estimator.n_iter_no_change + 1
    if len(scores) < reference_position:
        return False
    reference = scores[-reference_position] + estimator.tol
    return not any(score > reference for score in scores[-reference_position + 1 :])


class RandomForestFamily(BaseModelFamily):
    """``RandomForestClassifier`` / ``Regressor``."""

    name: ClassVar[str] = "sklearn.random_forest"
    tasks: ClassVar[frozenset[str]] = _ALL
    library: ClassVar[str] = "sklearn"

    def default_space(self, task: str) -> dict[str, Distribution]:
        return {
            "n_estimators": Int(50, 250, log=True),
            "max_depth": Int(4, 20),
            "max_features": Float(0.1, 1.0),
            "min_samples_leaf": Int(1, 50, log=True),
        }

    def build(self, params: dict[str, Any], *, task: str, n_jobs: int, seed: int) -> Any:
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        cls = RandomForestRegressor if task == "regression" else RandomForestClassifier
        return cls(n_jobs=n_jobs, random_state=seed, **params)


class LogisticRegressionFamily(BaseModelFamily):
    """Imputation, standard scaling and ``LogisticRegression`` in one pipeline."""

    name: ClassVar[str] = "sklearn.logistic_regression"
    tasks: ClassVar[frozenset[str]] = _CLASSIFICATION
    library: ClassVar[str] = "sklearn"

    def default_space(self, task: str) -> dict[str, Distribution]:
        return {"C": Float(1e-4, 1e2, log=True)}

    def build(self, params: dict[str, Any], *, task: str, n_jobs: int, seed: int) -> Any:
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(
            SimpleImputer(strategy="median"),
            StandardScaler(),
            LogisticRegression(max_iter=1000, random_state=seed, **params),
        )
