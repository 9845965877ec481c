"""The sweep's parent run and the driver-side writes around its trials (progress, lost trials, summary)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sparksweep.errors import SpecError
from sparksweep.space import FAMILY_PARAM
from sparksweep.tracking._retry import RetryPolicy
from sparksweep.trial import TrialResult, TrialState

if TYPE_CHECKING:
    pass
from sparksweep.tracking._names import (
    ELAPSED_METRIC,
    SPEC_ARTIFACT,
    STATE_LOST,
    TAG_ERROR,
    TAG_KIND,
    TAG_PARENT,
    TAG_RESCORE_OF,
    TAG_RUN_NAME,
    TAG_SEARCHED,
    TAG_STATE,
    TAG_SWEEP_RUN,
    TAG_TRIAL_NUMBER,
)
from sparksweep.tracking._read import _param_text
from sparksweep.tracking._runs import TrialRunSpec
from sparksweep.tracking._salvage import finish_computed
from sparksweep.tracking._uri import artifact_location, prepare_store

T = TypeVar("T")


class _MetricWriter:
    """Writes a run's metrics from one background thread, in batches, so the sweep loop never waits on the store.

    A write waits until ``interval`` seconds have passed since the one before, so the metrics queued meanwhile go in
    one batch: a sweep of short trials writes its progress a few times a second, not once per trial (each write is
    a store transaction whose CPU the trials share). :meth:`flush` writes at once and returns once everything queued
    is written, or raises what writing it raised (after the tracker's retries); a writer that failed keeps what it
    could not write and refuses more, so the sweep stops.
    """

    _BATCH = 1000  # MLflow's limit of metrics in one log_batch
    INTERVAL = 0.5
    """Seconds between two writes."""

    def __init__(self, write: Callable[[list[Any]], None], interval: float = INTERVAL) -> None:
        self._write = write
        self._interval = interval
        self._pending: list[Any] = []
        self._busy = False
        self._flushing = 0
        self._last_write = -math.inf
        self._error: BaseException | None = None
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def put(self, metrics: list[Any]) -> None:
        with self._cond:
            self._raise()
            self._pending.extend(metrics)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sparksweep-tracking-writer", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _next_batch(self) -> list[Any]:
        """Wait for metrics, then for the interval since the last write (or a flush), and take them all."""
        with self._cond:
            while not self._pending:
                self._cond.wait()
            deadline = self._last_write + self._interval
            while not self._flushing and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            batch, self._pending = self._pending, []
            self._busy = True
            return batch

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            try:
                for i in range(0, len(batch), self._BATCH):
                    self._write(batch[i : i + self._BATCH])
            except BaseException as exc:  # kept for flush() to raise in the sweep's thread
                with self._cond:
                    self._error = exc
                    self._pending[:0] = batch  # not lost: a later flush reports it with the error
                    self._busy = False
                    self._cond.notify_all()
                return
            with self._cond:
                self._last_write = time.monotonic()
                self._busy = False
                self._cond.notify_all()

    def flush(self) -> None:
        with self._cond:
            self._flushing += 1
            self._cond.notify_all()
            try:
                while (self._pending or self._busy) and self._error is None:
                    self._cond.wait()
            finally:
                self._flushing -= 1
            self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error


class SweepTracker:
    """The parent run of one sweep and the child runs of its trials.

    Example:
        >>> tracker = SweepTracker("sqlite:///mlflow.db", "churn")  # doctest: +SKIP
    """

    def __init__(self, tracking_uri: str, experiment: str, retry: RetryPolicy | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.retry = retry or RetryPolicy()
        self.client = prepare_store(tracking_uri, self.retry)
        self.experiment_id = self._experiment_id(experiment)
        self.run_id: str | None = None
        self._progress = _MetricWriter(self._write_progress)
        self._describing: threading.Thread | None = None
        self._describe_error: BaseException | None = None

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A store operation, with transient errors retried (see :class:`RetryPolicy`)."""
        return self.retry.call(what, fn, *args, **kwargs)

    def _experiment_id(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        found = self._call("look up the experiment", self.client.get_experiment_by_name, name)
        if found is not None:
            if found.lifecycle_stage == "deleted":
                raise SpecError(
                    f"experiment {name!r} was deleted; restore it in MLflow or choose another experiment name"
                )
            return str(found.experiment_id)
        try:
            return str(
                self._call(
                    "create the experiment",
                    self.client.create_experiment,
                    name,
                    artifact_location=artifact_location(self.tracking_uri, name),
                )
            )
        except MlflowException:
            # Another sweep created it between our lookup and our create.
            again = self._call("look up the experiment", self.client.get_experiment_by_name, name)
            if again is None:
                raise
            return str(again.experiment_id)

    @property
    def parent_run_id(self) -> str:
        if self.run_id is None:
            raise RuntimeError("the sweep's parent run has not been started; call start() first")
        return self.run_id

    def start(
        self,
        *,
        run_name: str,
        params: dict[str, Any],
        spec_yaml: str,
        tags: dict[str, str] | None = None,
        tables: dict[str, dict[str, list[str]]] | None = None,
    ) -> str:
        """Create the parent run with the sweep's settings as params and the sweep file as an artifact.

        ``tags`` are added to the parent run; ``mlflow.parentRunId`` among them nests the sweep under another run
        (a benchmark nests each of its sweeps this way). ``tables`` (artifact file -> columns) are logged as MLflow
        table artifacts (the kind of each data column).
        """
        from mlflow.entities import Param

        extra = dict(tags or {})
        run = self._call(
            "create the sweep's run",
            self.client.create_run,
            self.experiment_id,
            run_name=extra.pop(TAG_RUN_NAME, run_name),
            tags={**extra, TAG_KIND: "sweep"},
            start_time=int(time.time() * 1000),
        )
        self.run_id = run.info.run_id
        batch = [Param(k, _param_text(v)) for k, v in params.items()]
        # The settings and the sweep file are written in the background: the first trial needs only the run's id
        # (a process's first artifact write imports MLflow's artifact stores, ~0.2 s). flush() waits for them.
        self._describing = threading.Thread(
            target=self._describe,
            args=(batch, spec_yaml, dict(tables or {})),
            name="sparksweep-describe-sweep",
            daemon=True,
        )
        self._describing.start()
        return self.run_id

    def _describe(self, params: list[Any], spec_yaml: str, tables: dict[str, dict[str, list[str]]]) -> None:
        try:
            self._call("log the sweep's settings", self.client.log_batch, self.parent_run_id, params=params)
            self._call("log the sweep file", self.client.log_text, self.parent_run_id, spec_yaml, SPEC_ARTIFACT)
            for name, table in tables.items():
                self._call(f"log {name}", self.client.log_table, self.parent_run_id, table, name)
        except BaseException as exc:  # raised by flush() in the sweep's thread
            self._describe_error = exc

    def attach(self, run_id: str) -> None:
        """Continue an earlier sweep's parent run (resume): it is RUNNING again until this sweep ends."""
        self.run_id = run_id
        self.client.update_run(run_id, status="RUNNING")

    def trial_run(self, number: int, family: str, params: dict[str, Any]) -> TrialRunSpec:
        """What a trial's child run is created with (the worker creates it: see :class:`TrialRunSpec`)."""
        tags = {
            TAG_PARENT: self.parent_run_id,
            TAG_SWEEP_RUN: self.parent_run_id,
            TAG_TRIAL_NUMBER: str(number),
            TAG_KIND: "trial",
            TAG_RUN_NAME: f"trial-{number:03d}-{family}",
            TAG_SEARCHED: ",".join(params),
        }
        texts = {k: _param_text(v) for k, v in {FAMILY_PARAM: family, **params}.items()}
        return TrialRunSpec(experiment_id=self.experiment_id, tags=tags, params=texts)

    def rescore_run(self, trial: TrialResult) -> TrialRunSpec:
        """What the child run scoring ``trial`` again on fresh folds is created with (a finalist: see
        :mod:`sparksweep.sweep._finalists`). It carries no trial number, so a resumed sweep does not read it as a trial.
        """
        tags = {
            TAG_PARENT: self.parent_run_id,
            TAG_SWEEP_RUN: self.parent_run_id,
            TAG_KIND: "rescore",
            TAG_RESCORE_OF: trial.run_id,
            TAG_RUN_NAME: f"rescore-{trial.number:03d}-{trial.family}",
            TAG_SEARCHED: ",".join(trial.params),
        }
        texts = {k: _param_text(v) for k, v in {FAMILY_PARAM: trial.family, **trial.params}.items()}
        return TrialRunSpec(experiment_id=self.experiment_id, tags=tags, params=texts)

    def start_trial(self, number: int, family: str, params: dict[str, Any]) -> str:
        """Create a trial's child run here, with the family and the hyperparameters under their real names."""
        return self.trial_run(number, family, params).create(self.client, self.retry)

    def find_trial(self, number: int) -> str | None:
        """The run id of trial ``number`` of this sweep, if its worker created one."""
        from mlflow.entities import ViewType

        found = self._call(
            "look up the trial's run",
            self.client.search_runs,
            [self.experiment_id],
            filter_string=f"tags.`{TAG_PARENT}` = '{self.parent_run_id}' and tags.`{TAG_TRIAL_NUMBER}` = '{number}'",
            run_view_type=ViewType.ALL,
            max_results=1,
        )
        return str(found[0].info.run_id) if found else None

    def find_rescore(self, trial_run_id: str) -> str | None:
        """The run id of the re-scoring of the trial run ``trial_run_id`` (a finalist), if its worker created one."""
        from mlflow.entities import ViewType

        found = self._call(
            "look up the re-scoring's run",
            self.client.search_runs,
            [self.experiment_id],
            filter_string=(
                f"tags.`{TAG_PARENT}` = '{self.parent_run_id}' and tags.`{TAG_RESCORE_OF}` = '{trial_run_id}'"
            ),
            run_view_type=ViewType.ALL,
            max_results=1,
        )
        return str(found[0].info.run_id) if found else None

    def record_lost_trial(
        self,
        number: int,
        family: str,
        params: dict[str, Any],
        state: TrialState,
        error: str,
        *,
        run_id: str | None = None,
        lost: bool = False,
        detail: str | None = None,
    ) -> str:
        """Record a trial whose task never reported back, in its child run: ``run_id`` if known, else the run its
        worker created (looked up), else a new one (a trial lost before its worker created the run is recorded
        too). Returns the run id."""
        run_id = run_id or self.find_trial(number) or self.start_trial(number, family, params)
        self.fail_trial(run_id, state, error, lost=lost, detail=detail)
        return run_id

    def record_computed(self, result: TrialResult, rescore_of: TrialResult | None = None) -> TrialResult:
        """Record a trial (or the re-scoring of the finalist ``rescore_of``) whose worker computed ``result`` and went
        before recording it: in its run (``result.run_id``, else the run its worker created, else a new one), FINISHED
        with its metrics (see :func:`~sparksweep.tracking._salvage.finish_computed`). Returns the result as recorded."""
        run_id = result.run_id
        if not run_id and rescore_of is not None:
            run_id = self.find_rescore(rescore_of.run_id) or self.rescore_run(rescore_of).create(
                self.client, self.retry
            )
        elif not run_id:
            run_id = self.find_trial(result.number) or self.start_trial(result.number, result.family, result.params)
        return finish_computed(self.client, self._call, self.experiment_id, run_id, result)

    def fail_trial(
        self, run_id: str, state: TrialState, error: str, *, lost: bool = False, detail: str | None = None
    ) -> None:
        """Record a trial that never reported back (its task was lost or cancelled).

        ``lost``: it died with its driver; it does not count towards the budget when the sweep resumes.
        ``detail``: what its executor saw in full (e.g. Spark's stack trace), logged as the run's ``error.txt``.
        """
        if detail is not None:
            self._call("log the failed trial's trace", self.client.log_text, run_id, detail, "error.txt")
        self._call("tag the failed trial", self.client.set_tag, run_id, TAG_ERROR, error[-4000:])
        self._call("tag the failed trial", self.client.set_tag, run_id, TAG_STATE, STATE_LOST if lost else state.value)
        self._call("end the failed trial's run", self.client.set_terminated, run_id, status=state.mlflow_status)

    def log_progress(self, metric_name: str, best: float | None, step: int, elapsed: float | None = None) -> None:
        """Step the parent run's best-so-far metric (MLflow's UI draws it as the optimization history), and the
        sweep's running time (``elapsed_s``: what a resumed sweep's timeout counts).

        Queued for a background writer that batches them (:meth:`flush` waits for it; :meth:`finish` flushes).
        """
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric("trials_finished", float(step + 1), now, step)]
        if elapsed is not None:
            metrics.append(Metric(ELAPSED_METRIC, elapsed, now, step))
        if best is not None:
            metrics.append(Metric(f"best_{metric_name}", best, now, step))
        if self.run_id is None:  # said here, in the sweep's thread, rather than by the writer
            raise RuntimeError("the sweep's parent run has not been started; call start() first")
        self._progress.put(metrics)

    def _write_progress(self, metrics: list[Any]) -> None:
        self._call("log the sweep's progress", self.client.log_batch, self.parent_run_id, metrics=metrics)

    def flush(self) -> None:
        """Wait until the sweep's settings and file and the queued progress metrics are in the store (raises what
        writing them raised)."""
        if self._describing is not None:
            self._describing.join()
            self._describing = None
            if self._describe_error is not None:
                raise self._describe_error
        self._progress.flush()

    def set_tags(self, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        batch = [RunTag(k, v) for k, v in tags.items()]
        self._call("tag the sweep's run", self.client.log_batch, self.parent_run_id, tags=batch)

    def log_summary(self, metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, v, now, 0) for k, v in metrics.items()]
        self._call("log the sweep's summary", self.client.log_batch, self.parent_run_id, metrics=batch)

    def finish(self, status: str = "FINISHED") -> None:
        """End the parent run with ``status``, after the queued progress metrics are written."""
        if self.run_id is None:
            return
        try:
            self.flush()
        finally:  # the run is ended even when its last progress points could not be written
            self._call("end the sweep's run", self.client.set_terminated, self.run_id, status=status)
