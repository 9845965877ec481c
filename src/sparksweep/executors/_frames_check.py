"""What the DataFrame-job executor learns about a Spark Connect session before its first trial: whether the executors
can import sparksweep (one DataFrame job, once per Spark application), and how many trials to keep in flight.

A Connect client has no ``sparkContext`` to count the executors' task slots with; it reads the session's settings
(``spark.master``, ``spark.default.parallelism``, ``spark.task.cpus``) instead, and says so when they tell nothing.
"""

from __future__ import annotations

import importlib
import os
import re
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sparksweep._version import __version__
from sparksweep.errors import DependencyError, SparkSweepWarning

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["DEFAULT_SLOTS", "check_frame_executors", "first_line", "frame_slots", "setting"]

DEFAULT_SLOTS = 2
"""Trials in flight when neither ``search.parallelism`` nor the session tells how many task slots there are."""
_PROBE_SCHEMA = "host string, python string, version string, error string, cores bigint"
_CHECKED: set[str] = set()
"""Spark applications whose executors were found able to import sparksweep."""


def setting(spark: Any, key: str) -> str | None:
    """One setting of the session (None when unset or empty)."""
    value = spark.conf.get(key, None)
    return None if value in (None, "") else str(value)


def first_line(exc: BaseException) -> str:
    """The first non-empty line of ``exc``'s message (Spark's messages go on for pages)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:400]


def frame_slots(spark: Any, parallelism: int | None, executor_cores: int | None = None) -> int:
    """Trials in flight: ``parallelism`` if given, else the task slots ``spark.master`` (``local[N]``; ``local[*]``:
    ``executor_cores``) or ``spark.default.parallelism`` offers, over ``spark.task.cpus``; else
    :data:`DEFAULT_SLOTS`, with a warning naming the setting."""
    if parallelism is not None:
        return parallelism
    cpus = int(setting(spark, "spark.task.cpus") or 1)
    master = setting(spark, "spark.master") or ""
    local = re.fullmatch(r"local(?:\[(\d+|\*)(?:,\s*\d+)?\])?", master)
    cores: int | None = None
    if local is not None:
        count = local.group(1) or "1"
        cores = (executor_cores or os.cpu_count() or 1) if count == "*" else int(count)
    elif (default := setting(spark, "spark.default.parallelism")) is not None:
        cores = int(default)
    if cores is None:
        warnings.warn(
            f"the session tells neither its master ({master or 'unknown'}) nor spark.default.parallelism, so "
            f"{DEFAULT_SLOTS} trials run at a time; set search.parallelism to the task slots of the cluster",
            SparkSweepWarning,
            stacklevel=3,
        )
        return DEFAULT_SLOTS
    return max(1, cores // cpus)


def _probe(spark: Any, n_tasks: int) -> list[Any]:
    """Run ``n_tasks`` tiny tasks that report (host, python, sparksweep version or "", import error or "", cores)."""

    # Defined inside this function so cloudpickle ships it by value: a worker without sparksweep can still run it.
    def probe(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import os as worker_os
        import socket
        import sys as worker_sys

        import pyarrow as worker_pa

        for _ in batches:  # read to the end, or Spark does not reuse this Python worker for the trials
            pass
        try:  # by name: the probe checks the worker's own sparksweep, not a dependency of this module
            version, error = str(importlib.import_module("sparksweep").__version__), ""
        except Exception as exc:
            version, error = "", f"{type(exc).__name__}: {exc}"
        row = [socket.gethostname(), worker_sys.executable, version, error, worker_os.cpu_count() or 1]
        names = ["host", "python", "version", "error", "cores"]
        yield worker_pa.RecordBatch.from_pydict(dict(zip(names, [[v] for v in row], strict=True)))

    return spark.range(0, n_tasks, 1, n_tasks).mapInArrow(probe, _PROBE_SCHEMA).collect()  # type: ignore[no-any-return]


def check_frame_executors(spark: Any, n_tasks: int = 2) -> int | None:
    """Check once per Spark application, with one DataFrame job, that the executors can import sparksweep; return
    the cores of the executor machine that answered (what ``local[*]`` counts; None: checked before).

    Raises:
        DependencyError: an executor's Python lacks sparksweep (or cannot be started), with how to fix it.
    """
    app = setting(spark, "spark.app.id") or str(id(spark))
    if app in _CHECKED:
        return None
    fix = (
        "Executors need the driver's Python environment: on Databricks install sparksweep as a cluster or "
        "environment library (serverless: the notebook's Environment panel), elsewhere install it into the same "
        "path on every worker, or ship a packed environment with spark.archives (see the README, 'Cluster mode')"
    )
    try:
        reports = _probe(spark, max(1, n_tasks))
    except Exception as exc:  # the executors could not even start a Python worker
        raise DependencyError(
            f"the Spark executors behind this session could not run a Python task: {first_line(exc)}. {fix}"
        ) from exc
    missing = sorted({(r.host, r.python, r.error) for r in reports if r.error})
    if missing:
        where = "; ".join(f"on {host} ({exe}): {err}" for host, exe, err in missing)
        raise DependencyError(f"sparksweep cannot be imported on the Spark executors {where}. {fix}")
    versions = {r.version for r in reports}
    if versions != {__version__}:
        warnings.warn(
            f"the executors run sparksweep {sorted(versions)} but the driver runs {__version__}; "
            "install the same version everywhere",
            SparkSweepWarning,
            stacklevel=3,
        )
    _CHECKED.add(app)
    return max(int(r.cores) for r in reports)
