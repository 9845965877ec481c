"""Trials on long-lived Spark tasks that pull work from the driver: no Spark job per trial.

A Spark job per trial costs tens of milliseconds of scheduling, a Python worker hand-off and re-reading the task's
closure. Here each slot is one long-running single-task Spark job (its own job group, so it can be cancelled alone)
whose Python process connects back to the driver over TCP, runs the trials it is sent one after another, and keeps
its imports, its autolog set-up and its cached data warm between trials. The worker creates each trial's child run
itself, while the trial starts, so handing out a trial costs the driver no store write and the slot no wait. A slot
is free for its next trial as soon as its last one is computed: the worker records that one (its model, metrics and
end: ~10 ms of SQLite writes for a small trial, more with a model) in a thread of its own while it computes the next,
and the trial counts as finished only once its result, recorded, is back. So a slot holds at most two trials, one
computing and one recording.

Cancelling a trial is prompt: the driver waits for the trial the slot may still be recording (milliseconds), then
cancels the slot's job group and closes its connection, so the trial is recorded KILLED at once, and the worker,
seeing its connection closed while a trial runs, ends its process before the trial can record anything. The slot is
started again when there is work for it. :meth:`SparkPoolExecutor.shutdown` never waits long: idle slots are told to
stop (their Python workers return to Spark for reuse), busy or still-starting ones are cancelled. A pool that is
never shut down is released when it is garbage collected or the interpreter exits (with a ``ResourceWarning``), so
it does not keep its task slots from the next sweep.

Security: the driver listens on its own Spark host address only, and a connection is let in only once it has
proved it holds the pool's random key; nothing it sends is unpickled before (see :mod:`._wire`).
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
import weakref
from concurrent.futures import Future
from typing import TYPE_CHECKING

from sparksweep._spark import spark_setting
from sparksweep.errors import TrialError
from sparksweep.executors._base import BaseExecutor
from sparksweep.executors._cluster import BroadcastData, broadcast_data, plan_slots
from sparksweep.executors._pool._feed import Feed
from sparksweep.executors._pool._link import Link, TrialFuture
from sparksweep.executors._pool._slots import MAX_START_FAILURES, SlotBody, SlotJobs, TrialQueue
from sparksweep.executors._pool._wire import listen, new_key
from sparksweep.executors._pool._worker import SlotArgs, serve

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    from sparksweep.data import TrainingData
    from sparksweep.trial import TrialResult
    from sparksweep.worker import TrialTask

__all__ = ["SparkPoolExecutor"]

_LOG = logging.getLogger(__name__)
_SHUTDOWN_WAIT = 3.0
"""Seconds :meth:`SparkPoolExecutor.shutdown` waits for its slots to give their task slots back to Spark."""
_RECORD_WAIT = 2.0
"""Seconds a cancellation waits for the trial the same slot is still recording, before it ends the slot."""


class _Pool:
    """The pool's parts together: the slots' Spark jobs, the trial queue, the connections, and the rules that span
    them (restarting a slot, cancelling, closing).

    Its threads refer to this object only, never to the :class:`SparkPoolExecutor`, so an executor nobody shut down
    can be garbage collected, and its finalizer releases the slots.
    """

    def __init__(self, sc: SparkContext, parallelism: int) -> None:
        self.sc = sc
        self.host = spark_setting(sc, "spark.driver.host", "127.0.0.1")
        self._key = new_key()
        server = listen(self.host)
        self.port = int(server.getsockname()[1])
        self.lock = threading.Condition()
        self.queue = TrialQueue()
        self.jobs = SlotJobs(sc, parallelism, self.lock, self._body, self._slot_ended)
        self.feed = Feed(server, self._key, self.lock, self.queue, self._admit, self.ensure_slots)
        self.handles: list[BroadcastData] = []
        self.tracking_uri: str | None = None
        self.started = False

    @property
    def closing(self) -> bool:
        return self.feed.closing

    @property
    def connections(self) -> list[Link]:
        return self.feed.links

    # ---- slots ------------------------------------------------------------------------------------------------
    def start(self) -> None:
        with self.lock:
            if self.started or self.closing:
                return
            self.started = True
        self.feed.start()
        self.ensure_slots()

    def ensure_slots(self) -> None:
        """Start the slots whose job is not running (never started, or ended by a cancellation)."""
        with self.lock:
            if not self.started or self.closing:
                return
        self.jobs.start_missing()

    def _body(self, slot: int) -> SlotBody:
        args = SlotArgs(self.host, self.port, self._key, slot, list(self.handles), self.tracking_uri)

        def body(rows: Iterable[int]) -> Iterator[int]:
            return serve(rows, args)

        return body

    def _admit(self, slot: int) -> bool:
        self.jobs.connected(slot)
        return True

    def _slot_ended(self, slot: int, error: Exception | None) -> None:
        with self.lock:
            if self.closing:
                return
            waiting = not self.queue.empty()
        if self.jobs.gave_up(slot):
            self._give_up(slot, error)
        elif waiting:  # trials wait for a slot: start this one again now (else the next submit does)
            self.ensure_slots()

    def _give_up(self, slot: int, error: Exception | None) -> None:
        why = f"its Spark task ended {MAX_START_FAILURES} times before connecting to the driver"
        _LOG.warning("sparksweep trial slot %d is not started again: %s (%s)", slot, why, error)
        with self.lock:
            if self.jobs.alive or self.connections:
                return  # other slots still take the queued trials
        self.queue.drain(TrialError(f"no sparksweep trial slot could start: {why}; last error: {error}"))

    # ---- cancellation and shutdown ----------------------------------------------------------------------------
    def cancel(self, number: int) -> None:
        with self.lock:
            link = self.feed.computing(number)
            if link is None:
                if not self.feed.holds(number):
                    self.queue.drop(number)  # still queued: the slot that takes it drops it
                return  # computed already: its results are being recorded
        self._kill(link, number)

    def _kill(self, link: Link, number: int | None = None) -> None:
        """Stop the trial ``link``'s slot computes (``number``, if given): its job is cancelled (so Spark does not
        retry the task) and the connection closed, which fails the trial's future now and ends the worker's process.
        A trial the slot is still recording is waited for first (a few seconds at most), so it is not lost with it;
        if ``number`` was computed meanwhile, the slot is left alone."""
        deadline = time.monotonic() + _RECORD_WAIT
        with self.lock:
            while link.recording() and not link.closed and time.monotonic() < deadline:
                self.lock.wait(deadline - time.monotonic())
            if number is not None and link.computing != number:
                return
        self.jobs.cancel([link.slot])
        link.channel.shutdown()

    def cancel_all(self) -> None:
        self.queue.drain()
        for link in self.feed.busy():
            self._kill(link)

    def close(self, leaked: bool = False) -> None:
        """Stop every slot without waiting long: idle ones are told to stop (their Python workers go back to Spark
        for reuse), busy or still-starting ones are cancelled."""
        with self.lock:
            if self.closing:
                return
            self.feed.closing = True
            links = list(self.connections)
        if leaked and self.started:
            warnings.warn(
                "a SparkPoolExecutor was not shut down; its trial slots are released now. Call shutdown() or use "
                "it as a context manager",
                ResourceWarning,
                stacklevel=2,
            )
        self.queue.drain()
        for link in links:
            if link.computing is not None:
                self._kill(link)
            self.queue.put_stop()  # an idle slot's feed sends it "stop" (after it has recorded its last trial)
        self._close_server()
        with self.lock:
            connected = {link.slot for link in links}
            starting = [s for s in self.jobs.alive if s not in connected]
        self.jobs.cancel(starting)  # never connected: nothing to tell them
        self.jobs.cancel(self.jobs.wait_ended(_SHUTDOWN_WAIT))  # their tasks did not end in time: Spark kills them
        if self.jobs.spark_alive():
            for handle in self.handles:
                handle.broadcast.unpersist()
        self.handles.clear()

    def _close_server(self) -> None:
        import socket

        try:  # wakes the acceptor on Linux
            self.feed.server.shutdown(socket.SHUT_RDWR)
        except OSError:  # not connected: closing it is enough
            _LOG.debug("sparksweep pool: the listening socket was not connected")
        self.feed.server.close()


class SparkPoolExecutor(BaseExecutor):
    """Run trials on ``parallelism`` long-lived Spark tasks that pull trials from the driver.

    Use it as a context manager, or call :meth:`shutdown` (a pool left open is released when it is garbage
    collected).

    Example:
        >>> with SparkPoolExecutor(get_spark("local[2]"), parallelism=2) as executor:  # doctest: +SKIP
        ...     result = run_sweep(spec, executor=executor)
    """

    name = "spark-pool"

    def __init__(self, spark: SparkSession, parallelism: int | None = None) -> None:
        self.spark = spark
        self._plan = plan_slots(spark, parallelism)
        self.task_slots = self._plan.task_slots
        self._slots = _Pool(spark.sparkContext, self._plan.parallelism)
        self._finalizer = weakref.finalize(self, self._slots.close, True)

    @property
    def slots(self) -> int:
        return self._plan.parallelism

    @property
    def cores_per_trial(self) -> int:
        return self._plan.cores_per_trial

    def share(self, data: TrainingData) -> BroadcastData:
        if self._slots.started:
            raise TrialError("share() must be called before the first trial is submitted to a SparkPoolExecutor")
        handle = broadcast_data(self.spark, data)
        self._slots.handles.append(handle)
        return handle

    def prepare(self, tracking_uri: str | None = None) -> None:
        """Launch the slots' Spark tasks now (after :meth:`share`): they start, import and open ``tracking_uri``
        while the driver sets the sweep up, and the first trial goes to the first slot that connects."""
        if tracking_uri is not None and not self._slots.started:
            self._slots.tracking_uri = tracking_uri
        self._slots.start()

    def submit(self, task: TrialTask) -> Future[TrialResult]:
        if self._slots.closing:
            raise TrialError("this SparkPoolExecutor was shut down; create a new one for another sweep")
        self._slots.start()
        future = TrialFuture()
        self._slots.queue.put((task, future))
        self._slots.ensure_slots()  # a slot ended by a cancellation starts again now that there is work
        return future

    def computed(self, future: Future[TrialResult]) -> Future[float | None] | None:
        """Resolves to the trial's value when it is computed: its slot takes the next trial while it records this
        one."""
        return future.computed if isinstance(future, TrialFuture) else None

    @property
    def can_cancel_running(self) -> bool:
        return True

    def cancel(self, number: int) -> None:
        """Stop trial ``number`` now: its slot's job is cancelled and its worker process ends; the slot is
        started again for the next trial. A trial already computed is left to record its results."""
        self._slots.cancel(number)

    def cancel_all(self) -> None:
        """Drop the queued trials and stop the running ones (the pool stays usable)."""
        self._slots.cancel_all()

    def shutdown(self) -> None:
        """Stop the slots and give their task slots back to Spark; waits a few seconds at most."""
        self._finalizer.detach()
        self._slots.close()
