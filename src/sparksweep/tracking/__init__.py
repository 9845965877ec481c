"""MLflow records of a sweep: the parent run, one child run per trial, and the best value so far.

All writes go through :class:`mlflow.MlflowClient` with explicit run ids, never the fluent API's global active run,
so parallel trials and a user's own active run are never confused. Transient store errors (a server restarting, a 5xx,
a dropped connection) are retried with :class:`~sparksweep.tracking._retry.RetryPolicy`; a store that stays down stops
the sweep with a :class:`~sparksweep.errors.TrackingError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sparksweep.errors import SpecError
from sparksweep.space import FAMILY_PARAM
from sparksweep.tracking._retry import RetryPolicy
from sparksweep.trial import PastTrial, TrialResult, TrialState

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = [
    "RecordedTrial",
    "SweepTracker",
    "TrialRunSpec",
    "artifact_location",
    "prepare_store",
    "read_spec_yaml",
    "read_sweep_run",
    "read_trials",
    "resolve_tracking_uri",
    "store_prepared",
    "use_wal",
]

TAG_KIND = "sparksweep.kind"
TAG_TRIAL_NUMBER = "sparksweep.trial_number"
TAG_SWEEP_RUN = "sparksweep.sweep_run_id"
TAG_STATE = "sparksweep.state"
TAG_SEARCHED = "sparksweep.searched_params"
TAG_MODEL_URI = "sparksweep.model_uri"
TAG_ERROR = "sparksweep.error"
TAG_DATA_PATH = "sparksweep.data_path"
TAG_STOP_REASON = "sparksweep.stop_reason"
TAG_RESCORE_OF = "sparksweep.rescore_of"
SPEC_ARTIFACT = "sweep.yaml"
ELAPSED_METRIC = "elapsed_s"
STATE_LOST = "lost"
"""The ``sparksweep.state`` of a trial whose driver died while it ran (recorded as KILLED, run again on resume)."""
TAG_PARENT = "mlflow.parentRunId"
TAG_RUN_NAME = "mlflow.runName"
_PARAM_LIMIT = 6000
T = TypeVar("T")


def resolve_tracking_uri(uri: str) -> str:
    """Make a relative SQLite URI absolute (against the current directory), so executors write to the same file.

    Example:
        >>> resolve_tracking_uri("http://127.0.0.1:5000")
        'http://127.0.0.1:5000'
    """
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str((Path.cwd() / uri[len(prefix) :]).resolve())
    if "://" not in uri:
        raise SpecError(f"tracking.uri {uri!r} is not a URI; use sqlite:///path/to/mlflow.db or http://host:port")
    return uri


_PREPARED: set[str] = set()
"""The stores this process has prepared (:func:`prepare_store`)."""


def prepare_store(uri: str, retry: RetryPolicy | None = None) -> MlflowClient:
    """Create the tracking store in this process before any worker touches it (a new SQLite store migrates its
    schema on first use, and several processes doing that at once fail). For a server, this checks it answers.

    A SQLite store is switched to write-ahead logging (:func:`use_wal`)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    (retry or RetryPolicy()).call(f"reach the tracking store {uri}", client.search_experiments, max_results=1)
    if uri.startswith("sqlite:///"):
        use_wal(uri[len("sqlite:///") :].split("?", 1)[0])
    _PREPARED.add(uri)
    return client


def store_prepared(uri: str) -> bool:
    """Whether this process has already prepared the store at ``uri`` (:func:`prepare_store`): workers may open it
    before this process opens it again."""
    return uri in _PREPARED


def use_wal(path: str) -> None:
    """Put the SQLite database at ``path`` in write-ahead-log mode (kept in the file, so every process that opens it
    later uses it too).

    Parallel trials write their runs from several processes at once. In SQLite's default rollback-journal mode each
    commit syncs the journal and the database, and a writer that finds the file locked backs off in sleeps of
    several milliseconds; with the log, a commit is one append and readers never block the writer. Measured here
    with MLflow 3.17 (``benchmarks/bench_autolog.py``, the two modes alternated on the same disk): a run's create +
    batch + end cost 17 ms instead of 21 ms on a quiet disk and 36 ms instead of 84 ms while other processes kept it
    busy. SQLite keeps ``-wal`` and ``-shm`` files beside the store while it is open, and needs the file on a local
    disk (not a network file system), as it does anyway for concurrent writers.

    Example:
        >>> use_wal("mlflow.db")  # doctest: +SKIP
    """
    import sqlite3

    with contextlib.closing(sqlite3.connect(path, timeout=30)) as con:
        mode = con.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            con.execute("PRAGMA journal_mode=WAL")


