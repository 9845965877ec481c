"""Trials as DataFrame jobs only: the executor that runs on Spark Connect (Databricks Standard access mode and
serverless) as well as on a classic session.

Each trial is one DataFrame job started from a driver thread (``slots`` of them): a one-row frame mapped by
``mapInArrow`` to one row carrying the pickled result; the cloudpickled task rides in the mapped function. Nothing
here uses ``sparkContext`` on Connect, nor RDDs, broadcasts or job groups, and no executor ever connects back to the
driver. A trial is cancelled through its job tag: the tag is added in the thread that starts the job (tags are
thread-local in Spark Connect) and ``interruptTag`` from any thread stops it. The data reaches the workers inside the
task when it is small, else staged once on storage every executor can read (:mod:`sparksweep.executors._staging`).

A trial's task is never run twice: Spark retries a task whose Python worker died (``spark.task.maxFailures``, 4 on
a cluster), and the retried attempt reports the trial lost instead of running it (and creating a second child run),
so the trial is recorded FAILED once, in the run its first attempt created, and the sweep goes on.
"""

from __future__ import annotations

import functools
import pickle
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from sparksweep._spark import is_remote
from sparksweep.errors import DataError, SparkSweepWarning, TrialError, TrialLostError
from sparksweep.executors._base import BaseExecutor
from sparksweep.executors._cluster import plan_slots
from sparksweep.executors._frames_check import check_frame_executors, first_line, frame_slots, setting
from sparksweep.executors._spark import job_failure
from sparksweep.executors._staging import INLINE_LIMIT, InlineData, Stage, StagedData, pickled, unreadable

if TYPE_CHECKING:
    import pyarrow as pa

    from sparksweep.data import TrainingData
    from sparksweep.trial import TrialResult
    from sparksweep.worker import DataHandle, ObjectiveTask, TrialTask

__all__ = ["FramesExecutor"]

_SCHEMA = "result binary"
_INTERRUPT_RETRY = 5.0
"""Seconds a cancellation keeps interrupting a trial whose job had not reached the server yet."""


def _one_binary(value: bytes) -> pa.RecordBatch:
    import pyarrow as worker_pa

    return worker_pa.RecordBatch.from_arrays([worker_pa.array([value], worker_pa.binary())], names=["result"])


