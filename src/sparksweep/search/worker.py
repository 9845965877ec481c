"""What runs inside a Spark task (or a pool process): one trial, from building the model to recording it.

The worker logs into the child run the driver created, through an explicit run id: MLflow's fluent run state is
per process, and a Spark Python worker runs one task at a time, so ``start_run(run_id=...)`` is safe here and lets
autologging write into the right run.
"""

from __future__ import annotations

import logging
import math
import os
import time
import traceback
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sparksweep.search.trial import TrialResult, TrialState

if TYPE_CHECKING:
    from sparksweep.data import TrainingData
    from sparksweep.models._base import BaseModelFamily

__all__ = ["DataHandle", "TrialTask", "run_trial"]

_ERROR_TAG_LIMIT = 4000


class DataHandle(Protocol):
    """How a worker gets the training data: once per process, keyed by its fingerprint."""

    @property
    def fingerprint(self) -> str: ...

    def load(self) -> TrainingData: ...


@dataclass(frozen=True)
class TrialTask:
    """Everything a worker needs to run one trial; picklable."""

    number: int
    run_id: str
    tracking_uri: str
    family: BaseModelFamily
    params: dict[str, Any]
    task: str
    metric: str
    features: list[str]
    classes: list[Any] | None
    n_jobs: int
    seed: int
    data: DataHandle
    autolog: bool = True
    log_model: bool = True


_DATA_CACHE: dict[str, TrainingData] = {}
_AUTOLOG_STATE: dict[str, bool] = {}


def _training_data(handle: DataHandle) -> TrainingData:
    """The handle's data, loaded once per process: later trials of the sweep in this process reuse it."""
    data = _DATA_CACHE.get(handle.fingerprint)
    if data is None:
        data = handle.load()
        _DATA_CACHE.clear()  # one data set per process at a time: sweeps run one after another
        _DATA_CACHE[handle.fingerprint] = data
    return data


def _configure_autolog(library: str, enabled: bool) -> None:
    """Switch one flavor's autologging on (cheaply: no models, datasets, examples or plots) or off, once."""
    if _AUTOLOG_STATE.get(library) is enabled:
        return
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
    _AUTOLOG_STATE[library] = enabled


def _quiet_worker() -> None:
    """Keep MLflow's per-model INFO lines and download progress bars out of the executors' logs."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.WARNING)


def _log_estimator_params(client: Any, task: TrialTask, estimator: Any) -> None:
    """Without autologging, still record every scalar setting of the estimator (defaults included), in one batch."""
    from mlflow.entities import Param

    get_params = getattr(estimator, "get_params", None)
    if get_params is None:
        return
    scalars = (bool, int, float, str)
    extra = {k: v for k, v in get_params(deep=True).items() if isinstance(v, scalars) and k not in task.params}
    if extra:
        client.log_batch(task.run_id, params=[Param(k, str(v)[:6000]) for k, v in extra.items()])


def run_trial(task: TrialTask) -> TrialResult:
    """Fit, evaluate and record one trial; a trial that raises is recorded as FAILED with its traceback.

    Errors in recording the failure itself are not swallowed: they propagate, and the driver marks the run failed.
    """
    import mlflow
    from mlflow import MlflowClient
    from threadpoolctl import threadpool_limits

    from sparksweep.scoring.metrics import get_metric

    started = time.perf_counter()
    _quiet_worker()
    mlflow.set_tracking_uri(task.tracking_uri)
    client = MlflowClient(task.tracking_uri)
    fit_time = 0.0
    try:
        t_data = time.perf_counter()
        data = _training_data(task.data)
        data_time = time.perf_counter() - t_data
        metric = get_metric(task.metric)
        estimator = task.family.build(task.params, task=task.task, n_jobs=task.n_jobs, seed=task.seed)
        with (
            mlflow.start_run(run_id=task.run_id),
            threadpool_limits(limits=task.n_jobs),
            warnings.catch_warnings(),
        ):
            # scikit-learn 1.9 renamed log_loss's y_pred; MLflow's autologging still passes it by the old name.
            warnings.filterwarnings("ignore", message="`y_pred` was renamed", category=FutureWarning)
            _configure_autolog(task.family.library, task.autolog)
            t0 = time.perf_counter()
            estimator = task.family.fit(estimator, data)  # the fitted model: the estimator or its pipeline
            fit_time = time.perf_counter() - t0
            value = metric(data.y_valid, task.family.predict(estimator, data.X_valid, task.task))
            if not math.isfinite(value):
                raise ValueError(f"metric {metric.name!r} is {value} on the validation split")
            metrics = {metric.name: value, "fit_time": fit_time, "data_load_time": data_time}
            mlflow.log_metrics(metrics)
            if not task.autolog:
                _log_estimator_params(client, task, estimator)
            model_uri = None
            if task.log_model:
                from sparksweep.models._mlflow import log_fitted_model

                model_uri = log_fitted_model(
                    task.family,
                    estimator,
                    task=task.task,
                    features=task.features,
                    example=data.X_valid,
                    classes=task.classes,
                    categories=data.categories,
                )
                mlflow.set_tag("sparksweep.model_uri", model_uri)
        return TrialResult(
            number=task.number,
            run_id=task.run_id,
            family=task.family.name,
            params=task.params,
            state=TrialState.COMPLETE,
            value=value,
            metrics=metrics,
            duration=time.perf_counter() - started,
            fit_time=fit_time,
            model_uri=model_uri,
        )
    except Exception as exc:  # a failing trial is a result, not a crash of the sweep
        error = "".join(traceback.format_exception(exc))
        client.set_tag(task.run_id, "sparksweep.error", error[-_ERROR_TAG_LIMIT:])
        client.log_text(task.run_id, error, "error.txt")
        client.set_terminated(task.run_id, status="FAILED")
        return TrialResult(
            number=task.number,
            run_id=task.run_id,
            family=task.family.name,
            params=task.params,
            state=TrialState.FAILED,
            duration=time.perf_counter() - started,
            fit_time=fit_time,
            error=error,
        )
