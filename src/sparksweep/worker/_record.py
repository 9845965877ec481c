"""Recording a computed trial in its child run: the metrics, the model, the final status; a pruned trial; a failed
one (its traceback as the ``sparksweep.error`` tag and the ``error.txt`` artifact). Every write is retried on
transient store errors, and a trial is COMPLETE only once its results are in the store."""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sparksweep.errors import TrialError
from sparksweep.tracking import (
    COMPUTE_TIME_METRIC,
    MODEL_NOT_KEPT,
    TAG_MODEL_KEPT,
    TAG_MODEL_URI,
    AutologMode,
    estimator_record,
)
from sparksweep.trial import TrialResult, TrialState
from sparksweep.worker._process import tracking_client

if TYPE_CHECKING:
    from sparksweep.data import TrainingData
    from sparksweep.pruning import StepReporter
    from sparksweep.worker._runs import RunOpening
    from sparksweep.worker._task import ObjectiveTask, TrialTask

__all__ = ["ERROR_TAG_LIMIT", "FitOutcome", "end_run", "failed_draft", "failed_result", "metric_point"]

ERROR_TAG_LIMIT = 4000
"""The last characters of a traceback kept in the ``sparksweep.error`` tag (the whole of it is in ``error.txt``)."""


@dataclass
class FitOutcome:
    """A model trial's outcome between its computation (:mod:`sparksweep.worker._fit`) and its recording."""

    task: TrialTask
    opening: RunOpening
    started: float
    autolog: AutologMode
    metric_name: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    fold_scores: tuple[float, ...] = ()
    """The metric on each CV fold scored (all k, or the ones before the trial lost its race); empty without CV."""
    reporter: StepReporter | None = None
    data_time: float = 0.0
    fit_time: float = 0.0
    compute_time: float | None = None
    """Seconds from the trial's start until it was computed (before its recording)."""
    estimator: Any = None
    data: TrainingData | None = None
    value: float = math.nan
    predictions: Any = None

    def _open(self) -> tuple[TrialTask, Any]:
        task = self.opening.task(self.task)  # raises when the run could not be created: the driver records it
        return task, tracking_client(task.tracking_uri)

    def draft(self) -> TrialResult:
        """The computed trial's result before it is recorded (``recorded`` False, no model): what the driver records
        if the worker dies while recording it."""
        reporter = self.reporter
        return TrialResult(
            number=self.task.number,
            run_id=self.task.run_id,
            family=self.task.family.name,
            params=self.task.params,
            state=TrialState.COMPLETE,
            value=self.value,
            metrics={
                **self.metrics,
                self.metric_name: self.value,
                "fit_time": self.fit_time,
                "data_load_time": self.data_time,
                **self._compute_time(),
            },
            duration=time.perf_counter() - self.started,
            fit_time=self.fit_time,
            step=None if reporter is None else reporter.last_step,
            intermediate={} if reporter is None else dict(reporter.intermediate),
            pruner_attrs={} if reporter is None else reporter.system_attrs,
            fold_scores=self.fold_scores,
            predictions=self.predictions,
            slot=self.task.slot,
            compute_time=self.compute_time,
            recorded=False,
        )

    def _compute_time(self) -> dict[str, float]:
        return {} if self.compute_time is None else {COMPUTE_TIME_METRIC: self.compute_time}

    def record(self) -> TrialResult:
        """Write the trial's model, metrics, settings and end into its run (the model and one batch)."""
        task, client = self._open()
        if self.data is None:
            raise TrialError(f"trial {task.number} has no fitted model to record")
        result = self.draft()
        try:
            model_uri = self._log_model(task, client, self.data) if task.keeps_model(self.value) else None
            self._log_results(task, client, result.metrics, model_uri)
            task.retry.call("mark the trial's run FINISHED", end_run, client, task.run_id, "FINISHED")
        except Exception as exc:  # not recorded: the trial counts as failed
            return self._failed(task, client, exc, "record")
        duration = time.perf_counter() - self.started
        return replace(result, run_id=task.run_id, model_uri=model_uri, duration=duration, recorded=True)

    def _log_model(self, task: TrialTask, client: Any, data: TrainingData) -> str:
        from sparksweep.models import log_fitted_model

        return task.retry.call(
            "log the trial's model",
            log_fitted_model,
            task.family,
            self.estimator,
            task=task.task,
            features=task.features,
            data=data,
            classes=task.classes,
            run=task.retry.call("read the trial's run", client.get_run, task.run_id),
        )

    def _log_results(self, task: TrialTask, client: Any, metrics: dict[str, float], model_uri: str | None) -> None:
        """One write for the metrics (linked to the model), the validation curve, the estimator's record and the
        model's URI: each write to the store is a round trip (a SQLite transaction, or an HTTP request)."""
        from mlflow.entities import Metric as MlflowMetric
        from mlflow.entities import RunTag

        record = estimator_record(self.estimator, mode=self.autolog, searched=task.params)
        now = int(time.time() * 1000)
        model_id = None if model_uri is None else model_uri.removeprefix("models:/")
        points = [MlflowMetric(k, v, now, 0, model_id=model_id) for k, v in metrics.items()]
        points += _step_points(f"valid_{self.metric_name}", self.reporter, now)
        extra_metrics, params, tags = record.entities(now)
        if model_uri is not None:
            tags.append(RunTag(TAG_MODEL_URI, model_uri))
        elif task.keep_improving:
            tags.append(RunTag(TAG_MODEL_KEPT, MODEL_NOT_KEPT))
        task.retry.call(
            "log the trial's results",
            client.log_batch,
            task.run_id,
            metrics=points + extra_metrics,
            params=params,
            tags=tags,
        )

    def record_pruned(self, pruned: Any, extra: dict[str, float] | None = None) -> TrialResult:
        """Record the trial as pruned at ``pruned.step`` (``extra``: more of its scores so far, e.g. its folds)."""
        task, client = self._open()
        try:
            return _pruned(self, task, client, pruned, extra=extra)
        except Exception as exc:  # not recorded: the trial counts as failed
            return self._failed(task, client, exc, "record")

    def record_failure(self, exc: Exception, stage: str) -> TrialResult:
        task, client = self._open()
        return self._failed(task, client, exc, stage)

    def failed_draft(self, exc: Exception) -> TrialResult:
        """The failed trial's result before it is recorded (see :func:`failed_draft`)."""
        return failed_draft(self.task, exc, duration=time.perf_counter() - self.started, fit_time=self.fit_time)

    def _failed(self, task: TrialTask, client: Any, exc: Exception, stage: str) -> TrialResult:
        duration = time.perf_counter() - self.started
        return failed_result(task, client, exc, stage, duration=duration, fit_time=self.fit_time)


