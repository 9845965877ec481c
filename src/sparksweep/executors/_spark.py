"""Trials as Spark tasks: one single-task job per trial, each in its own job group (so it can be cancelled).

The slots, the thread budget, the executors' check and the data broadcast are shared with the pool executor
(:mod:`sparksweep.executors._cluster`). A trial whose Spark job fails (its Python worker killed, say) is reported
in a sentence; Spark's stack trace goes with it and is kept as the run's ``error.txt``.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from sparksweep.errors import TrialError, TrialLostError
from sparksweep.executors._base import BaseExecutor
from sparksweep.executors._cluster import BroadcastData, broadcast_data, plan_slots

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from sparksweep.data import TrainingData
    from sparksweep.trial import TrialResult
    from sparksweep.worker import TrialTask

__all__ = ["SparkExecutor", "job_failure"]

_CRASHED = "Python worker exited unexpectedly"


def _run_in_task(task: TrialTask) -> Any:
    from sparksweep.worker import run_trial

    return run_trial(task)


def job_failure(number: int, exc: BaseException) -> TrialLostError:
    """What the failed Spark job of trial ``number`` means, in a sentence; Spark's trace kept as its ``detail``.

    Spark does not tell which signal ended a Python worker, so a killed one reads "exited unexpectedly".
    """
    text = str(exc)
    detail = f"{type(exc).__name__}: {text}"
    if _CRASHED in text:
        why = (
            f"the Python worker running trial {number} exited unexpectedly (killed, e.g. by the out-of-memory "
            "killer, or crashed); Spark's trace is the run's error.txt"
        )
    else:
        lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("\tat ")]
        cause = next((line for line in lines if "Exception:" in line or "Error:" in line), lines[0] if lines else "")
        why = f"the Spark job running trial {number} failed: {cause[:300]}; Spark's trace is the run's error.txt"
    return TrialLostError(why, detail=detail)


class SparkExecutor(BaseExecutor):
    """Run each trial as a single-task Spark job; ``parallelism`` driver threads keep that many jobs in flight.

    Example:
        >>> executor = SparkExecutor(get_spark("local[2]"), parallelism=2)  # doctest: +SKIP
    """

    name = "spark"

    def __init__(self, spark: SparkSession, parallelism: int | None = None, *, check: bool = True) -> None:
        self.spark = spark
        self._plan = plan_slots(spark, parallelism, check=check)
        self.task_slots = self._plan.task_slots
        self._pool = ThreadPoolExecutor(max_workers=self._plan.parallelism, thread_name_prefix="sparksweep-trial")
        self._free_slots: queue.SimpleQueue[int] = queue.SimpleQueue()  # a job in flight holds one (its run's tag)
        for slot in range(self._plan.parallelism):
            self._free_slots.put(slot)
        self._sweep_id = uuid.uuid4().hex[:8]
        self._groups: set[str] = set()
        self._lock = threading.Lock()
        self._broadcasts: list[Any] = []
        self._closed = False

    @property
    def slots(self) -> int:
        return self._plan.parallelism

    @property
    def cores_per_trial(self) -> int:
        return self._plan.cores_per_trial

    def share(self, data: TrainingData) -> BroadcastData:
        handle = broadcast_data(self.spark, data)
        self._broadcasts.append(handle.broadcast)
        return handle

    def _group(self, number: int) -> str:
        return f"sparksweep-{self._sweep_id}-trial-{number}"

    def _run_job(self, task: TrialTask) -> TrialResult:
        slot = self._free_slots.get()  # never waits: the thread pool runs at most `parallelism` jobs
        try:
            return self._run_in_slot(dataclasses.replace(task, slot=slot))
        finally:
            self._free_slots.put(slot)

    def _run_in_slot(self, task: TrialTask) -> TrialResult:
        sc = self.spark.sparkContext
        group = self._group(task.number)
        with self._lock:
            self._groups.add(group)
        try:
            sc.setJobGroup(group, f"sparksweep trial {task.number} ({task.family_name})", interruptOnCancel=True)
            # The task is captured in the closure (not the RDD data) so that its broadcast is shipped with it.
            results = sc.parallelize([0], 1).map(lambda _: _run_in_task(task)).collect()
            return results[0]  # type: ignore[no-any-return]
        except Exception as exc:  # a Py4JJavaError: its message is a Java stack trace
            raise job_failure(task.number, exc) from exc
        finally:
            with self._lock:
                self._groups.discard(group)

    def submit(self, task: TrialTask) -> Future[TrialResult]:
        if self._closed:
            raise TrialError("this SparkExecutor was shut down; create a new one for another sweep")
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
        self._closed = True
        self._pool.shutdown(wait=True)
        for bc in self._broadcasts:
            bc.unpersist()
        self._broadcasts.clear()
