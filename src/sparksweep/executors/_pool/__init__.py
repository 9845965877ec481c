"""The pool executor: long-lived Spark tasks that pull trials from the driver over an authenticated connection
(``_wire``: the protocol; ``_worker``: a slot's task; ``_slots``, ``_link``, ``_feed``: the driver's side;
``_executor``: :class:`SparkPoolExecutor`)."""

from __future__ import annotations

from sparksweep.executors._pool._executor import SparkPoolExecutor

__all__ = ["SparkPoolExecutor"]
