"""Trials as Spark tasks: one single-task job per trial, each in its own job group (so it can be cancelled).

Data reaches the executors as a broadcast variable, loaded once per Python worker process (the worker caches it by
the data's fingerprint), so trials never re-read or re-ship it, and executors need no filesystem shared with the
driver. On a cluster the executor pool is checked once per Spark application: every executor's Python must import
sparksweep (a clear error says so when one cannot), and parallelism defaults to the task slots the executors offer.
"""

from __future__ import annotations

import importlib
import os
import threading
import uuid
import warnings
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sparksweep._spark import current_slots, dynamic_allocation, spark_setting, task_slots
from sparksweep._version import __version__
from sparksweep.errors import DependencyError, SparkSweepWarning
from sparksweep.executors._base import BaseExecutor

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from sparksweep.data import TrainingData
    from sparksweep.trial import TrialResult
    from sparksweep.worker import TrialTask

__all__ = ["BroadcastData", "SparkExecutor", "check_executors"]


_CHECKED_APPS: set[str] = set()


def _probe_job(spark: SparkSession, n_tasks: int) -> list[tuple[str, str, str, str]]:
    """Run ``n_tasks`` tiny tasks that report (host, python, sparksweep version or "", import error or "")."""

    # Defined inside this function so cloudpickle ships it by value: a worker without sparksweep can still run it.
    def probe(rows: Iterable[int]) -> Iterator[tuple[str, str, str, str]]:
        import socket
        import sys as worker_sys

        for _ in rows:  # read to the end, or Spark does not reuse this Python worker for the sweep's trials
            pass

        host = socket.gethostname()
        try:  # by name: the probe checks the worker's own sparksweep, not a dependency of this module
            worker_sparksweep = importlib.import_module("sparksweep")
        except Exception as exc:
            yield host, worker_sys.executable, "", f"{type(exc).__name__}: {exc}"
        else:
            yield host, worker_sys.executable, str(worker_sparksweep.__version__), ""

    sc = spark.sparkContext
    sc.setJobGroup("sparksweep-check-executors", "sparksweep: check that executors can import sparksweep")
    try:
        return sc.parallelize(range(n_tasks), n_tasks).mapPartitions(probe).collect()
    finally:  # the caller's later jobs are not part of this group
        for key in ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel"):
            sc.setLocalProperty(key, None)  # type: ignore[arg-type]


def check_executors(spark: SparkSession, n_tasks: int = 2) -> None:
    """Check, once per Spark application, that executors can import sparksweep in their Python.

    Raises:
        DependencyError: an executor's Python lacks sparksweep (or cannot be started), with how to fix it.
    """
    app = str(spark.sparkContext.applicationId)
    if app in _CHECKED_APPS:
        return
    python = os.environ.get("PYSPARK_PYTHON", "python3")
    fix = (
        "Executors need the driver's Python environment: install sparksweep and its dependencies into the "
        "same path on every worker (a shared venv), or pack the environment and ship it with spark.archives "
        "and PYSPARK_PYTHON=./environment/bin/python (see the README, 'Cluster mode')"
    )
    try:
        reports = _probe_job(spark, max(1, n_tasks))
    except Exception as exc:  # a Py4JJavaError: the executors could not even start a Python worker
        cause = str(exc).strip().splitlines()
        detail = next((line for line in cause if "Error" in line or "Cannot run" in line), cause[0] if cause else "")
        raise DependencyError(
            f"the Spark executors on {spark.sparkContext.master} could not run Python {python!r}: {detail[:300]}. "
            + fix
        ) from exc
    missing = sorted({(host, exe, err) for host, exe, _, err in reports if err})
    if missing:
        where = "; ".join(f"on {host} ({exe}): {err}" for host, exe, err in missing)
        raise DependencyError(f"sparksweep cannot be imported on the Spark executors {where}. {fix}")
    versions = {version for _, _, version, _ in reports}
    if versions != {__version__}:
        warnings.warn(
            f"the executors run sparksweep {sorted(versions)} but the driver runs {__version__}; "
            "install the same version everywhere",
            SparkSweepWarning,
            stacklevel=2,
        )
    _CHECKED_APPS.add(app)


