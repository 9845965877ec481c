"""Trials as Spark tasks: one single-task job per trial, each in its own job group (so it can be cancelled).

Data reaches the executors as a broadcast variable, loaded once per Python worker process (the worker caches it by
the data's fingerprint), so trials never re-read or re-ship it, and executors need no filesystem shared with the
driver. On a cluster the executor pool is checked once per Spark application: every executor's Python must import
sparksweep (a clear error says so when one cannot), and parallelism defaults to the task slots the executors offer.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sparksweep._imports import require
from sparksweep.errors import DependencyError, SparkSweepWarning
from sparksweep.search.executors._base import BaseExecutor

if TYPE_CHECKING:
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    from sparksweep.data import TrainingData
    from sparksweep.search.trial import TrialResult
    from sparksweep.search.worker import TrialTask

__all__ = ["BroadcastData", "SparkExecutor", "check_executors", "get_spark", "spark_setting", "task_slots"]


_JAVA_HINT = (
    "Spark needs Java 17 or 21 and none was found (no `java` on PATH and no JAVA_HOME). Install it, e.g. "
    "`apt-get install openjdk-17-jre-headless` (Debian/Ubuntu) or `brew install openjdk@17` (macOS), "
    "or run trials without Spark with `search.executor: local`."
)


def get_spark(master: str = "local[*]", conf: dict[str, str] | None = None, app_name: str = "sparksweep") -> Any:
    """Return the active SparkSession, or start one on ``master`` set up for sweeps.

    Python workers are pointed at this interpreter (otherwise Spark starts ``python3`` from PATH, which lacks the
    packages), the UI progress bar is switched off, and a cancelled trial's Python worker is killed within 200 ms
    (``spark.python.task.killTimeout``; ``conf`` overrides any of these).
    """
    require("pyspark", "the Spark executor")
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
        raise DependencyError(_JAVA_HINT)
    # Executors start this interpreter: on a cluster the same path must hold the same environment on every worker
    # (a shared venv), or PYSPARK_PYTHON points into a packed environment shipped with spark.archives (README).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if _is_loopback(master):  # a remote cluster's executors must reach the driver on a routable address
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # A cancelled trial's Python worker is killed this long after the cancel (Spark's default, 2s, kept every
        # timed-out or cancelled trial's slot busy ~2-4 s; with 200ms, ~0.5-1 s)
        .config("spark.python.task.killTimeout", "200ms")
    )
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _is_loopback(master: str) -> bool:
    """Whether ``master`` runs on this machine only (``local[...]``, or a cluster on 127.0.0.1 / localhost)."""
    if master.startswith("local"):
        return True
    host = master.split("://", 1)[-1].split(":", 1)[0]
    return host in {"127.0.0.1", "localhost"}


def _is_local(spark: SparkSession) -> bool:
    return str(spark.sparkContext.master).startswith("local")


def spark_setting(sc: SparkContext, key: str, default: str) -> str:
    """One setting of ``sc``'s configuration (``sc.getConf()`` copies all of them, one JVM call each: ~30 ms)."""
    return str(sc._conf.get(key, default))


def _dynamic_allocation(spark: SparkSession) -> bool:
    """Whether executors come and go with the load (then there is no fixed slot count to wait for)."""
    return spark_setting(spark.sparkContext, "spark.dynamicAllocation.enabled", "false").lower() == "true"


def _current_slots(spark: SparkSession) -> int:
    """Tasks the registered executors can run at once (their cores over ``spark.task.cpus``)."""
    sc = spark.sparkContext
    jsc = sc._jsc.sc()
    profile = jsc.resourceProfileManager().defaultResourceProfile()
    return int(jsc.maxNumConcurrentTasks(profile))


def task_slots(spark: SparkSession, *, wait: float = 60.0, settle: float = 2.0) -> int:
    """The task slots of ``spark``'s executors: how many single-task trials can run at the same time.

    On a cluster executors register after the session starts, so this waits until at least one has and the count
    has stayed the same for ``settle`` seconds (at most ``wait`` seconds in all). With dynamic allocation executors
    only start when tasks wait, so this returns the current count (at least 1) at once: set the parallelism there.

    Raises:
        SparkSweepError: no executor registered within ``wait`` seconds.
    """
    from sparksweep.errors import SparkSweepError

    slots = _current_slots(spark)
    if _is_local(spark) or _dynamic_allocation(spark):
        return max(1, slots)
    deadline = time.monotonic() + wait
    stable_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = _current_slots(spark)
        if now != slots:
            slots, stable_since = now, time.monotonic()
        elif slots > 0 and time.monotonic() - stable_since >= settle:
            return slots
    if slots > 0:
        return slots
    raise SparkSweepError(
        f"no executor of the Spark application on {spark.sparkContext.master} registered within {wait:.0f}s; check "
        "that the cluster's workers are up and have the cores and memory the application asks for "
        "(spark.executor.cores, spark.executor.memory)"
    )


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
        try:
            import sparksweep as worker_sparksweep
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
    import sparksweep

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
    if versions != {sparksweep.__version__}:
        warnings.warn(
            f"the executors run sparksweep {sorted(versions)} but the driver runs {sparksweep.__version__}; "
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
    from sparksweep.search.worker import run_trial

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
            self.task_slots = max(self.task_slots, _current_slots(spark))  # executors that joined meanwhile
        self._parallelism = parallelism or self.task_slots
        if self._parallelism > self.task_slots and not _dynamic_allocation(spark):
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
