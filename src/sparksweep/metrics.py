"""The metric registry: each metric's name, direction, the tasks it applies to and how to compute it.

Predictions follow one convention across sparksweep:

* ``binary``: a 1-D array of the positive-class probability;
* ``multiclass``: a 2-D array of class probabilities, columns in the order of the encoded classes;
* ``regression``: a 1-D array of predicted values.

Example:
    >>> import numpy as np
    >>> m = get_metric("auc_roc")
    >>> m.direction.value, round(m(np.array([0, 1, 1]), np.array([0.2, 0.9, 0.6])), 3)
    ('maximize', 1.0)
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sparksweep.errors import SpecError

__all__ = ["DEFAULT_METRIC", "METRICS", "Direction", "Metric", "get_metric", "register_metric"]

Array = npt.NDArray[np.float64]


class Direction(enum.Enum):
    """Whether larger or smaller values of a metric are better."""

    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"

    def better(self, candidate: float, incumbent: float | None) -> bool:
        """True when ``candidate`` is strictly better than ``incumbent`` (any value beats ``None``)."""
        if incumbent is None:
            return True
        return candidate > incumbent if self is Direction.MAXIMIZE else candidate < incumbent

    def improvement(self, candidate: float, incumbent: float) -> float:
        """How much better ``candidate`` is than ``incumbent``, positive when better."""
        return candidate - incumbent if self is Direction.MAXIMIZE else incumbent - candidate


@dataclass(frozen=True)
class Metric:
    """A named metric: ``metric(y_true, prediction) -> float``."""

    name: str
    direction: Direction
    tasks: frozenset[str]
    fn: Callable[[npt.NDArray[np.generic], Array], float]

    def __call__(self, y_true: npt.NDArray[np.generic], prediction: Array) -> float:
        return float(self.fn(np.asarray(y_true), np.asarray(prediction, dtype=np.float64)))


def _labels(prediction: Array) -> npt.NDArray[np.int64]:
    if prediction.ndim == 1:
        return (prediction >= 0.5).astype(np.int64)
    return np.asarray(prediction.argmax(axis=1), dtype=np.int64)


def _auc_roc(y: npt.NDArray[np.generic], p: Array) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p))


def _auc_roc_ovr(y: npt.NDArray[np.generic], p: Array) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p, multi_class="ovr", labels=list(range(p.shape[1]))))


def _log_loss(y: npt.NDArray[np.generic], p: Array) -> float:
    from sklearn.metrics import log_loss

    if p.ndim == 1:
        return float(log_loss(y, p, labels=[0, 1]))
    return float(log_loss(y, p, labels=list(range(p.shape[1]))))


def _accuracy(y: npt.NDArray[np.generic], p: Array) -> float:
    return float(np.mean(_labels(p) == y))


def _balanced_accuracy(y: npt.NDArray[np.generic], p: Array) -> float:
    from sklearn.metrics import balanced_accuracy_score

    return float(balanced_accuracy_score(y, _labels(p)))


def _f1(y: npt.NDArray[np.generic], p: Array) -> float:
    from sklearn.metrics import f1_score

    average = "binary" if p.ndim == 1 else "macro"
    return float(f1_score(y, _labels(p), average=average))


def _average_precision(y: npt.NDArray[np.generic], p: Array) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, p))


def _rmse(y: npt.NDArray[np.generic], p: Array) -> float:
    return float(np.sqrt(np.mean((y.astype(np.float64) - p) ** 2)))


def _mae(y: npt.NDArray[np.generic], p: Array) -> float:
    return float(np.mean(np.abs(y.astype(np.float64) - p)))


def _r2(y: npt.NDArray[np.generic], p: Array) -> float:
    from sklearn.metrics import r2_score

    return float(r2_score(y, p))


def _mape(y: npt.NDArray[np.generic], p: Array) -> float:
    from sklearn.metrics import mean_absolute_percentage_error

    return float(mean_absolute_percentage_error(y, p))


_MAX, _MIN = Direction.MAXIMIZE, Direction.MINIMIZE
_BIN, _MULTI, _REG = frozenset({"binary"}), frozenset({"multiclass"}), frozenset({"regression"})
_CLS = _BIN | _MULTI

METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("auc_roc", _MAX, _BIN, _auc_roc),
        Metric("auc_roc_ovr", _MAX, _MULTI, _auc_roc_ovr),
        Metric("log_loss", _MIN, _CLS, _log_loss),
        Metric("accuracy", _MAX, _CLS, _accuracy),
        Metric("balanced_accuracy", _MAX, _CLS, _balanced_accuracy),
        Metric("f1", _MAX, _CLS, _f1),
        Metric("average_precision", _MAX, _BIN, _average_precision),
        Metric("rmse", _MIN, _REG, _rmse),
        Metric("mae", _MIN, _REG, _mae),
        Metric("r2", _MAX, _REG, _r2),
        Metric("mape", _MIN, _REG, _mape),
    ]
}
"""Every metric sparksweep knows, by name."""

DEFAULT_METRIC: dict[str, str] = {"binary": "auc_roc", "multiclass": "log_loss", "regression": "rmse"}
"""The metric a sweep optimizes when the spec names none."""


def _import_metric(path: str) -> Metric:
    """The :class:`Metric` at ``"package.module:attribute"``."""
    import importlib

    module_name, _, attribute = path.partition(":")
    hint = (
        "define it as Metric(name='my_metric', direction=Direction.MAXIMIZE, tasks=frozenset({'binary'}), "
        "fn=my_function) in an importable module (installed where the trials run too) and give its path as "
        "'package.module:attribute'"
    )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SpecError(f"metric {path!r}: module {module_name!r} cannot be imported ({exc}); {hint}") from exc
    obj = getattr(module, attribute, None)
    if obj is None:
        raise SpecError(f"metric {path!r}: module {module_name!r} has no attribute {attribute!r}; {hint}")
    if not isinstance(obj, Metric):
        raise SpecError(
            f"metric {path!r} is a {type(obj).__name__}, not a sparksweep Metric (its direction and tasks must be "
            f"declared); {hint}"
        )
    return obj


def get_metric(name: str) -> Metric:
    """Look up a metric by name, or import a custom one by path (``"my_package.metrics:brier"``).

    Raises :class:`SpecError` with the known names when the name is unknown.

    Example:
        >>> get_metric("my_package.metrics:brier").direction  # doctest: +SKIP
        <Direction.MINIMIZE: 'minimize'>
    """
    if ":" in name:
        return _import_metric(name)
    try:
        return METRICS[name]
    except KeyError:
        raise SpecError(
            f"unknown metric {name!r}; choose one of {sorted(METRICS)}, or give the import path of your own "
            "Metric as 'package.module:attribute'"
        ) from None


def register_metric(metric: Metric) -> None:
    """Add a custom metric to the registry (its name must be new)."""
    if metric.name in METRICS:
        raise SpecError(f"a metric named {metric.name!r} is already registered; choose another name")
    METRICS[metric.name] = metric
