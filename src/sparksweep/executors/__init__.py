"""Executors: where trials run (Spark tasks, DataFrame jobs on Spark Connect, or a local process pool)."""

from __future__ import annotations

from sparksweep._spark import get_spark, task_slots
from sparksweep.executors._base import BaseExecutor
from sparksweep.executors._cluster import check_executors
from sparksweep.executors._frames import FramesExecutor
from sparksweep.executors._local import LocalExecutor
from sparksweep.executors._pool import SparkPoolExecutor
from sparksweep.executors._spark import SparkExecutor

__all__ = [
    "BaseExecutor",
    "FramesExecutor",
    "LocalExecutor",
    "SparkExecutor",
    "SparkPoolExecutor",
    "check_executors",
    "get_spark",
    "task_slots",
]
