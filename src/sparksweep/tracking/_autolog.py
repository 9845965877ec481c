"""What a trial records about its fitted estimator besides the searched params and the validation metric.

Three modes (``tracking.autolog``):

* ``sparksweep`` (the default): every setting of the estimator (defaults included) as params, the tags
  ``estimator_name`` and ``estimator_class``, and the training curves of the boosting families (per round, named as
  MLflow's autologging names them: ``validation_0-logloss`` for XGBoost, ``valid_0-binary_logloss`` for LightGBM,
  with ``best_iteration`` and ``stopped_iteration``; ``validation_score`` for HistGradientBoosting). It is read
  from the fitted estimator after the fit and written in the trial's one batch of results, so it costs a few
  milliseconds: no patched ``fit``, no extra prediction, no plot, no extra round trip to the store.
* ``mlflow``: MLflow's own per-flavor autologging (``mlflow.sklearn.autolog`` etc., without models, datasets or
  input examples). For scikit-learn it also scores the whole training set (``training_*`` metrics), draws three
  PNG plots (confusion matrix, ROC and precision-recall curves) and writes the estimator's HTML on every fit; none
  of this can be switched off, and it costs 0.45-0.65 s per trial (``benchmarks/bench_autolog.py``, 5,000 rows).
  LightGBM's autologging also draws two feature-importance plots (0.18 s).
* ``off``: the estimator's settings only.

Example:
    >>> from sklearn.linear_model import LogisticRegression
    >>> record = estimator_record(LogisticRegression(C=0.5), mode="sparksweep", searched={"C": 0.5})
    >>> record.tags["estimator_name"], record.params["max_iter"], "C" in record.params
    ('LogisticRegression', '100', False)
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from sparksweep.errors import SpecError

__all__ = [
    "AUTOLOG_MODES",
    "AutologMode",
    "EstimatorRecord",
    "autolog_mode",
    "configure_mlflow_autolog",
    "estimator_record",
]

AutologMode = Literal["sparksweep", "mlflow", "off"]
AUTOLOG_MODES: tuple[str, ...] = get_args(AutologMode)
_PARAM_LIMIT = 6000
_MLFLOW_AUTOLOG_STATE: dict[str, bool] = {}


def autolog_mode(value: AutologMode | bool | str) -> AutologMode:
    """The mode for a ``tracking.autolog`` value: ``true`` is ``sparksweep``, ``false`` is ``off``.

    Example:
        >>> autolog_mode(True), autolog_mode(False), autolog_mode("mlflow")
        ('sparksweep', 'off', 'mlflow')
    """
    if value is True:
        return "sparksweep"
    if value is False:
        return "off"
    if value in AUTOLOG_MODES:
        return cast(AutologMode, value)
    raise SpecError(
        f"tracking.autolog must be one of {', '.join(AUTOLOG_MODES)} (or true / false); got {value!r}. "
        "Use 'sparksweep' for cheap per-trial records, 'mlflow' for MLflow's full autologging"
    )


def configure_mlflow_autolog(library: str, enabled: bool) -> None:
    """Switch MLflow's autologging for one flavor on (without models, datasets, input examples or signatures) or
    off, once per process: patching is process-wide and costs ~10 ms, so it is not redone per trial."""
    if bool(_MLFLOW_AUTOLOG_STATE.get(library)) is enabled:
        return  # already so (never switched on counts as off: the flavor module is not even imported)
    import mlflow

    common: dict[str, Any] = {
        "log_models": False,
        "log_datasets": False,
        "log_input_examples": False,
        "log_model_signatures": False,
        "silent": True,
        "disable": not enabled,
    }
    if library == "sklearn":
        mlflow.sklearn.autolog(log_post_training_metrics=False, **common)
    elif library == "xgboost":
        mlflow.xgboost.autolog(importance_types=[], **common)
    elif library == "lightgbm":
        mlflow.lightgbm.autolog(**common)
    _MLFLOW_AUTOLOG_STATE[library] = enabled


@dataclass(frozen=True)
class EstimatorRecord:
    """What a trial's run gets about its estimator: params, tags and (stepped) metrics, written in one batch."""

    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: list[tuple[str, float, int]] = field(default_factory=list)
    """``(name, value, step)`` points: the training curves and their summary numbers."""

    def entities(self, timestamp_ms: int | None = None) -> tuple[list[Any], list[Any], list[Any]]:
        """The record as MLflow entities ``(metrics, params, tags)`` for :meth:`MlflowClient.log_batch`."""
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        return (
            [Metric(name, value, now, step) for name, value, step in self.metrics],
            [Param(k, v) for k, v in self.params.items()],
            [RunTag(k, v) for k, v in self.tags.items()],
        )


