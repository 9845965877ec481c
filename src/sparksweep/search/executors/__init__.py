"""Executors: where trials run (Spark tasks, or a local process pool)."""

from __future__ import annotations

from sparksweep.search.executors._base import BaseExecutor
from sparksweep.search.executors._local import LocalExecutor
from sparksweep.search.executors._pool import SparkPoolExecutor
from sparksweep.search.executors._spark import SparkExecutor, get_spark

__all__ = ["BaseExecutor", "LocalExecutor", "SparkExecutor", "SparkPoolExecutor", "get_spark"]
