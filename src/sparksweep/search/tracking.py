"""MLflow records of a sweep: the parent run, one child run per trial, and the best value so far.

All writes go through :class:`mlflow.MlflowClient` with explicit run ids, never the fluent API's global active run,
so parallel trials and a user's own active run are never confused. Transient store errors (a server restarting, a 5xx,
a dropped connection) are retried with :class:`~sparksweep.search.retry.RetryPolicy`; a store that stays down stops
the sweep with a :class:`~sparksweep.errors.TrackingError`.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sparksweep.errors import SpecError
from sparksweep.search.retry import RetryPolicy
from sparksweep.search.space import FAMILY_PARAM
from sparksweep.search.trial import TrialState

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["SweepTracker", "artifact_location", "prepare_store", "resolve_tracking_uri"]

TAG_KIND = "sparksweep.kind"
TAG_TRIAL_NUMBER = "sparksweep.trial_number"
TAG_SWEEP_RUN = "sparksweep.sweep_run_id"
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


def prepare_store(uri: str, retry: RetryPolicy | None = None) -> MlflowClient:
    """Create the tracking store in this process before any worker touches it (a new SQLite store migrates its
    schema on first use, and several processes doing that at once fail). For a server, this checks it answers."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    (retry or RetryPolicy()).call(f"reach the tracking store {uri}", client.search_experiments, max_results=1)
    return client


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

    def start(self, *, run_name: str, params: dict[str, Any], spec_yaml: str) -> str:
        """Create the parent run with the sweep's settings as params and the sweep file as an artifact."""
        from mlflow.entities import Param

        run = self._call(
            "create the sweep's run",
            self.client.create_run,
            self.experiment_id,
            run_name=run_name,
            tags={TAG_KIND: "sweep"},
            start_time=int(time.time() * 1000),
        )
        self.run_id = run.info.run_id
        batch = [Param(k, _param_text(v)) for k, v in params.items()]
        self._call("log the sweep's settings", self.client.log_batch, self.run_id, params=batch)
        self._call("log the sweep file", self.client.log_text, self.run_id, spec_yaml, "sweep.yaml")
        return self.run_id

    def start_trial(self, number: int, family: str, params: dict[str, Any]) -> str:
        """Create a trial's child run, with the family and the hyperparameters under their real names."""
        from mlflow.entities import Param

        tags = {
            TAG_PARENT: self.parent_run_id,
            TAG_SWEEP_RUN: self.parent_run_id,
            TAG_TRIAL_NUMBER: str(number),
            TAG_KIND: "trial",
            TAG_RUN_NAME: f"trial-{number:03d}-{family}",
        }
        run = self._call(
            "create the trial's run",
            self.client.create_run,
            self.experiment_id,
            tags=tags,
            start_time=int(time.time() * 1000),
        )
        batch = [Param(k, _param_text(v)) for k, v in {FAMILY_PARAM: family, **params}.items()]
        self._call("log the trial's hyperparameters", self.client.log_batch, run.info.run_id, params=batch)
        return str(run.info.run_id)

    def fail_trial(self, run_id: str, state: TrialState, error: str) -> None:
        """Record a trial that never reported back (its task was lost or cancelled)."""
        self._call("tag the failed trial", self.client.set_tag, run_id, "sparksweep.error", error[-4000:])
        self._call("end the failed trial's run", self.client.set_terminated, run_id, status=state.mlflow_status)

    def log_progress(self, metric_name: str, best: float | None, step: int) -> None:
        """Step the parent run's best-so-far metric (MLflow's UI draws it as the optimization history)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric("trials_finished", float(step + 1), now, step)]
        if best is not None:
            metrics.append(Metric(f"best_{metric_name}", best, now, step))
        self._call("log the sweep's progress", self.client.log_batch, self.parent_run_id, metrics=metrics)

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
        if self.run_id is not None:
            self._call("end the sweep's run", self.client.set_terminated, self.run_id, status=status)