def failed_draft(
    task: TrialTask | ObjectiveTask, exc: Exception, *, duration: float, fit_time: float = 0.0
) -> TrialResult:
    """A trial failed with ``exc``, before its failure is recorded (``recorded`` False): what the driver records if
    the worker dies while recording it."""
    return TrialResult(
        number=task.number,
        run_id=task.run_id,
        family=task.family_name,
        params=task.params,
        state=TrialState.FAILED,
        duration=duration,
        fit_time=fit_time,
        error="".join(traceback.format_exception(exc)),
        recorded=False,
    )


def failed_result(
    task: TrialTask | ObjectiveTask, client: Any, exc: Exception, stage: str, *, duration: float, fit_time: float = 0.0
) -> TrialResult:
    """Record ``task``'s trial as FAILED with ``exc``'s traceback (``stage`` "record": its results could not be
    written) and return the failed result; ``recorded`` is False when not even the FAILED status got through."""
    draft = failed_draft(task, exc, duration=duration, fit_time=fit_time)
    error = draft.error or ""
    if stage == "record":
        error += f"the trial's results could not be recorded in {task.tracking_uri}, so it counts as failed"
    terminated, problems = _record_failure(client, task, error)
    if problems:
        error += "\nrecording the failure also failed: " + "; ".join(problems)
    return replace(draft, error=error, recorded=terminated)