def artifact_location(uri: str, experiment: str) -> str | None:
    """Where a new experiment keeps its artifacts: beside a SQLite store's file (not in whatever directory the
    sweep was started from); for other stores, the server's default (``mlflow-artifacts:/`` for a server started
    with ``--serve-artifacts``, so workers upload through the server and need no shared filesystem).

    Example:
        >>> artifact_location("http://127.0.0.1:5000", "churn") is None
        True
    """
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return None
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", experiment).strip("-") or "experiment"
    digest = hashlib.sha1(experiment.encode()).hexdigest()[:6]
    return (Path(uri[len(prefix) :]).parent / "mlartifacts" / f"{slug}-{digest}").as_uri()


def _param_text(value: Any) -> str:
    return str(value)[:_PARAM_LIMIT]


@dataclass(frozen=True)
class RecordedTrial:
    """A trial's child run as MLflow holds it: what resume and warm start read back."""

    run_id: str
    number: int
    family: str
    params: dict[str, str]
    """The searched hyperparameters (strings, as MLflow stores params); autologged settings are left out."""
    state: TrialState
    value: float | None
    model_uri: str | None
    started: float
    ended: float | None
    error: str | None
    lost: bool = False
    """It died with its driver (or was still RUNNING when read): not counted in the budget on resume."""
    intermediate: dict[int, float] = field(default_factory=dict)
    """Its per-round validation scores (``valid_<metric>``), read only when a pruner needs them."""

    @property
    def described(self) -> bool:
        """Whether its family and hyperparameters were recorded: a worker that died between creating the run and
        logging its params leaves a run with neither, which tells a search algorithm nothing."""
        return bool(self.family)

    def to_past(self, space: Any) -> PastTrial:
        """Typed by ``space`` (:meth:`SearchSpace.check` raises when the trial does not fit it)."""
        return PastTrial(
            number=self.number,
            family=self.family,
            params=space.check(self.family, self.params),
            state=self.state,
            value=self.value,
            run_id=self.run_id,
        )

    def to_result(self, space: Any) -> TrialResult:
        return TrialResult(
            number=self.number,
            run_id=self.run_id,
            family=self.family,
            params=space.check(self.family, self.params) if self.described else {},
            state=self.state,
            value=self.value,
            error=self.error,
            model_uri=self.model_uri,
            duration=0.0 if self.ended is None else self.ended - self.started,
            intermediate=dict(self.intermediate),
        )


def read_sweep_run(client: MlflowClient, run_id: str) -> Any:
    """The parent run of a sweep, or :class:`SpecError` saying what ``run_id`` is instead."""
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise SpecError(
            f"no MLflow run {run_id!r} in the tracking store; give the parent run id of a sweep "
            "(the `parent run` the sweep printed, or the run tagged sparksweep.kind=sweep)"
        ) from None
    kind = run.data.tags.get(TAG_KIND)
    if kind != "sweep":
        raise SpecError(
            f"run {run_id!r} is not a sweep's parent run (its {TAG_KIND} tag is {kind!r}); "
            f"for a trial run, use its parent: {run.data.tags.get(TAG_PARENT)!r}"
        )
    return run


def _curve(client: MlflowClient, run: Any, metric: str) -> dict[int, float]:
    name = f"valid_{metric}"
    if name not in run.data.metrics:
        return {}
    return {int(m.step): float(m.value) for m in client.get_metric_history(run.info.run_id, name)}


def read_spec_yaml(client: MlflowClient, run_id: str) -> str:
    """The sweep file recorded on a sweep's parent run."""
    with tempfile.TemporaryDirectory(prefix="sparksweep-spec-") as tmp:
        path = client.download_artifacts(run_id, SPEC_ARTIFACT, tmp)
        return Path(path).read_text()


def _trial_state(run: Any) -> TrialState:
    status = run.info.status
    if status == "FINISHED":
        return TrialState.COMPLETE
    if status == "FAILED":
        return TrialState.FAILED
    if status == "KILLED":
        return TrialState.PRUNED if run.data.tags.get(TAG_STATE) == "pruned" else TrialState.KILLED
    return TrialState.RUNNING