def estimator_record(model: Any, *, mode: AutologMode, searched: Mapping[str, Any]) -> EstimatorRecord:
    """What ``mode`` records about the fitted ``model`` (an estimator, or a pipeline ending in one).

    Params already logged as searched hyperparameters are left out (MLflow refuses to log a param twice with a
    different text, and the searched value is the one the sweep chose). Under ``mlflow``, MLflow's autologging has
    recorded everything already, so the record is empty.
    """
    if mode == "mlflow":
        return EstimatorRecord()
    estimator = _final_estimator(model)
    params = _params(estimator, searched)
    if mode == "off":
        return EstimatorRecord(params=params)
    cls = type(estimator)
    tags = {"estimator_name": cls.__name__, "estimator_class": f"{cls.__module__}.{cls.__qualname__}"}
    return EstimatorRecord(params=params, tags=tags, metrics=_curves(estimator))


def _final_estimator(model: Any) -> Any:
    steps = getattr(model, "steps", None)
    return steps[-1][1] if isinstance(steps, list) and steps else model


def _params(estimator: Any, searched: Mapping[str, Any]) -> dict[str, str]:
    """Every setting of ``estimator`` as MLflow's autologging logs them (``str`` of the value, ``None`` included)."""
    get_params = getattr(estimator, "get_params", None)
    if get_params is None:
        return {}
    return {k: str(v)[:_PARAM_LIMIT] for k, v in get_params(deep=True).items() if k not in searched}


def _curves(estimator: Any) -> list[tuple[str, float, int]]:
    """Per-round validation curves of a boosting estimator, in MLflow's autologging names and conventions."""
    module = type(estimator).__module__
    if module.startswith("xgboost"):
        return _xgboost_curves(estimator)
    if module.startswith("lightgbm"):
        return _lightgbm_curves(estimator)
    return _sklearn_curves(estimator)


def _stepped(results: Mapping[str, Mapping[str, Sequence[float]]]) -> tuple[dict[str, list[float]], int]:
    """``{data: {metric: values}}`` as ``{"data-metric": values}`` and the number of rounds."""
    curves = {
        f"{data}-{name}": [float(v) for v in values] for data, by in results.items() for name, values in by.items()
    }
    return curves, max((len(v) for v in curves.values()), default=0)


def _points(curves: Mapping[str, list[float]]) -> list[tuple[str, float, int]]:
    return [(name, value, step) for name, values in curves.items() for step, value in enumerate(values)]


def _with_best(
    curves: dict[str, list[float]], rounds: int, best: int | None, stopped: int, best_index: int | None
) -> list[tuple[str, float, int]]:
    """The curves, then (when training stopped early) ``stopped_iteration`` and ``best_iteration``, and the best
    round's values once more at step ``rounds``: the values the run table shows are then those of the model kept."""
    points = _points(curves)
    if best is None or best_index is None or not 0 <= best_index < rounds:
        return points
    points += [("stopped_iteration", float(stopped), 0), ("best_iteration", float(best), 0)]
    points += [(name, values[best_index], rounds) for name, values in curves.items() if best_index < len(values)]
    return points


def _xgboost_curves(estimator: Any) -> list[tuple[str, float, int]]:
    curves, rounds = _stepped(getattr(estimator, "evals_result_", None) or {})  # absent without an eval set
    best = getattr(estimator, "best_iteration", None) if estimator.get_params().get("early_stopping_rounds") else None
    # As mlflow.xgboost.autolog: stopped_iteration is the last round's index, best_iteration XGBoost's own (0-based).
    return _with_best(curves, rounds, best, rounds - 1, best)


def _lightgbm_curves(estimator: Any) -> list[tuple[str, float, int]]:
    curves, rounds = _stepped(getattr(estimator, "evals_result_", None) or {})
    best = getattr(estimator, "best_iteration_", None)
    # As mlflow.lightgbm.autolog: best_iteration is LightGBM's own (1-based; 0 when training did not stop early).
    if not best:
        return _points(curves)
    return _with_best(curves, rounds, int(best), rounds, int(best) - 1)


def _sklearn_curves(estimator: Any) -> list[tuple[str, float, int]]:
    """scikit-learn gradient boosting's per-iteration ``train_score_`` / ``validation_score_`` as recorded by the
    estimator (HistGradientBoosting: its scorer, the negated loss by default; GradientBoosting: the training loss)."""
    curves: dict[str, list[float]] = {}
    for attr, name in (("train_score_", "training_score"), ("validation_score_", "validation_score")):
        values = getattr(estimator, attr, None)
        if values is not None and len(values) > 1:
            curves[name] = [float(v) for v in values]
    points = _points(curves)
    n_iter = getattr(estimator, "n_iter_", None)
    if curves and n_iter is not None:
        points.append(("stopped_iteration", float(n_iter), 0))
    return points
