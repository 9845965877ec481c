"""The pool's slots as Spark sees them, and the trials waiting for one: a long-running single-task Spark job per
slot (its own job group, so it can be cancelled alone), started again after it ends, unless it keeps ending before
it connects; and the queue the slots take trials from."""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark import SparkContext

    from sparksweep.executors._pool._link import TrialFuture
    from sparksweep.worker import TrialTask

__all__ = ["MAX_START_FAILURES", "Item", "SlotJobs", "TrialQueue"]

_LOG = logging.getLogger(__name__)
MAX_START_FAILURES = 3
"""A slot whose Spark task ends this many times in a row before it connects is not started again."""

Item = tuple["TrialTask", "TrialFuture"]
SlotBody = Callable[[Iterable[int]], Iterator[int]]


class TrialQueue:
    """The trials waiting for a slot; one cancelled while it waits is dropped when a slot takes it."""

    def __init__(self) -> None:
        self._items: queue.Queue[Item | None] = queue.Queue()
        self._dropped: set[int] = set()
        self._lock = threading.Lock()

    def put(self, item: Item) -> None:
        self._items.put(item)

    def put_stop(self) -> None:
        """Tell the next slot that takes from the queue to stop."""
        self._items.put(None)

    def get(self) -> Item | None:
        """The next trial, waiting for one; None: the slot is to stop."""
        return self._items.get()

    def empty(self) -> bool:
        return self._items.empty()

    def drop(self, number: int) -> None:
        """Trial ``number`` is cancelled while it waits."""
        with self._lock:
            self._dropped.add(number)

    def claim(self, item: Item) -> bool:
        """Whether the slot that took ``item`` is to run it (False: it was cancelled meanwhile)."""
        task, future = item
        with self._lock:
            if task.number in self._dropped:
                self._dropped.discard(task.number)
                future.cancel()
        return future.set_running_or_notify_cancel()

    def drain(self, error: BaseException | None = None) -> None:
        """Take the waiting trials out: cancelled (the engine records them), or failed with ``error``."""
        while True:
            try:
                item = self._items.get_nowait()
            except queue.Empty:
                return
            if item is None:
                continue
            future = item[1]
            if error is None:
                if future.cancel():
                    future.set_running_or_notify_cancel()  # wakes concurrent.futures.wait() for it
            elif future.set_running_or_notify_cancel():
                future.set_exception(error)


class SlotJobs:
    """One Spark job per slot: started on demand, each in a job group of its own.

    ``body(slot)`` is the function its single task runs; ``ended(slot, error)`` is called when a slot's job ends
    (cancelled, or its task died), outside the lock. State changes under ``lock``, the pool's.
    """

    def __init__(
        self,
        sc: SparkContext,
        parallelism: int,
        lock: threading.Condition,
        body: Callable[[int], SlotBody],
        ended: Callable[[int, Exception | None], None],
    ) -> None:
        self.sc = sc
        self.parallelism = parallelism
        self.lock = lock
        self._body = body
        self._ended = ended
        self.prefix = f"sparksweep-pool-{uuid.uuid4().hex[:8]}"
        self.alive: set[int] = set()  # slots whose Spark job runs
        self.start_failures: dict[int, int] = {}  # slot -> its jobs that ended in a row before connecting
        self.greeted: set[int] = set()  # slots whose current job has connected

    def group(self, slot: int) -> str:
        return f"{self.prefix}-slot-{slot}"

    def spark_alive(self) -> bool:
        from pyspark import SparkContext

        return SparkContext._active_spark_context is self.sc and self.sc._jsc is not None

    def cancel(self, slots: Iterable[int]) -> None:
        """Cancel the jobs of ``slots`` (Spark kills their tasks), if the Spark context is still up."""
        if self.spark_alive():
            for slot in slots:
                self.sc.cancelJobGroup(self.group(slot))

    def connected(self, slot: int) -> None:
        """The job of ``slot`` has connected (call under the lock)."""
        self.greeted.add(slot)
        self.start_failures.pop(slot, None)

    def gave_up(self, slot: int) -> bool:
        return self.start_failures.get(slot, 0) >= MAX_START_FAILURES

    def start_missing(self) -> None:
        """Start the slots whose job is not running (never started, or ended), but those given up on."""
        with self.lock:
            missing = [s for s in range(self.parallelism) if s not in self.alive and not self.gave_up(s)]
            self.alive.update(missing)
            self.greeted.difference_update(missing)
        for slot in missing:
            threading.Thread(target=self._run, args=(slot,), name=f"sparksweep-slot-{slot}", daemon=True).start()

    def _run(self, slot: int) -> None:
        body = self._body(slot)
        error: Exception | None = None
        try:
            self.sc.setJobGroup(self.group(slot), f"sparksweep trial slot {slot}", interruptOnCancel=True)
            self.sc.parallelize([slot], 1).mapPartitions(body).collect()
        except Exception as exc:  # the slot's task died or was cancelled; its trial is failed by the connection
            error = exc
            _LOG.info("sparksweep trial slot %d ended (%s)", slot, str(exc).splitlines()[0][:200])
        with self.lock:
            self.alive.discard(slot)
            self.lock.notify_all()
            if slot not in self.greeted:
                self.start_failures[slot] = self.start_failures.get(slot, 0) + 1
        self._ended(slot, error)

    def wait_ended(self, seconds: float) -> list[int]:
        """Wait up to ``seconds`` for every slot's job to end; returns the slots whose job still runs."""
        deadline = time.monotonic() + seconds
        with self.lock:
            while self.alive and time.monotonic() < deadline:
                self.lock.wait(deadline - time.monotonic())
            return sorted(self.alive)
