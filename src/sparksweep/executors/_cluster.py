"""What both Spark executors need from the cluster: the check that its executors can import sparksweep, the trial
slots and thread budget they offer, and the training data shipped to them as a broadcast variable.

On a cluster the executor pool is checked once per Spark application: every executor's Python must import
sparksweep (a clear error says so when one cannot), and parallelism defaults to the task slots the executors offer.
Data reaches the executors as a broadcast variable, loaded once per Python worker process (the worker caches it by
the data's fingerprint), so trials never re-read or re-ship it, and executors need no filesystem shared with the
driver.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sparksweep._spark import current_slots, dynamic_allocation, spark_setting, task_slots
from sparksweep._version import __version__
from sparksweep.errors import DependencyError, SparkSweepWarning

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from sparksweep.data import TrainingData

__all__ = ["BroadcastData", "SparkSlots", "broadcast_data", "check_executors", "plan_slots"]


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
class SparkSlots:
    """The trial slots a Spark executor runs on, and the threads each trial may use."""

    task_slots: int
    """Tasks the cluster's executors run at once (their cores over ``spark.task.cpus``)."""
    parallelism: int
    """Trials kept in flight (the user's choice, else :attr:`task_slots`)."""
    cores_per_trial: int
    """``spark.task.cpus``: the threads one trial's models may use."""


def plan_slots(spark: SparkSession, parallelism: int | None, *, check: bool = True) -> SparkSlots:
    """The slots and thread budget of trials on ``spark``: executors checked first (``check``), a warning when
    ``parallelism`` is more than the cluster's task slots.

    Raises:
        DependencyError: an executor's Python lacks sparksweep (see :func:`check_executors`).
    """
    sc = spark.sparkContext
    task_cpus = int(spark_setting(sc, "spark.task.cpus", "1"))
    slots = task_slots(spark)
    if check:
        check_executors(spark, slots)
        slots = max(slots, current_slots(spark))  # executors that joined meanwhile
    parallelism = parallelism or slots
    if parallelism > slots and not dynamic_allocation(spark):
        warnings.warn(
            f"parallelism {parallelism} is more than the {slots} task slot(s) of the executors "
            f"on {sc.master} (their cores / spark.task.cpus={task_cpus}): the extra trials wait in "
            "Spark's queue while the search algorithm proposes them with less information. Lower "
            "search.parallelism, or add executors",
            SparkSweepWarning,
            stacklevel=3,
        )
    return SparkSlots(task_slots=slots, parallelism=parallelism, cores_per_trial=task_cpus)


@dataclass(frozen=True)
class BroadcastData:
    """A data handle backed by a Spark broadcast variable."""

    fingerprint: str
    broadcast: Any

    def load(self) -> TrainingData:
        return self.broadcast.value  # type: ignore[no-any-return]


def broadcast_data(spark: SparkSession, data: TrainingData) -> BroadcastData:
    """Ship ``data`` to the executors once; unpersist the handle's ``broadcast`` when the sweep is done."""
    return BroadcastData(fingerprint=data.fingerprint, broadcast=spark.sparkContext.broadcast(data))
