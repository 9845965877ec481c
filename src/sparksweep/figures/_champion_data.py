"""The data behind the champion's figures, from its model and the test rows the gate scored it on: feature
importances, ROC and precision-recall curves, the confusion matrix, calibration, and for regression the fit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt
    import pandas as pd

    from sparksweep.metrics import Metric

__all__ = [
    "DECISION_THRESHOLD",
    "Calibration",
    "ConfusionMatrix",
    "Curve",
    "Importance",
    "RegressionFit",
    "TestScores",
    "calibration",
    "confusion",
    "library_importance",
    "permutation_importance",
    "pr_curves",
    "regression_fit",
    "roc_curves",
    "scored_sample",
    "top_importance",
]

DECISION_THRESHOLD = 0.5
"""The positive-class probability from which a binary model predicts the positive class (as sparksweep's label
metrics, accuracy and f1, count it)."""
TOP_FEATURES = 20
_PERMUTATION_ROWS = 2000
_PERMUTATION_REPEATS = 3


@dataclass(frozen=True)
class TestScores:
    """The champion's predictions on the test rows, in sparksweep's convention (binary: P(positive class);
    multiclass: one column per class; regression: the values), with the encoded target."""

    task: str
    classes: tuple[str, ...]
    y: npt.NDArray[Any]
    predictions: npt.NDArray[np.float64]

    @property
    def labels(self) -> npt.NDArray[np.int64]:
        """The predicted class codes at :data:`DECISION_THRESHOLD` (binary) or the most likely class."""
        if self.predictions.ndim == 1:
            return (self.predictions >= DECISION_THRESHOLD).astype(np.int64)
        return np.asarray(self.predictions.argmax(axis=1), dtype=np.int64)


@dataclass(frozen=True)
class Importance:
    """Feature importances, the top ones named (largest first) and the rest summed."""

    kind: str
    names: tuple[str, ...]
    values: tuple[float, ...]
    rest: float
    n_rest: int


def top_importance(names: list[str], values: list[float], kind: str, top: int = TOP_FEATURES) -> Importance:
    """The ``top`` largest of ``values`` by name, and the sum of the others.

    Example:
        >>> top_importance(["a", "b", "c"], [0.1, 0.5, 0.2], "gain", top=2).names
        ('b', 'c')
    """
    order = sorted(range(len(values)), key=lambda i: -values[i])
    head, tail = order[:top], order[top:]
    return Importance(
        kind=kind,
        names=tuple(names[i] for i in head),
        values=tuple(float(values[i]) for i in head),
        rest=float(sum(values[i] for i in tail)),
        n_rest=len(tail),
    )


def _sklearn_importance(model: Any) -> tuple[list[str], list[float], str] | None:
    from sklearn.pipeline import Pipeline

    estimator = model.steps[-1][1] if isinstance(model, Pipeline) else model
    if hasattr(estimator, "feature_importances_"):
        values, kind = np.asarray(estimator.feature_importances_, dtype=np.float64), "impurity"
    elif hasattr(estimator, "coef_"):
        coef = np.abs(np.asarray(estimator.coef_, dtype=np.float64))
        values, kind = (coef if coef.ndim == 1 else coef.mean(axis=0)), "|coefficient|"
    else:
        return None
    if isinstance(model, Pipeline) and len(model.steps) > 1:
        names = [str(n) for n in model[:-1].get_feature_names_out()]
    else:
        names = [str(n) for n in getattr(estimator, "feature_names_in_", range(len(values)))]
    return names, values.tolist(), kind


def library_importance(model: Any) -> Importance | None:
    """The model library's own importances of a sparksweep model (LightGBM and XGBoost gain, scikit-learn's
    impurity importances or coefficient sizes, over the features the model sees after its preprocessing); None for
    a model without them (an ensemble, k-nearest neighbours, histogram gradient boosting)."""
    from mlflow.exceptions import MlflowException

    try:
        inner = model.unwrap_python_model()
    except MlflowException:
        return None
    fitted, fmt = getattr(inner, "model", None), getattr(inner, "format", "")
    if fitted is None:
        return None
    if fmt == "lightgbm":
        gain = fitted.feature_importance(importance_type="gain")
        return top_importance(list(fitted.feature_name()), [float(v) for v in gain], "gain (LightGBM)")
    if fmt == "xgboost":
        scores = fitted.get_booster().get_score(importance_type="gain")
        names = list(fitted.get_booster().feature_names or scores)
        return top_importance(names, [float(scores.get(n, 0.0)) for n in names], "gain (XGBoost)")
    found = _sklearn_importance(fitted)
    if found is None:
        return None
    names, values, kind = found
    return top_importance(names, values, f"{kind} (scikit-learn)")


def predict(model: Any, X: pd.DataFrame) -> npt.NDArray[np.float64]:
    """A pyfunc model's predictions as float64 (through the wrapper's own ``predict_array`` when it is one of
    sparksweep's, which skips pyfunc's per-call schema checks)."""
    from mlflow.exceptions import MlflowException

    try:
        inner = model.unwrap_python_model()
    except MlflowException:
        inner = None
    if inner is not None and hasattr(inner, "predict_array"):
        return np.asarray(inner.predict_array(X), dtype=np.float64)
    return np.asarray(model.predict(X), dtype=np.float64)


def permutation_importance(model: Any, X: pd.DataFrame, y: npt.NDArray[Any], metric: Metric) -> Importance:
    """How much ``metric`` worsens on the test rows when each feature's values are shuffled (the mean over 3
    shuffles, on at most 2,000 rows), over the model's raw input columns; positive: the feature helps."""
    rng = np.random.default_rng(0)
    if len(X) > _PERMUTATION_ROWS:
        keep = np.sort(rng.choice(len(X), size=_PERMUTATION_ROWS, replace=False))
        X, y = X.iloc[keep], y[keep]
    X = X.reset_index(drop=True)
    baseline = metric(y, predict(model, X))
    drops = []
    for column in X.columns:
        shuffled = X.copy()
        scores = []
        for _ in range(_PERMUTATION_REPEATS):
            shuffled[column] = X[column].to_numpy()[rng.permutation(len(X))]
            scores.append(metric.direction.improvement(baseline, metric(y, predict(model, shuffled))))
        drops.append(float(np.mean(scores)))
    return top_importance([str(c) for c in X.columns], drops, f"permutation: drop in {metric.name} on test rows")