def _record_failure(client: Any, task: TrialTask | ObjectiveTask, error: str) -> tuple[bool, list[str]]:
    """Mark the run FAILED (first: that also leaves no fluent run active in this process), then tag it with the
    traceback, each retried; return whether the FAILED status was written, and what could not be."""
    steps: list[tuple[str, Callable[..., Any], tuple[Any, ...]]] = [
        ("mark the trial's run FAILED", end_run, (client, task.run_id, "FAILED")),
        ("tag the failed trial", client.set_tag, (task.run_id, "sparksweep.error", error[-ERROR_TAG_LIMIT:])),
        ("log the failed trial's traceback", client.log_text, (task.run_id, error, "error.txt")),
    ]
    problems: list[str] = []
    for what, fn, args in steps:
        try:
            task.retry.call(what, fn, *args)
        except Exception as exc:  # reported in the result; the driver marks the run failed once more
            problems.append(f"{type(exc).__name__}: {exc}")
            if fn is end_run:
                return False, problems
    return True, problems


def _pruned(
    outcome: FitOutcome, task: TrialTask, client: Any, pruned: Any, extra: dict[str, float] | None = None
) -> TrialResult:
    """Record a pruned trial: run status KILLED, tagged pruned, with the step it reached and its scores so far.

    Written with the same retries as a finished trial; if they fail, the caller records the trial as failed.
    """
    from mlflow.entities import RunTag

    reporter = outcome.reporter
    retry = task.retry.call
    retry("log the pruned trial's curve", _log_steps, client, task.run_id, f"valid_{outcome.metric_name}", reporter)
    retry(
        "record the pruned trial",
        client.log_batch,
        task.run_id,
        metrics=[
            metric_point("pruned_step", float(pruned.step)),
            metric_point("fit_time", outcome.fit_time),
            *(metric_point(k, v) for k, v in {**(extra or {}), **outcome._compute_time()}.items()),
        ],
        tags=[RunTag("sparksweep.state", "pruned"), RunTag("sparksweep.pruned_step", str(pruned.step))],
    )
    retry("mark the pruned trial's run KILLED", end_run, client, task.run_id, "KILLED")
    return TrialResult(
        number=task.number,
        run_id=task.run_id,
        family=task.family.name,
        params=task.params,
        state=TrialState.PRUNED,
        metrics=dict(extra or {}),
        duration=time.perf_counter() - outcome.started,
        fit_time=outcome.fit_time,
        step=pruned.step,
        intermediate={} if reporter is None else dict(reporter.intermediate),
        pruner_attrs={} if reporter is None else reporter.system_attrs,
        fold_scores=outcome.fold_scores,
    )


def end_run(client: Any, run_id: str, status: str) -> None:
    """End the trial's run: through the fluent API while it is the active run (that also pops it), else directly."""
    import mlflow

    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        mlflow.end_run(status)
    else:
        client.set_terminated(run_id, status=status)


def metric_point(name: str, value: float) -> Any:
    """One metric value at step 0, now (an ``mlflow.entities.Metric`` for ``log_batch``)."""
    from mlflow.entities import Metric as MlflowMetric

    return MlflowMetric(name, value, int(time.time() * 1000), 0)


def _step_points(name: str, reporter: StepReporter | None, now: int) -> list[Any]:
    """The pruning reporter's per-round validation scores as the stepped metric ``name``."""
    if reporter is None:
        return []
    from mlflow.entities import Metric as MlflowMetric

    return [MlflowMetric(name, v, now, step) for step, v in sorted(reporter.intermediate.items())]


def _log_steps(client: Any, run_id: str, name: str, reporter: StepReporter | None) -> None:
    points = _step_points(name, reporter, int(time.time() * 1000))
    if points:
        client.log_batch(run_id, metrics=points)
