"""Trials on long-lived Spark tasks that pull work from the driver: no Spark job per trial.

A Spark job per trial costs tens of milliseconds of scheduling, a Python worker hand-off and re-reading the task's
closure. Here each slot is one long-running single-task Spark job (its own job group, so it can be cancelled alone)
whose Python process connects back to the driver over TCP, runs the trials it is sent one after another, and keeps
its imports, its autolog set-up and its cached data warm between trials. A slot whose task dies (a lost executor, a
cancelled job) fails its current trial and is started again.

Security: the driver listens on its own Spark host address only, and every connection must present a random token.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import secrets
import socket
import struct
import threading
import traceback
import uuid
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from sparksweep.errors import TrialError
from sparksweep.search.executors._spark import BroadcastData, SparkExecutor

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from pyspark.sql import SparkSession

    from sparksweep.data import TrainingData
    from sparksweep.search.trial import TrialResult
    from sparksweep.search.worker import TrialTask

__all__ = ["SparkPoolExecutor"]

_LOG = logging.getLogger(__name__)
_HEADER = struct.Struct("!Q")
_CONNECT_TIMEOUT = 60.0


def _send(sock: socket.socket, message: Any) -> None:
    from pyspark import cloudpickle

    payload: bytes = cloudpickle.dumps(message)  # type: ignore[no-untyped-call]
    sock.sendall(_HEADER.pack(len(payload)) + payload)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(min(n - len(chunks), 1 << 20))
        if not chunk:
            raise ConnectionError("the other end closed the connection")
        chunks.extend(chunk)
    return bytes(chunks)


def _recv(sock: socket.socket) -> Any:
    import pickle

    (size,) = _HEADER.unpack(_recv_exact(sock, _HEADER.size))
    return pickle.loads(_recv_exact(sock, size))  # from our own peer, authenticated by the token


def _serve(
    rows: Iterable[int], host: str, port: int, token: str, slot: int, handles: list[BroadcastData]
) -> Iterator[int]:
    """The body of a slot's Spark task: run the trials the driver sends until it says stop."""
    # The partition's input is read to its end: a Python worker whose input is left unread is not reused by Spark,
    # so the next sweep's slots would start new processes and import everything again.
    for _ in rows:
        pass
    # Imported before saying hello, so the first trial does not pay for them (the driver prepares meanwhile).
    import mlflow  # noqa: F401

    from sparksweep.search.worker import run_trial

    # The handles ride in this job's closure, so their broadcasts are loaded in this task; trials sent later over
    # the socket refer to the same broadcast ids.
    del handles
    with socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT) as sock:
        sock.settimeout(None)
        _send(sock, ("hello", token, slot))
        while True:
            message = _recv(sock)
            if message[0] == "stop":
                break
            try:
                _send(sock, ("result", run_trial(message[1])))
            except Exception:  # the trial could not even be recorded: tell the driver, keep serving
                _send(sock, ("error", traceback.format_exc()))
    yield slot