def _run_task(payload: bytes, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The body of a trial's Spark task: run the task ``payload`` holds and return its pickled outcome, as
    ``("result", TrialResult)``, ``("lost", why)`` (a retried attempt) or ``("error", traceback)``."""
    from pyspark import TaskContext

    rows = sum(batch.num_rows for batch in batches)  # read to the end, or Spark does not reuse this Python worker
    if rows == 0:  # a partition without the trial's row runs nothing
        return
    context = TaskContext.get()
    yield _one_binary(_run_payload(payload, 0 if context is None else context.attemptNumber()))


def _run_payload(payload: bytes, attempt: int) -> bytes:
    if attempt > 0:  # the first attempt's Python worker died: its trial is not run (nor its run created) again
        why = f"its Spark task failed and was retried (attempt {attempt + 1}); a trial is not run a second time"
        return pickle.dumps(("lost", why))
    try:
        from sparksweep.worker import run_trial

        task = pickle.loads(payload)  # cloudpickled by this sweep's driver
        return pickle.dumps(("result", run_trial(task)), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # the task could not even start (unpicklable, or its run could not be created)
        return pickle.dumps(("error", traceback.format_exc()))


def _warm(tracking_uri: str | None, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """A slot's warm-up: the worker imports the trial code and opens the tracking store before the first trial."""
    from sparksweep.worker import tracking_client

    for _ in batches:
        pass
    if tracking_uri is not None:
        tracking_client(tracking_uri)
    yield _one_binary(b"")


def _verify(handle: StagedData, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for _ in batches:
        pass
    handle.verify()
    yield _one_binary(b"")


class FramesExecutor(BaseExecutor):
    """Run each trial as a one-row DataFrame job (``mapInArrow``), ``slots`` of them at a time from driver threads;
    runs on Spark Connect sessions and classic ones alike.

    Args:
        spark: A SparkSession, classic or Spark Connect (``SparkSession.builder.remote(...)``).
        parallelism: Trials in flight (default: the task slots).
        staging_dir: Where data above ``inline_limit`` is staged: a folder this driver can write and every executor
            can read (None: a temporary local folder, when the executors run on this machine).
        inline_limit: Pickled training data up to this many bytes rides inside each trial's task.
        check: Check, once per Spark application, that the executors can import sparksweep.

    Example:
        >>> spark = SparkSession.builder.remote("sc://localhost:15002").getOrCreate()  # doctest: +SKIP
        >>> with FramesExecutor(spark, 2) as executor:  # doctest: +SKIP
        ...     result = run_sweep(spec, executor=executor)
    """

    name = "spark-frames"

    def __init__(
        self,
        spark: Any,
        parallelism: int | None = None,
        *,
        staging_dir: str | None = None,
        inline_limit: int = INLINE_LIMIT,
        check: bool = True,
    ) -> None:
        self.spark = spark
        self._remote = is_remote(spark)
        if self._remote:
            cores = check_frame_executors(spark) if check else None
            self._parallelism = frame_slots(spark, parallelism, cores)
            self._task_cpus = int(setting(spark, "spark.task.cpus") or 1)
        else:
            plan = plan_slots(spark, parallelism, check=check)
            self._parallelism, self._task_cpus = plan.parallelism, plan.cores_per_trial
        self._staging_dir = staging_dir
        self._inline_limit = inline_limit
        self._stage: Stage | None = None
        self._pool = ThreadPoolExecutor(max_workers=self._parallelism, thread_name_prefix="sparksweep-frames")
        self._sweep_id = uuid.uuid4().hex[:8]
        self._lock = threading.Lock()
        self._running: set[int] = set()
        self._cancelled: set[int] = set()
        self._queued: dict[int, Future[TrialResult]] = {}
        self._closed = False

    @property
    def slots(self) -> int:
        return self._parallelism

    @property
    def cores_per_trial(self) -> int:
        return self._task_cpus

    @property
    def can_cancel_running(self) -> bool:
        return True

    # ---- data -------------------------------------------------------------------------------------------------
    def share(self, data: TrainingData) -> DataHandle:
        """The data inside each task when its pickle is at most ``inline_limit`` bytes, else staged once (and read
        back by the executors now, so a path they cannot read fails before any trial).

        Raises:
            DataError: the data is too large to ride inline and cannot be staged (no ``staging_dir`` on a cluster, or
                one that cannot be written or read), with the fix.
        """
        blob = pickled(data)
        if len(blob) <= self._inline_limit:
            return InlineData(fingerprint=data.fingerprint, blob=blob)
        if self._staging_dir is None and not self._local_machine():
            raise DataError(
                f"the training data is {len(blob) / 1e6:.1f} MB pickled, more than the {self._inline_limit / 1e6:.1f} "
                "MB that ride inside each trial's task, and spark.staging_dir is not set: set it to a folder every "
                "executor can read (a Unity Catalog volume /Volumes/<catalog>/<schema>/<volume>/sparksweep, or a "
                "cloud path)"
            )
        if self._stage is None:
            self._stage = Stage(self._staging_dir)
        handle = self._stage.write(data, blob)
        n = self._parallelism
        try:
            self.spark.range(0, n, 1, n).mapInArrow(functools.partial(_verify, handle), _SCHEMA).collect()
        except Exception as exc:
            raise unreadable(handle.uri, first_line(exc)) from exc
        return handle

    def _local_machine(self) -> bool:
        """Whether the executors run on this machine (a local master reached locally): a temporary folder here is
        one they can read."""
        if not (setting(self.spark, "spark.master") or "").startswith("local"):
            return False
        if not self._remote:
            return True
        host = getattr(getattr(self.spark.client, "_builder", None), "host", None)
        return host in {"localhost", "127.0.0.1", "::1"}

    def prepare(self, tracking_uri: str | None = None) -> None:
        """Warm each slot's Python worker (imports, the tracking store) in the background, with one job."""

        def warm() -> None:
            n = self._parallelism
            try:
                job = functools.partial(_warm, tracking_uri)
                self.spark.range(0, n, 1, n).mapInArrow(job, _SCHEMA).collect()
            except Exception as exc:  # only a head start: the trials report what is wrong
                warnings.warn(f"warming the trial workers failed: {first_line(exc)}", SparkSweepWarning, stacklevel=1)

        threading.Thread(target=warm, name="sparksweep-frames-warm", daemon=True).start()

    # ---- trials -----------------------------------------------------------------------------------------------
    def _tag(self, number: int) -> str:
        return f"sparksweep-{self._sweep_id}-trial-{number}"

    def submit(self, task: TrialTask | ObjectiveTask) -> Future[TrialResult]:
        from pyspark import cloudpickle

        if self._closed:
            raise TrialError("this FramesExecutor was shut down; create a new one for another sweep")
        payload: bytes = cloudpickle.dumps(task)  # type: ignore[no-untyped-call]
        future = self._pool.submit(self._run_job, task.number, payload)
        with self._lock:
            self._queued[task.number] = future
        future.add_done_callback(lambda _: self._forget(task.number))
        return future

    def _forget(self, number: int) -> None:
        with self._lock:
            self._queued.pop(number, None)
            self._cancelled.discard(number)

    def _run_job(self, number: int, payload: bytes) -> TrialResult:
        tag = self._tag(number)
        with self._lock:
            if number in self._cancelled:
                raise TrialLostError(f"trial {number} was cancelled before its Spark job started")
            self._running.add(number)
        self._add_tag(tag)
        try:
            # The task rides in the function's closure, over a one-row frame: building the job costs no round trip.
            job = functools.partial(_run_task, payload)
            rows = self.spark.range(0, 1, 1, 1).mapInArrow(job, _SCHEMA).collect()  # one row in one partition
        except Exception as exc:  # cancelled, or the task's Python worker died
            with self._lock:
                cancelled = number in self._cancelled
            if cancelled:
                raise TrialLostError(f"trial {number} was cancelled: {first_line(exc)}") from exc
            raise job_failure(number, exc) from exc
        finally:
            self._remove_tag(tag)
            with self._lock:
                self._running.discard(number)
        if len(rows) != 1:
            raise TrialLostError(f"the Spark job of trial {number} returned {len(rows)} results instead of one")
        kind, outcome = pickle.loads(rows[0].result)  # written by _run_payload
        if kind != "result":
            raise TrialLostError(f"trial {number} could not be run: {outcome}", detail=str(outcome))
        return outcome  # type: ignore[no-any-return]

    def _add_tag(self, tag: str) -> None:
        """Tag the jobs this thread starts next (tags are thread-local on Spark Connect and classic sessions alike).

        A classic session's ``interruptTag`` only finds the tags its calling thread added, so there the tag is the
        SparkContext's job tag (``cancelJobsWithTag`` finds it from any thread), and a cancelled task interrupts its
        thread, which stops its Python worker.
        """
        if self._remote:
            self.spark.addTag(tag)
            return
        sc = self.spark.sparkContext
        sc.addJobTag(tag)
        sc.setInterruptOnCancel(True)

    def _remove_tag(self, tag: str) -> None:
        if self._remote:
            self.spark.removeTag(tag)
        else:
            self.spark.sparkContext.removeJobTag(tag)

    def _interrupt_tag(self, tag: str) -> bool:
        """Interrupt the jobs tagged ``tag``; whether there were any (a classic session does not tell: False, so the
        caller keeps cancelling until the trial's job has ended)."""
        if self._remote:
            return bool(self.spark.interruptTag(tag))
        self.spark.sparkContext.cancelJobsWithTag(tag)
        return False

    def cancel(self, number: int) -> None:
        """Stop trial ``number``: dropped if its job has not started, else its job is interrupted by its tag."""
        with self._lock:
            self._cancelled.add(number)
            future = self._queued.get(number)
            running = number in self._running
        if future is not None and future.cancel():
            return
        if running:
            self._interrupt(number)

    def _interrupt(self, number: int) -> None:
        """Interrupt the trial's job; if its job has not reached the server yet, try again until it has."""
        tag = self._tag(number)
        if self._interrupt_tag(tag):
            return

        def retry() -> None:
            deadline = time.monotonic() + _INTERRUPT_RETRY
            while time.monotonic() < deadline:
                time.sleep(0.1)
                with self._lock:
                    if number not in self._running:
                        return
                if self._interrupt_tag(tag):
                    return

        threading.Thread(target=retry, name=f"sparksweep-interrupt-{number}", daemon=True).start()

    def cancel_all(self) -> None:
        """Drop the queued trials and interrupt this executor's running ones (other jobs of the session go on)."""
        with self._lock:
            numbers = set(self._queued) | set(self._running)
        for number in sorted(numbers):
            self.cancel(number)

    def shutdown(self) -> None:
        """Wait for the trials in flight (cancel them first to stop them), then remove the staged data."""
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._stage is not None:
            self._stage.remove()
            self._stage = None
