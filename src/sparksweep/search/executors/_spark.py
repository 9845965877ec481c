"""Trials as Spark tasks: one single-task job per trial, each in its own job group (so it can be cancelled).

Data reaches the executors as a broadcast variable, loaded once per Python worker process (the worker caches it by
the data's fingerprint), so trials never re-read or re-ship it.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sparksweep._imports import require
from sparksweep.errors import DependencyError
from sparksweep.search.executors._base import BaseExecutor

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from sparksweep.data import TrainingData
    from sparksweep.search.trial import TrialResult
    from sparksweep.search.worker import TrialTask

__all__ = ["BroadcastData", "SparkExecutor", "get_spark"]

_JAVA_HINT = (
    "Spark needs Java 17 or 21 and none was found (no `java` on PATH and no JAVA_HOME). Install it, e.g. "
    "`apt-get install openjdk-17-jre-headless` (Debian/Ubuntu) or `brew install openjdk@17` (macOS), "
    "or run trials without Spark with `search.executor: local`."
)


def get_spark(master: str = "local[*]", conf: dict[str, str] | None = None, app_name: str = "sparksweep") -> Any:
    """Return the active SparkSession, or start one on ``master`` set up for sweeps.

    Python workers are pointed at this interpreter (otherwise Spark starts ``python3`` from PATH, which lacks the
    packages), and the UI progress bar is switched off.
    """
    require("pyspark", "the Spark executor")
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
        raise DependencyError(_JAVA_HINT)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


@dataclass(frozen=True)
class BroadcastData:
    """A data handle backed by a Spark broadcast variable."""

    fingerprint: str
    broadcast: Any

    def load(self) -> TrainingData:
        return self.broadcast.value  # type: ignore[no-any-return]


def _run_in_task(task: TrialTask) -> Any:
    from sparksweep.search.worker import run_trial

    return run_trial(task)


class SparkExecutor(BaseExecutor):
    """Run each trial as a single-task Spark job; ``parallelism`` driver threads keep that many jobs in flight.

    Example:
        >>> executor = SparkExecutor(get_spark("local[2]"), parallelism=2)  # doctest: +SKIP
    """

    name = "spark"

    def __init__(self, spark: SparkSession, parallelism: int | None = None) -> None:
        self.spark = spark
        sc = spark.sparkContext
        self._task_cpus = int(sc.getConf().get("spark.task.cpus", "1"))
        self._parallelism = parallelism or max(1, sc.defaultParallelism // self._task_cpus)
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