class SparkPoolExecutor(SparkExecutor):
    """Run trials on ``parallelism`` long-lived Spark tasks that pull trials from the driver.

    Example:
        >>> executor = SparkPoolExecutor(get_spark("local[2]"), parallelism=2)  # doctest: +SKIP
    """

    name = "spark-pool"

    def __init__(self, spark: SparkSession, parallelism: int | None = None) -> None:
        # Slots, the executors' environment check and the over-subscription warning are the job executor's.
        super().__init__(spark, parallelism)
        sc = spark.sparkContext
        self._host = sc.getConf().get("spark.driver.host", "127.0.0.1")
        self._token = secrets.token_hex(16)
        self._prefix = f"sparksweep-pool-{uuid.uuid4().hex[:8]}"
        self._server = socket.create_server((self._host, 0))
        self._server.settimeout(1.0)
        self._port = int(self._server.getsockname()[1])
        self._queue: queue.Queue[tuple[TrialTask, Future[TrialResult]] | None] = queue.Queue()
        self._handles: list[BroadcastData] = []
        self._threads: list[threading.Thread] = []
        self._closing = threading.Event()
        self._started = False
        self._lock = threading.Lock()
        self._running: dict[int, int] = {}  # trial number -> the slot running it
        self._dropped: set[int] = set()  # trials cancelled before a slot took them

    def share(self, data: TrainingData) -> BroadcastData:
        if self._started:
            raise TrialError("share() must be called before the first trial is submitted to a SparkPoolExecutor")
        handle = BroadcastData(fingerprint=data.fingerprint, broadcast=self.spark.sparkContext.broadcast(data))
        self._handles.append(handle)
        return handle

    # ---- slots ------------------------------------------------------------------------------------------------
    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        acceptor = threading.Thread(target=self._accept, name="sparksweep-pool-accept", daemon=True)
        acceptor.start()
        self._threads.append(acceptor)
        for slot in range(self._parallelism):
            self._launch(slot)

    def _launch(self, slot: int) -> None:
        thread = threading.Thread(target=self._run_slot_job, args=(slot,), name=f"sparksweep-slot-{slot}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _run_slot_job(self, slot: int) -> None:
        sc = self.spark.sparkContext
        host, port, token, handles = self._host, self._port, self._token, list(self._handles)
        sc.setJobGroup(f"{self._prefix}-slot-{slot}", f"sparksweep trial slot {slot}", interruptOnCancel=True)
        try:
            sc.parallelize([slot], 1).mapPartitions(
                lambda rows: _serve(rows, host, port, token, slot, handles)
            ).collect()
        except Exception as exc:  # the slot's task died or was cancelled; its trial is failed by the connection
            if not self._closing.is_set():
                _LOG.warning("sparksweep trial slot %d ended (%s); starting it again", slot, exc)
                self._launch(slot)

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(_CONNECT_TIMEOUT)
            try:
                hello = _recv(conn)
            except (OSError, ConnectionError, EOFError):
                conn.close()
                continue
            if not (isinstance(hello, tuple) and len(hello) == 3 and hello[:2] == ("hello", self._token)):
                conn.close()  # not one of our tasks
                continue
            conn.settimeout(None)
            slot = int(hello[2])
            thread = threading.Thread(target=self._feed, args=(conn, slot), name=f"sparksweep-feed-{slot}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _feed(self, conn: socket.socket, slot: int) -> None:
        """Hand trials to one slot, one at a time, and resolve their futures."""
        with conn:
            while True:
                item = self._queue.get()
                if item is None:
                    with contextlib.suppress(OSError):  # a slot already gone has nothing left to stop
                        _send(conn, ("stop",))
                    return
                task, future = item
                with self._lock:
                    dropped = task.number in self._dropped
                    self._dropped.discard(task.number)
                if dropped:
                    future.cancel()
                if not future.set_running_or_notify_cancel():
                    continue  # cancelled while queued: the engine records it
                with self._lock:
                    self._running[task.number] = slot
                try:
                    _send(conn, ("trial", task))
                    kind, payload = _recv(conn)
                except (OSError, ConnectionError, EOFError) as exc:
                    future.set_exception(TrialError(f"the Spark task running trial {task.number} was lost: {exc}"))
                    return
                finally:
                    with self._lock:
                        self._running.pop(task.number, None)
                if kind == "result":
                    future.set_result(payload)
                else:
                    future.set_exception(TrialError(f"trial {task.number} could not be recorded:\n{payload}"))

    # ---- executor interface -----------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Launch the slots' Spark tasks now (after :meth:`share`): they start and import while the driver sets
        the sweep up, and the first trials are sent to warm slots."""
        self._start()

    def submit(self, task: TrialTask) -> Future[TrialResult]:
        self._start()
        future: Future[TrialResult] = Future()
        self._queue.put((task, future))
        return future

    @property
    def can_cancel_running(self) -> bool:
        return True

    def cancel(self, number: int) -> None:
        """Stop trial ``number`` by cancelling its slot's Spark job; the slot is started again for the next trial."""
        with self._lock:
            slot = self._running.get(number)
            if slot is None:
                self._dropped.add(number)  # still queued: the slot that takes it drops it
        if slot is not None:
            self.spark.sparkContext.cancelJobGroup(f"{self._prefix}-slot-{slot}")

    def cancel_all(self) -> None:
        sc = self.spark.sparkContext
        self._closing.set()
        # Queued trials never start; running ones fail through their lost connection.
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None and item[1].cancel():
                item[1].set_running_or_notify_cancel()  # wakes concurrent.futures.wait() for it
        for slot in range(self._parallelism):
            sc.cancelJobGroup(f"{self._prefix}-slot-{slot}")

    def shutdown(self) -> None:
        self._closing.set()
        for _ in range(self._parallelism):
            self._queue.put(None)
        for thread in list(self._threads):
            thread.join(timeout=30)
        self._server.close()
        super().shutdown()
        for handle in self._handles:
            handle.broadcast.unpersist()
        self._handles.clear()