@dataclass(frozen=True)
class BroadcastData:
    """A data handle backed by a Spark broadcast variable."""

    fingerprint: str
    broadcast: Any

    def load(self) -> TrainingData:
        return self.broadcast.value  # type: ignore[no-any-return]


def _run_in_task(task: TrialTask) -> Any:
    from sparksweep.worker import run_trial

    return run_trial(task)


class SparkExecutor(BaseExecutor):
    """Run each trial as a single-task Spark job; ``parallelism`` driver threads keep that many jobs in flight.

    Example:
        >>> executor = SparkExecutor(get_spark("local[2]"), parallelism=2)  # doctest: +SKIP
    """

    name = "spark"

    def __init__(self, spark: SparkSession, parallelism: int | None = None, *, check: bool = True) -> None:
        self.spark = spark
        sc = spark.sparkContext
        self._task_cpus = int(spark_setting(sc, "spark.task.cpus", "1"))
        self.task_slots = task_slots(spark)
        if check:
            check_executors(spark, self.task_slots)
            self.task_slots = max(self.task_slots, current_slots(spark))  # executors that joined meanwhile
        self._parallelism = parallelism or self.task_slots
        if self._parallelism > self.task_slots and not dynamic_allocation(spark):
            warnings.warn(
                f"parallelism {self._parallelism} is more than the {self.task_slots} task slot(s) of the executors "
                f"on {sc.master} (their cores / spark.task.cpus={self._task_cpus}): the extra trials wait in "
                "Spark's queue while the search algorithm proposes them with less information. Lower "
                "search.parallelism, or add executors",
                SparkSweepWarning,
                stacklevel=2,
            )
        self._pool = ThreadPoolExecutor(max_workers=self._parallelism, thread_name_prefix="sparksweep-trial")
        self._sweep_id = uuid.uuid4().hex[:8]
        self._groups: set[str] = set()
        self._lock = threading.Lock()
        self._broadcasts: list[Any] = []

    @property
    def slots(self) -> int:
        return self._parallelism

    @property
    def cores_per_trial(self) -> int:
        return self._task_cpus

    def share(self, data: TrainingData) -> BroadcastData:
        bc = self.spark.sparkContext.broadcast(data)
        self._broadcasts.append(bc)
        return BroadcastData(fingerprint=data.fingerprint, broadcast=bc)

    def _group(self, number: int) -> str:
        return f"sparksweep-{self._sweep_id}-trial-{number}"

    def _run_job(self, task: TrialTask) -> TrialResult:
        sc = self.spark.sparkContext
        group = self._group(task.number)
        with self._lock:
            self._groups.add(group)
        try:
            sc.setJobGroup(group, f"sparksweep trial {task.number} ({task.family_name})", interruptOnCancel=True)
            # The task is captured in the closure (not the RDD data) so that its broadcast is shipped with it.
            results = sc.parallelize([0], 1).map(lambda _: _run_in_task(task)).collect()
            return results[0]  # type: ignore[no-any-return]
        finally:
            with self._lock:
                self._groups.discard(group)

    def submit(self, task: TrialTask) -> Future[TrialResult]:
        return self._pool.submit(self._run_job, task)

    def cancel_all(self) -> None:
        sc = self.spark.sparkContext
        with self._lock:
            groups = list(self._groups)
        for group in groups:
            sc.cancelJobGroup(group)

    @property
    def can_cancel_running(self) -> bool:
        return True

    def cancel(self, number: int) -> None:
        group = self._group(number)
        with self._lock:
            running = group in self._groups
        if running:
            self.spark.sparkContext.cancelJobGroup(group)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)
        for bc in self._broadcasts:
            bc.unpersist()
        self._broadcasts.clear()
