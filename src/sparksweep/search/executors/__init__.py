"""Executors: where trials run (Spark tasks, or a local process pool)."""

from __future__ import annotations

from sparksweep.search.executors._base import BaseExecutor
from sparksweep.search.executors._local import LocalExecutor
from sparksweep.search.executors._pool import SparkPoolExecutor
from sparksweep.search.executors._spark import SparkExecutor, check_executors, get_spark, task_slots

__all__ = [
    "BaseExecutor",
    "LocalExecutor",
    "SparkExecutor",
    "SparkPoolExecutor",
    "check_executors",
    "get_spark",
    "task_slots",
]
