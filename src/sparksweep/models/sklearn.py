"""scikit-learn families.

Default ranges follow published tuning studies, narrowed where a range only costs time on tabular data:

* [Probst19] Probst, Boulesteix & Bischl, "Tunability: Importance of Hyperparameters of Machine Learning
  Algorithms", JMLR 20 (2019), Table 1 (the ranges searched for glmnet, kknn, svm, ranger and xgboost);
* [ProbstRF19] Probst, Wright & Boulesteix, "Hyperparameters and tuning strategies for random forest", WIREs Data
  Mining Knowl. Discov. (2019);
* [Geurts06] Geurts, Ernst & Wehenkel, "Extremely randomized trees", Machine Learning 63 (2006);
* [Friedman01] Friedman, "Greedy function approximation: a gradient boosting machine", Ann. Statist. (2001), and
  scikit-learn's user guide on gradient-boosting regularization (shrinkage below 0.1 with subsampling);
* [HsuLin] Hsu, Chang & Lin, "A Practical Guide to Support Vector Classification" (the LIBSVM guide): exponential
  grids C = 2^-5 ... 2^15 and gamma = 2^-15 ... 2^3 on scaled features;
* [FLAML] FLAML's default spaces (flaml/automl/model.py), which make the same time-for-range trade.

Families that cannot take categorical columns or missing values get a preprocessing step in their pipeline
(:mod:`sparksweep.models._preprocessing`): trees an ordinal code, linear, distance and kernel models one-hot columns
and standardized numbers.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from sparksweep.data import TrainingData
from sparksweep.models._base import BaseModelFamily
from sparksweep.models._preprocessing import Encoding, make_preprocessor
from sparksweep.pruning import REDUCTION_FACTOR
from sparksweep.space import Categorical, Distribution, Float, Int

if TYPE_CHECKING:
    from sparksweep.pruning import StepReport

__all__ = [
    "ExtraTreesFamily",
    "GradientBoostingFamily",
    "HistGradientBoostingFamily",
    "KNNFamily",
    "LinearFamily",
    "LogisticRegressionFamily",
    "RandomForestFamily",
    "SVMFamily",
]

_ALL = frozenset({"binary", "multiclass", "regression"})
_CLASSIFICATION = frozenset({"binary", "multiclass"})
_REGRESSION = frozenset({"regression"})


class HistGradientBoostingFamily(BaseModelFamily):
    """``HistGradientBoostingClassifier`` / ``Regressor`` with early stopping on the validation split.

    Categorical columns are used natively (``categorical_features="from_dtype"``) and missing values go to the
    side of each split that fits them best.
    """

    name: ClassVar[str] = "sklearn.hist_gradient_boosting"
    tasks: ClassVar[frozenset[str]] = _ALL
    library: ClassVar[str] = "sklearn"
    stops_early: ClassVar[bool] = True
    native_categorical: ClassVar[bool] = True

    def default_space(self, task: str) -> dict[str, Distribution]:
        # [Probst19] xgboost eta on a log scale, narrowed to [0.01, 0.3] as in [FLAML]; leaves and leaf size as in
        # LightGBM's tuning guide (HGB grows trees leaf-wise like LightGBM); iterations left to early stopping.
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
        return cls(
            max_iter=500,
            early_stopping=True,
            n_iter_no_change=20,
            categorical_features="from_dtype",
            random_state=seed,
            **params,
        )

    def fit(self, estimator: Any, data: TrainingData) -> Any:
        estimator.fit(data.X_train, data.y_train, sample_weight=data.w_train, X_val=data.X_valid, y_val=data.y_valid)
        return estimator

    def fitted_rounds(self, model: Any) -> int | None:
        # HGB keeps every iteration it grew (early stopping does not roll back), and predicts with all of them.
        grown = getattr(model, "n_iter_", None)
        return None if grown is None else int(grown)

    def fit_rounds(self, estimator: Any, data: TrainingData, rounds: int) -> Any:
        estimator.set_params(max_iter=rounds, early_stopping=False)
        estimator.fit(data.X_train, data.y_train, sample_weight=data.w_train)
        return estimator

    def fit_reporting(self, estimator: Any, data: TrainingData, report: StepReport) -> Any:
        # HGB has no callbacks: grow it with warm_start up to each report, then score it. Every warm-started fit
        # re-bins the data and re-predicts all the trees grown so far, so the chunks grow threefold (the rounds
        # 30, 90, 270, which every pruner judges): chunks of 10 rounds made a reporting fit cost 7 times a fit.
        total = int(estimator.max_iter)
        estimator.set_params(warm_start=True)
        try:
            target = report.next_due(0)
            while True:
                estimator.set_params(max_iter=min(target, total))
                self.fit(estimator, data)
                grown = int(estimator.n_iter_)
                report(grown, lambda: self.predict(estimator, data.X_valid, data.task))
                if grown < min(target, total) or grown >= total or _stops_early(estimator):
                    break
                target = report.next_due(max(target, REDUCTION_FACTOR * target - 1))
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


class GradientBoostingFamily(BaseModelFamily):
    """``GradientBoostingClassifier`` / ``Regressor`` (exact trees), grown until the validation loss stops falling.

    scikit-learn's own early stopping holds out part of the training rows; this family grows the ensemble in steps
    of :attr:`step` trees on the training split instead, scores the sweep's validation split after each step, stops
    after :attr:`patience` steps without improvement and keeps the best number of trees.
    """

    name: ClassVar[str] = "sklearn.gradient_boosting"
    tasks: ClassVar[frozenset[str]] = _ALL
    library: ClassVar[str] = "sklearn"
    stops_early: ClassVar[bool] = True
    encoding: ClassVar[Encoding] = "ordinal"
    step: ClassVar[int] = 25
    patience: ClassVar[int] = 3

    def default_space(self, task: str) -> dict[str, Distribution]:
        # [Friedman01]: shrinkage with stochastic subsampling; [Probst19] xgboost: max_depth, subsample, feature
        # fraction; learning rate narrowed to [0.01, 0.3] as for the other boosters ([FLAML]).
        return {
            "learning_rate": Float(0.01, 0.3, log=True),
            "max_depth": Int(2, 8),
            "subsample": Float(0.5, 1.0),
            "max_features": Float(0.3, 1.0),
            "min_samples_leaf": Int(1, 100, log=True),
        }

    def build(self, params: dict[str, Any], *, task: str, n_jobs: int, seed: int) -> Any:
        from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor

        cls = GradientBoostingRegressor if task == "regression" else GradientBoostingClassifier
        return cls(n_estimators=500, random_state=seed, **params)

    def _valid_loss(self, estimator: Any, X: Any, y: np.ndarray) -> float:
        if hasattr(estimator, "predict_proba"):
            proba = np.clip(estimator.predict_proba(X), 1e-15, 1.0)
            return float(-np.mean(np.log(proba[np.arange(len(y)), y])))
        return float(np.mean((estimator.predict(X) - y) ** 2))

    def fit(self, estimator: Any, data: TrainingData) -> Any:
        from sklearn.pipeline import Pipeline

        pre = make_preprocessor(data.numeric, data.categorical, scale=False, encoding=self.encoding)
        X_train = pre.fit_transform(data.X_train)
        X_valid = pre.transform(data.X_valid)
        most = int(estimator.n_estimators)
        estimator.set_params(warm_start=True)
        best_loss, best_n, n = math.inf, 0, 0
        while n < most:
            n = min(n + self.step, most)
            estimator.set_params(n_estimators=n)
            estimator.fit(X_train, data.y_train, sample_weight=data.w_train)
            loss = self._valid_loss(estimator, X_valid, data.y_valid)
            if loss < best_loss - 1e-9:
                best_loss, best_n = loss, n
            elif n - best_n >= self.patience * self.step:
                break
        _keep_first_stages(estimator, best_n)
        return Pipeline([("preprocess", pre), ("model", estimator)])

    def fitted_rounds(self, model: Any) -> int | None:
        stages = getattr(_last_step(model), "n_estimators_", None)
        return None if stages is None else int(stages)

    def fit_rounds(self, estimator: Any, data: TrainingData, rounds: int) -> Any:
        from sklearn.pipeline import Pipeline

        pre = make_preprocessor(data.numeric, data.categorical, scale=False, encoding=self.encoding)
        estimator.set_params(n_estimators=rounds, warm_start=False)
        model = Pipeline([("preprocess", pre), ("model", estimator)])
        model.fit(data.X_train, data.y_train, **self.weight_kwargs(model, data))
        return model


def _last_step(model: Any) -> Any:
    steps = getattr(model, "steps", None)
    return steps[-1][1] if isinstance(steps, list) and steps else model


def _keep_first_stages(estimator: Any, n: int) -> None:
    """Cut a fitted gradient-boosting ensemble back to its first ``n`` stages (the best on the validation split)."""
    if n >= len(estimator.estimators_):
        estimator.set_params(warm_start=False)
        return
    estimator.estimators_ = estimator.estimators_[:n]
    estimator.train_score_ = estimator.train_score_[:n]
    for attr in ("oob_improvement_", "oob_scores_"):
        if hasattr(estimator, attr):
            setattr(estimator, attr, getattr(estimator, attr)[:n])
    if hasattr(estimator, "oob_scores_"):
        estimator.oob_score_ = estimator.oob_scores_[-1]
    estimator.n_estimators_ = n
    estimator.set_params(n_estimators=n, warm_start=False)


class RandomForestFamily(BaseModelFamily):
    """``RandomForestClassifier`` / ``Regressor``; categorical columns as ordinal codes, missing numbers imputed."""

    name: ClassVar[str] = "sklearn.random_forest"
    tasks: ClassVar[frozenset[str]] = _ALL
    library: ClassVar[str] = "sklearn"
    encoding: ClassVar[Encoding] = "ordinal"

    def default_space(self, task: str) -> dict[str, Distribution]:
        # [ProbstRF19] / [Probst19] ranger: mtry as a share of the features in [0.1, 1], node size on a log scale;
        # the number of trees is not tuned there (more is never worse), capped at 250 to bound the time.
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


class ExtraTreesFamily(BaseModelFamily):
    """``ExtraTreesClassifier`` / ``Regressor``: random split points, so cheaper trees than a random forest."""

    name: ClassVar[str] = "sklearn.extra_trees"
    tasks: ClassVar[frozenset[str]] = _ALL
    library: ClassVar[str] = "sklearn"
    encoding: ClassVar[Encoding] = "ordinal"

    def default_space(self, task: str) -> dict[str, Distribution]:
        # [Geurts06]: the feature share K (defaults sqrt(p) for classification, p for regression) and the minimum
        # sample size n_min matter most; searched like mtry and node size in [ProbstRF19], trees capped as for RF.
        return {
            "n_estimators": Int(50, 250, log=True),
            "max_features": Float(0.1, 1.0),
            "min_samples_leaf": Int(1, 50, log=True),
            "bootstrap": Categorical((False, True)),
        }

    def build(self, params: dict[str, Any], *, task: str, n_jobs: int, seed: int) -> Any:
        from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

        cls = ExtraTreesRegressor if task == "regression" else ExtraTreesClassifier
        return cls(n_jobs=n_jobs, random_state=seed, **params)


class LogisticRegressionFamily(BaseModelFamily):
    """``LogisticRegression`` on imputed, standardized numbers and one-hot categories."""

    name: ClassVar[str] = "sklearn.logistic_regression"
    tasks: ClassVar[frozenset[str]] = _CLASSIFICATION
    library: ClassVar[str] = "sklearn"
    scale_numeric: ClassVar[bool] = True

    def default_space(self, task: str) -> dict[str, Distribution]:
        # [Probst19] glmnet: the penalty strength on a log scale (lambda in [2^-10, 2^10]); C = 1 / lambda, narrowed
        # to [1e-4, 1e2] on standardized features.
        return {"C": Float(1e-4, 1e2, log=True)}

    def build(self, params: dict[str, Any], *, task: str, n_jobs: int, seed: int) -> Any:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=1000, random_state=seed, **params)


class LinearFamily(BaseModelFamily):
    """Penalized linear regression: ridge, lasso or elastic net (``penalty``), on standardized features."""

    name: ClassVar[str] = "sklearn.linear"
    tasks: ClassVar[frozenset[str]] = _REGRESSION
    library: ClassVar[str] = "sklearn"
    scale_numeric: ClassVar[bool] = True

    def default_space(self, task: str) -> dict[str, Distribution]:
        # [Probst19] glmnet: lambda on a log scale and the L1 mixing share alpha in [0, 1]; here the pure ends are the
        # ridge and lasso choices, and l1_ratio (used by the elastic net only) spans the inside of [0, 1].
        return {
            "penalty": Categorical(("ridge", "lasso", "elastic_net")),
            "alpha": Float(1e-4, 1e2, log=True),
            "l1_ratio": Float(0.05, 0.95),
        }

    def build(self, params: dict[str, Any], *, task: str, n_jobs: int, seed: int) -> Any:
        from sklearn.linear_model import ElasticNet, Lasso, Ridge

        penalty = params.get("penalty", "ridge")
        alpha = float(params.get("alpha", 1.0))
        if penalty == "ridge":
            return Ridge(alpha=alpha)
        if penalty == "lasso":
            return Lasso(alpha=alpha, max_iter=5000, random_state=seed)
        if penalty == "elastic_net":
            return ElasticNet(
                alpha=alpha, l1_ratio=float(params.get("l1_ratio", 0.5)), max_iter=5000, random_state=seed
            )
        from sparksweep.errors import SpecError

        raise SpecError(f"sklearn.linear: unknown penalty {penalty!r}; choose ridge, lasso or elastic_net")


class KNNFamily(BaseModelFamily):
    """k-nearest neighbours on standardized numbers and one-hot categories (no sample weights)."""

    name: ClassVar[str] = "sklearn.knn"
    tasks: ClassVar[frozenset[str]] = _ALL
    library: ClassVar[str] = "sklearn"
    scale_numeric: ClassVar[bool] = True
    supports_sample_weight: ClassVar[bool] = False
    alternatives: ClassVar[str] = "sklearn.random_forest or sklearn.hist_gradient_boosting"

    def default_space(self, task: str) -> dict[str, Distribution]:
        # [Probst19] kknn: k in [1, 30]; distance weighting and the Minkowski power (1: Manhattan, 2: Euclidean).
        return {
            "n_neighbors": Int(1, 30, log=True),
            "weights": Categorical(("uniform", "distance")),
            "p": Categorical((1, 2)),
        }

    def build(self, params: dict[str, Any], *, task: str, n_jobs: int, seed: int) -> Any:
        from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

        cls = KNeighborsRegressor if task == "regression" else KNeighborsClassifier
        return cls(n_jobs=n_jobs, **params)


class SVMFamily(BaseModelFamily):
    """RBF-kernel ``SVC`` (Platt-scaled probabilities through ``CalibratedClassifierCV``) / ``SVR``, for small data.

    Kernel SVMs fit in time between quadratic and cubic in the rows ("impractical beyond tens of thousands of
    samples", scikit-learn's SVC documentation), so a training split above :attr:`max_train_rows` is refused before
    any trial runs.
    """

    name: ClassVar[str] = "sklearn.svm"
    tasks: ClassVar[frozenset[str]] = _ALL
    library: ClassVar[str] = "sklearn"
    scale_numeric: ClassVar[bool] = True
    max_train_rows: ClassVar[int | None] = 10_000
    alternatives: ClassVar[str] = (
        "sklearn.logistic_regression (or sklearn.linear), sklearn.hist_gradient_boosting or lightgbm"
    )

    def default_space(self, task: str) -> dict[str, Distribution]:
        # [HsuLin] C in 2^-5 ... 2^15 and gamma in 2^-15 ... 2^3; [Probst19] svm searched both in [2^-10, 2^10].
        # Intersected and narrowed at the ends that only slow the solver down on standardized features.
        space: dict[str, Distribution] = {
            "C": Float(2.0**-5, 2.0**10, log=True),
            "gamma": Float(2.0**-12, 2.0**3, log=True),
        }
        if task == "regression":
            space["epsilon"] = Float(1e-3, 1.0, log=True)
        return space

    def build(self, params: dict[str, Any], *, task: str, n_jobs: int, seed: int) -> Any:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import SVC, SVR

        if task == "regression":
            return SVR(kernel="rbf", cache_size=500, **params)
        # Platt-scaled probabilities from 3-fold cross-validated decision values, one SVC refit on all rows
        # (what scikit-learn 1.9 recommends instead of the deprecated SVC(probability=True)).
        svc = SVC(kernel="rbf", cache_size=500, random_state=seed, **params)
        return CalibratedClassifierCV(svc, method="sigmoid", cv=3, ensemble=False, n_jobs=n_jobs)