@dataclass(frozen=True)
class Curve:
    """One ROC (x: false positive rate, y: true positive rate) or precision-recall (x: recall, y: precision)
    curve, with the area under it (ROC AUC, average precision)."""

    label: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    area: float


def _one_vs_rest(scores: TestScores) -> list[tuple[str, npt.NDArray[np.int64], npt.NDArray[np.float64]]]:
    if scores.predictions.ndim == 1:
        label = scores.classes[1] if len(scores.classes) == 2 else "positive"
        return [(label, (scores.y == 1).astype(np.int64), scores.predictions)]
    return [
        (name, (scores.y == i).astype(np.int64), scores.predictions[:, i])
        for i, name in enumerate(scores.classes)
        if 0 < int(np.sum(scores.y == i)) < len(scores.y)
    ]


def roc_curves(scores: TestScores) -> tuple[Curve, ...]:
    """The ROC curve of the positive class (binary) or of each class against the rest (multiclass)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    out = []
    for label, y, p in _one_vs_rest(scores):
        fpr, tpr, _ = roc_curve(y, p)
        out.append(Curve(label, tuple(fpr.tolist()), tuple(tpr.tolist()), float(roc_auc_score(y, p))))
    return tuple(out)


def pr_curves(scores: TestScores) -> tuple[Curve, ...]:
    """The precision-recall curve of the positive class (binary) or of each class against the rest."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    out = []
    for label, y, p in _one_vs_rest(scores):
        precision, recall, _ = precision_recall_curve(y, p)
        area = float(average_precision_score(y, p))
        out.append(Curve(label, tuple(recall.tolist()), tuple(precision.tolist()), area))
    return tuple(out)


