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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sparksweep.search.retry import RetryPolicy
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
    retry: RetryPolicy = field(default_factory=RetryPolicy)


_DATA_CACHE: dict[str, TrainingData] = {}
_AUTOLOG_STATE: dict[str, bool] = {}


def _training_data(handle: DataHandle) -> TrainingData:
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
    # With a tracking server MLflow prints a "View run" link per ended run (and reads the run again to build it).
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
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


def _end_run(client: Any, run_id: str, status: str) -> None:
    """End the trial's run: through the fluent API while it is the active run (that also pops it), else directly."""
    import mlflow

    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        mlflow.end_run(status)
    else:
        client.set_terminated(run_id, status=status)


def _record_failure(client: Any, task: TrialTask, error: str) -> tuple[bool, list[str]]:
    """Mark the run FAILED (first: that also leaves no fluent run active in this process), then tag it with the
    traceback, each retried; return whether the FAILED status was written, and what could not be."""
    steps: list[tuple[str, Callable[..., Any], tuple[Any, ...]]] = [
        ("mark the trial's run FAILED", _end_run, (client, task.run_id, "FAILED")),
        ("tag the failed trial", client.set_tag, (task.run_id, "sparksweep.error", error[-_ERROR_TAG_LIMIT:])),
        ("log the failed trial's traceback", client.log_text, (task.run_id, error, "error.txt")),
    ]
    problems: list[str] = []
    for what, fn, args in steps:
        try:
            task.retry.call(what, fn, *args)
        except Exception as exc:  # reported in the result; the driver marks the run failed once more
            problems.append(f"{type(exc).__name__}: {exc}")
            if fn is _end_run:
                return False, problems
    return True, problems


def run_trial(task: TrialTask) -> TrialResult:
    """Fit, evaluate and record one trial.

    A trial whose model raises is recorded as FAILED with its traceback. So is a trial whose results (metric, params,
    model, final status) could not be written to the tracking store even after retries: a trial is COMPLETE only
    when its results are in the store. This function returns a result rather than raising, so Spark never re-runs
    a trial because its recording failed; a result with ``recorded=False`` tells the driver to mark the run failed.
    """
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric
    from threadpoolctl import threadpool_limits

    from sparksweep.scoring.metrics import get_metric

    started = time.perf_counter()
    _quiet_worker()
    task.retry.bound_http_retries()
    mlflow.set_tracking_uri(task.tracking_uri)
    client = MlflowClient(task.tracking_uri)
    fit_time = 0.0
    stage = "fit"
    try:
        data = _training_data(task.data)
        metric = get_metric(task.metric)
        estimator = task.family.build(task.params, task=task.task, n_jobs=task.n_jobs, seed=task.seed)
        task.retry.call("open the trial's run", mlflow.start_run, run_id=task.run_id)
        with threadpool_limits(limits=task.n_jobs), warnings.catch_warnings():
            # scikit-learn 1.9 renamed log_loss's y_pred; MLflow's autologging still passes it by the old name.
            warnings.filterwarnings("ignore", message="`y_pred` was renamed", category=FutureWarning)
            # Autologged extras are best effort: MLflow's autologging drops its own logging errors.
            _configure_autolog(task.family.library, task.autolog)
            t0 = time.perf_counter()
            task.family.fit(estimator, data)
            fit_time = time.perf_counter() - t0
            value = metric(data.y_valid, task.family.predict(estimator, data.X_valid, task.task))
            if not math.isfinite(value):
                raise ValueError(f"metric {metric.name!r} is {value} on the validation split")
            stage = "record"
            metrics = {metric.name: value, "fit_time": fit_time}
            now = int(time.time() * 1000)
            task.retry.call(
                "log the trial's metrics",
                client.log_batch,
                task.run_id,
                metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
            )
            if not task.autolog:
                task.retry.call("log the estimator's params", _log_estimator_params, client, task, estimator)
            model_uri = None
            if task.log_model:
                from sparksweep.models._mlflow import log_fitted_model

                model_uri = task.retry.call(
                    "log the trial's model",
                    log_fitted_model,
                    task.family,
                    estimator,
                    task=task.task,
                    features=task.features,
                    example=data.X_valid,
                    classes=task.classes,
                )
                task.retry.call("tag the model URI", client.set_tag, task.run_id, "sparksweep.model_uri", model_uri)
            task.retry.call("mark the trial's run FINISHED", _end_run, client, task.run_id, "FINISHED")
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
        if stage == "record":
            error += f"the trial's results could not be recorded in {task.tracking_uri}, so it counts as failed"
        terminated, problems = _record_failure(client, task, error)
        if problems:
            error += "\nrecording the failure also failed: " + "; ".join(problems)
        return TrialResult(
            number=task.number,
            run_id=task.run_id,
            family=task.family.name,
            params=task.params,
            state=TrialState.FAILED,
            duration=time.perf_counter() - started,
            fit_time=fit_time,
            error=error,
            recorded=terminated,
        )