def read_trials(
    client: MlflowClient, experiment_id: str, parent_run_id: str, metric: str, *, curves: bool = False
) -> list[RecordedTrial]:
    """Every child run of the sweep ``parent_run_id``, by trial number (with their per-round scores if ``curves``)."""
    from mlflow.entities import ViewType

    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{TAG_PARENT}` = '{parent_run_id}'",
            run_view_type=ViewType.ALL,
            max_results=1000,
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            break
    out = []
    for run in runs:
        tags = run.data.tags
        if TAG_TRIAL_NUMBER not in tags:
            continue
        family = run.data.params.get(FAMILY_PARAM, "")
        searched = tags.get(TAG_SEARCHED)
        names = searched.split(",") if searched else [k for k in run.data.params if k != FAMILY_PARAM]
        state = _trial_state(run)
        value = run.data.metrics.get(metric) if state is TrialState.COMPLETE else None
        out.append(
            RecordedTrial(
                run_id=run.info.run_id,
                number=int(tags[TAG_TRIAL_NUMBER]),
                family=family,
                params={k: run.data.params[k] for k in names if k and k in run.data.params},
                state=state,
                value=value,
                model_uri=tags.get(TAG_MODEL_URI),
                started=(run.info.start_time or 0) / 1000,
                ended=None if run.info.end_time is None else run.info.end_time / 1000,
                error=tags.get(TAG_ERROR),
                lost=state is TrialState.RUNNING or tags.get(TAG_STATE) == STATE_LOST,
                intermediate=_curve(client, run, metric) if curves and state.is_finished else {},
            )
        )
    return sorted(out, key=lambda t: t.number)


@dataclass(frozen=True)
class TrialRunSpec:
    """A trial's child run before it exists: the worker that runs the trial creates it, so creating runs costs the
    sweep loop nothing and slots get their next trial at once. Picklable; the tags carry ``mlflow.parentRunId``.

    Example:
        >>> spec = TrialRunSpec(experiment_id="1", tags={"mlflow.runName": "trial-000-lightgbm"}, params={})
        >>> spec.tags["mlflow.runName"]
        'trial-000-lightgbm'
    """

    experiment_id: str
    tags: dict[str, str]
    params: dict[str, str]

    def create(self, client: MlflowClient, retry: RetryPolicy) -> str:
        """Create the run (RUNNING) with its tags and params; returns its id."""
        from mlflow.entities import Param

        run = retry.call(
            "create the trial's run",
            client.create_run,
            self.experiment_id,
            tags=self.tags,
            start_time=int(time.time() * 1000),
        )
        run_id = str(run.info.run_id)
        batch = [Param(k, v) for k, v in self.params.items()]
        retry.call("log the trial's hyperparameters", client.log_batch, run_id, params=batch)
        return run_id


class _MetricWriter:
    """Writes a run's metrics from one background thread, in batches, so the sweep loop never waits on the store.

    :meth:`flush` returns once everything queued is written, or raises what writing it raised (after the tracker's
    retries); a writer that failed keeps what it could not write and refuses more, so the sweep stops.
    """

    _BATCH = 1000  # MLflow's limit of metrics in one log_batch

    def __init__(self, write: Callable[[list[Any]], None]) -> None:
        self._write = write
        self._pending: list[Any] = []
        self._busy = False
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

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
                batch, self._pending = self._pending, []
                self._busy = True
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
                self._busy = False
                self._cond.notify_all()

    def flush(self) -> None:
        with self._cond:
            while (self._pending or self._busy) and self._error is None:
                self._cond.wait()
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
        self, *, run_name: str, params: dict[str, Any], spec_yaml: str, tags: dict[str, str] | None = None
    ) -> str:
        """Create the parent run with the sweep's settings as params and the sweep file as an artifact.

        ``tags`` are added to the parent run; ``mlflow.parentRunId`` among them nests the sweep under another run
        (a benchmark nests each of its sweeps this way).
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
            target=self._describe, args=(batch, spec_yaml), name="sparksweep-describe-sweep", daemon=True
        )
        self._describing.start()
        return self.run_id

    def _describe(self, params: list[Any], spec_yaml: str) -> None:
        try:
            self._call("log the sweep's settings", self.client.log_batch, self.parent_run_id, params=params)
            self._call("log the sweep file", self.client.log_text, self.parent_run_id, spec_yaml, SPEC_ARTIFACT)
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
    ) -> str:
        """Record a trial whose task never reported back, in its child run: ``run_id`` if known, else the run its
        worker created (looked up), else a new one (a trial lost before its worker created the run is recorded
        too). Returns the run id."""
        run_id = run_id or self.find_trial(number) or self.start_trial(number, family, params)
        self.fail_trial(run_id, state, error, lost=lost)
        return run_id

    def fail_trial(self, run_id: str, state: TrialState, error: str, *, lost: bool = False) -> None:
        """Record a trial that never reported back (its task was lost or cancelled).

        ``lost``: it died with its driver; it does not count towards the budget when the sweep resumes.
        """
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
