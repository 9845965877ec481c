"""Spark session helpers: start or reuse a session set up for sweeps, and count the task slots it offers.

Example:
    >>> spark = get_spark("local[2]")  # doctest: +SKIP
    >>> task_slots(spark)  # doctest: +SKIP
    2
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from typing import TYPE_CHECKING, Any

from sparksweep._imports import require
from sparksweep.errors import DependencyError, SparkSweepError

if TYPE_CHECKING:
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

__all__ = [
    "check_reachable",
    "current_slots",
    "dynamic_allocation",
    "get_spark",
    "is_local",
    "is_remote",
    "spark_setting",
    "task_slots",
]


_JAVA_HINT = (
    "Spark needs Java 17 or 21 and none was found (no `java` on PATH and no JAVA_HOME). Install it, e.g. "
    "`apt-get install openjdk-17-jre-headless` (Debian/Ubuntu) or `brew install openjdk@17` (macOS), "
    "or run trials without Spark with `search.executor: local`."
)


def get_spark(
    master: str = "local[*]",
    conf: dict[str, str] | None = None,
    app_name: str = "sparksweep",
    *,
    remote: str | None = None,
) -> Any:
    """Return the active SparkSession, or start one on ``master`` set up for sweeps; with ``remote``, a Spark Connect
    session to that server (``sc://host:port``, or ``local[N]`` for a Connect server in this process).

    Python workers are pointed at this interpreter (otherwise Spark starts ``python3`` from PATH, which lacks the
    packages), the UI progress bar is switched off, and a cancelled trial's Python worker is killed within 200 ms
    (``spark.python.task.killTimeout``; ``conf`` overrides any of these).

    Raises:
        SparkSweepError: ``remote`` names a Connect server that does not answer.
    """
    require("pyspark", "the Spark executor")
    from pyspark.sql import SparkSession

    if remote is not None:
        return _connect(remote, conf)
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


def _connect(url: str, conf: dict[str, str] | None) -> Any:
    """A Spark Connect session to ``url``, checked to be reachable first (a gRPC client retries for minutes)."""
    from pyspark.sql.connect.session import SparkSession as RemoteSparkSession

    if url.startswith("sc://"):
        check_reachable(url)
    else:  # local[N]: pyspark starts a Connect server whose Python workers run this interpreter
        if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
            raise DependencyError(_JAVA_HINT)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = RemoteSparkSession.builder.remote(url)
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def check_reachable(url: str, timeout: float = 10.0) -> None:
    """Raise a clear error when nothing listens at the ``sc://host:port`` of ``url`` (the port defaults to 15002).

    Raises:
        SparkSweepError: no server answers there, with the URL and the fix.
    """
    netloc = url.removeprefix("sc://").split("/", 1)[0].split(";", 1)[0]
    host, sep, port = netloc.rpartition(":")
    host, port = (host, port) if sep and port.isdigit() else (netloc, "15002")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise SparkSweepError(
            f"spark.remote {url!r}: no Spark Connect server answers at {host}:{port} ({exc}). Start the server "
            "(a Databricks cluster or serverless endpoint, or `python scripts/local_connect.py up`), or fix the URL "
            "(sc://host:port)"
        ) from exc


def _is_loopback(master: str) -> bool:
    """Whether ``master`` runs on this machine only (``local[...]``, or a cluster on 127.0.0.1 / localhost)."""
    if master.startswith("local"):
        return True
    host = master.split("://", 1)[-1].split(":", 1)[0]
    return host in {"127.0.0.1", "localhost"}


def is_local(spark: SparkSession) -> bool:
    return str(spark.sparkContext.master).startswith("local")


def spark_setting(sc: SparkContext, key: str, default: str) -> str:
    """One setting of ``sc``'s configuration (``sc.getConf()`` copies all of them, one JVM call each: ~30 ms)."""
    return str(sc._conf.get(key, default))


def dynamic_allocation(spark: SparkSession) -> bool:
    """Whether executors come and go with the load (then there is no fixed slot count to wait for)."""
    return spark_setting(spark.sparkContext, "spark.dynamicAllocation.enabled", "false").lower() == "true"


def current_slots(spark: SparkSession) -> int:
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
    slots = current_slots(spark)
    if is_local(spark) or dynamic_allocation(spark):
        return max(1, slots)
    deadline = time.monotonic() + wait
    stable_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = current_slots(spark)
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


def is_remote(spark: Any) -> bool:
    """Whether ``spark`` is a Spark Connect session (no ``sparkContext``, no RDDs, no broadcast)."""
    try:
        from pyspark.sql.utils import is_remote as _env_remote
    except ImportError:  # pragma: no cover - pyspark without Connect support
        return False
    module = type(spark).__module__
    return module.startswith("pyspark.sql.connect") or (spark is None and bool(_env_remote()))
