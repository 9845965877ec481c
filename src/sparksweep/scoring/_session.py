"""What scoring asks of a Spark session, on a classic session and on Spark Connect alike (no ``sparkContext``, no
RDD there): the session's kind put into pyspark's environment for a scoring call, its default parallelism, and the
partitions of a DataFrame.

pyspark picks its classic or its Connect implementation of ``pyspark.sql.functions``, ``Observation``,
``arrow_udf`` (and MLflow's ``spark_udf`` its code path) from the process's environment (``SPARK_CONNECT_MODE_ENABLED``,
set by ``SparkSession.builder.remote(...)``), not from the session at hand. A process with one kind of session has
the right environment already and :func:`session_mode` changes nothing. A process holding both kinds (a test run, a
notebook that made a Connect session with the Connect builder beside a classic one) gets the environment of the
session being scored with for the duration of the call that builds the plan; two threads scoring on sessions of
different kinds at once in one process are not supported.

Example:
    >>> with session_mode(spark):  # doctest: +SKIP
    ...     df.select(sf.col("a"))
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sparksweep._spark import is_remote

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame

__all__ = ["default_parallelism", "partitions", "session_mode"]

PARALLELISM_SECONDS = 300.0
"""How long a Connect session's default parallelism is reused (executors may come and go; a stale count only makes
the file job's shares less even)."""
_parallelism: dict[str, tuple[float, int]] = {}
"""Connect session id -> (when measured, its default parallelism); a cache, not run state."""
_lock = threading.Lock()
_MODE_KEY = "SPARK_CONNECT_MODE_ENABLED"
"""pyspark.sql.utils.is_remote() reads this variable (and nothing else, outside a Connect-only install)."""


@contextlib.contextmanager
def session_mode(spark: Any) -> Iterator[None]:
    """pyspark's environment set to ``spark``'s kind (classic or Connect) within the block, restored after it."""
    from pyspark.sql.utils import is_remote as pyspark_remote

    remote = is_remote(spark)
    if remote == pyspark_remote():
        yield
        return
    saved = os.environ.get(_MODE_KEY)
    if remote:
        os.environ[_MODE_KEY] = "1"
    else:
        os.environ.pop(_MODE_KEY, None)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(_MODE_KEY, None)
        else:
            os.environ[_MODE_KEY] = saved


def default_parallelism(spark: Any) -> int:
    """Spark's default parallelism (the executors' cores); on Spark Connect, which has no ``sparkContext``, the
    partitions Spark gives a range it is not told how to split: one small job (0.25-0.3 s on a local server here,
    as much as scoring 20k rows), so it is kept per Connect session for :data:`PARALLELISM_SECONDS`."""
    if not is_remote(spark):
        return int(spark.sparkContext.defaultParallelism)
    key = str(getattr(spark, "session_id", id(spark)))
    with _lock:
        known = _parallelism.get(key)
    if known is not None and time.monotonic() - known[0] < PARALLELISM_SECONDS:
        return known[1]
    count = partitions(spark.range(0, 1 << 16))
    with _lock:
        _parallelism[key] = (time.monotonic(), count)
    return count


def partitions(df: SparkDataFrame) -> int:
    """The partitions of ``df``; on Spark Connect (no RDD), the number up to its last partition that holds rows
    (a job that reads no column)."""
    from pyspark.sql import functions as sf

    if not is_remote(df.sparkSession):
        return int(df.rdd.getNumPartitions())
    # the id in a projection of its own: Spark refuses a non-deterministic expression inside an aggregate
    last = df.select(sf.spark_partition_id().alias("part")).agg(sf.max("part").alias("last")).first()
    return 1 if last is None or last["last"] is None else int(last["last"]) + 1