@dataclass(frozen=True)
class ConfusionMatrix:
    """Test rows by actual class (rows) and predicted class (columns), at ``threshold`` for a binary model."""

    labels: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]
    threshold: float | None

    @property
    def total(self) -> int:
        return sum(sum(row) for row in self.counts)


def confusion(scores: TestScores) -> ConfusionMatrix:
    from sklearn.metrics import confusion_matrix

    n = len(scores.classes) if scores.classes else (2 if scores.predictions.ndim == 1 else scores.predictions.shape[1])
    counts = confusion_matrix(scores.y, scores.labels, labels=list(range(n)))
    threshold = DECISION_THRESHOLD if scores.predictions.ndim == 1 else None
    labels = scores.classes or tuple(str(i) for i in range(n))
    return ConfusionMatrix(tuple(labels), tuple(tuple(int(c) for c in row) for row in counts), threshold)


@dataclass(frozen=True)
class Calibration:
    """Predicted probability (mean per bin) against the observed frequency, per bin of 10 over [0, 1]: of the
    positive class (binary) or of the predicted class being right (multiclass, "confidence")."""

    label: str
    predicted: tuple[float, ...]
    observed: tuple[float, ...]
    counts: tuple[int, ...]


def calibration(scores: TestScores, bins: int = 10) -> Calibration:
    if scores.predictions.ndim == 1:
        p, hit, label = scores.predictions, (scores.y == 1).astype(np.float64), "P(positive class)"
    else:
        p = scores.predictions.max(axis=1)
        hit, label = (scores.labels == scores.y).astype(np.float64), "confidence of the predicted class"
    which = np.clip((p * bins).astype(np.int64), 0, bins - 1)
    predicted, observed, counts = [], [], []
    for b in range(bins):
        inside = which == b
        if inside.any():
            predicted.append(float(p[inside].mean()))
            observed.append(float(hit[inside].mean()))
            counts.append(int(inside.sum()))
    return Calibration(label, tuple(predicted), tuple(observed), tuple(counts))


@dataclass(frozen=True)
class RegressionFit:
    """A regression model's predictions against the actual values on the test rows."""

    actual: tuple[float, ...]
    predicted: tuple[float, ...]

    @property
    def residuals(self) -> tuple[float, ...]:
        """Actual minus predicted, per test row."""
        return tuple(a - p for a, p in zip(self.actual, self.predicted, strict=True))


def regression_fit(scores: TestScores) -> RegressionFit:
    return RegressionFit(
        tuple(float(v) for v in np.asarray(scores.y, dtype=np.float64)), tuple(scores.predictions.tolist())
    )


def scored_sample(X: pd.DataFrame, scores: TestScores, rows: int = 20) -> pd.DataFrame:
    """A few test rows as the champion scored them: their features, the actual target and the prediction (with
    each class's probability for a classifier)."""
    take = np.random.default_rng(0).choice(len(X), size=min(rows, len(X)), replace=False)
    take.sort()
    out = X.iloc[take].reset_index(drop=True).copy()
    if scores.task == "regression":
        out["actual"] = np.asarray(scores.y, dtype=np.float64)[take]
        out["predicted"] = scores.predictions[take]
        return out
    names = np.asarray(scores.classes or [str(i) for i in range(int(scores.labels.max()) + 1)], dtype=object)
    out["actual"] = names[np.asarray(scores.y)[take]]
    out["predicted"] = names[scores.labels[take]]
    if scores.predictions.ndim == 1:
        out[f"p_{names[-1]}"] = scores.predictions[take]
    else:
        for i, name in enumerate(names):
            out[f"p_{name}"] = scores.predictions[take, i]
    return out
