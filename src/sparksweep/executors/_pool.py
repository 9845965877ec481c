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
started again when there is work for it. :meth:`shutdown` never waits long: idle slots are told to stop (their
Python workers return to Spark for reuse), busy or still-starting ones are cancelled. A pool that is never shut down
is released when it is garbage collected or the interpreter exits (with a ``ResourceWarning``), so it does not keep
its task slots from the next sweep.

Security: the driver listens on its own Spark host address only, and every connection must present a random token.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import secrets
import socket
import struct
import threading
import time
import traceback
import uuid
import warnings
import weakref
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sparksweep._spark import spark_setting
from sparksweep.errors import TrialError, TrialLostError
from sparksweep.executors._spark import BroadcastData, SparkExecutor

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    from sparksweep.data import TrainingData
    from sparksweep.trial import TrialResult
    from sparksweep.worker import ComputedTrial, TrialTask

__all__ = ["SparkPoolExecutor"]

_LOG = logging.getLogger(__name__)
_HEADER = struct.Struct("!Q")
_CONNECT_TIMEOUT = 60.0
_SHUTDOWN_WAIT = 3.0
"""Seconds :meth:`SparkPoolExecutor.shutdown` waits for its slots to give their task slots back to Spark."""
_RECORD_WAIT = 2.0
"""Seconds a cancellation waits for the trial the same slot is still recording, before it ends the slot."""
_MAX_START_FAILURES = 3
"""A slot whose Spark task ends this many times in a row before it connects is not started again."""

_Item = tuple["TrialTask", "_TrialFuture"]


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


def _no_delay(sock: socket.socket) -> None:
    """Small messages go out at once (the worker's "started" and "result" follow each other; Nagle's algorithm
    would hold the second until the first is acknowledged)."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Inbox:
    """The worker's side of the connection, read by a thread of its own so a cancellation is seen mid-trial.

    When the driver closes the connection while a trial runs or records (a cancelled trial, a pool shut down, a dead
    driver), the process ends at once: the trial must not record anything after the driver recorded it KILLED.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._messages: queue.Queue[Any] = queue.Queue()
        self._lock = threading.Lock()
        self._busy = 0  # trials computing or recording in this process
        self._closed = False
        threading.Thread(target=self._read, name="sparksweep-slot-inbox", daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                message = _recv(self._sock)
            except (OSError, ConnectionError, EOFError, struct.error):
                break
            self._messages.put(message)
        with self._lock:
            self._closed = True
            if self._busy:
                os._exit(1)  # the trial is cancelled: stop it before it writes to its run
        self._messages.put(None)

    def next(self) -> Any:
        """The driver's next message; None once the connection is closed."""
        return self._messages.get()

    def begin(self) -> bool:
        """Mark a trial as running; False if the connection closed meanwhile (the trial is not run)."""
        with self._lock:
            if self._closed:
                return False
            self._busy += 1
            return True

    def end(self) -> None:
        """Mark a trial as reported (its result or error sent)."""
        with self._lock:
            self._busy -= 1


def _serve(
    rows: Iterable[int],
    host: str,
    port: int,
    token: str,
    slot: int,
    handles: list[BroadcastData],
    tracking_uri: str | None,
) -> Iterator[int]:
    """The body of a slot's Spark task: run the trials the driver sends until it says stop."""
    # Imported before saying hello, so the first trial does not pay for the imports (the driver prepares
    # meanwhile). The store opens in the background (the first MlflowClient of a process: ~0.5 s for SQLite): the
    # first trial starts at once and its run is created once the store is open (see RunOpening).
    from sparksweep.worker import start_trial, tracking_client

    if tracking_uri is not None:
        threading.Thread(
            target=tracking_client, args=(tracking_uri,), name="sparksweep-open-store", daemon=True
        ).start()

    # The handles ride in this job's closure, so their broadcasts are loaded in this task; trials sent later over
    # the socket refer to the same broadcast ids.
    del handles
    with socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT) as sock:
        sock.settimeout(None)
        _no_delay(sock)
        sending = threading.Lock()  # "started" comes from the thread that creates the trial's run

        def say(message: Any) -> None:
            with sending:
                _send(sock, message)

        say(("hello", token, slot))
        inbox = _Inbox(sock)

        def report(computed: ComputedTrial) -> None:
            """Record a computed trial and send its result (or why it could not be recorded)."""
            try:
                say(("result", computed.number, computed.record()))
            except Exception:  # not even recorded: the driver records it
                say(("error", computed.number, traceback.format_exc()))
            finally:
                inbox.end()

        recording: threading.Thread | None = None
        try:
            while True:
                message = inbox.next()
                if message is None or message[0] == "stop" or not inbox.begin():
                    break
                task = message[1]

                def opened(run_id: str, number: int = task.number) -> None:
                    say(("started", number, run_id))

                try:
                    # The worker creates the child run while the trial starts, and names it to the driver then.
                    computed = start_trial(task, on_open=opened)
                except Exception:  # the trial could not even start: tell the driver, keep serving
                    say(("error", task.number, traceback.format_exc()))
                    inbox.end()
                    continue
                if recording is not None:
                    recording.join()  # one trial records while the next computes
                    recording = None
                if computed.same_thread:
                    report(computed)
                    continue
                # The slot is free once the trial is computed: the driver sends the next one while this one records.
                recording = threading.Thread(
                    target=report, args=(computed,), name=f"sparksweep-record-{task.number}", daemon=True
                )
                recording.start()
                say(("computed", task.number, computed.value))
        finally:
            if recording is not None:
                recording.join()
            with contextlib.suppress(OSError):  # wakes the inbox's reader; the driver may have closed it already
                sock.shutdown(socket.SHUT_RDWR)
    # The partition's input is read to its end: a Python worker whose input is left unread is not reused by Spark,
    # so the next sweep's slots would start new processes and import everything again. Read last: its end comes
    # from the JVM tens of milliseconds after the task starts, and the slot connects meanwhile.
    for _ in rows:
        pass
    yield slot


class _TrialFuture(Future["TrialResult"]):
    """A trial's future, with a second one that resolves when its slot has computed it (and records it while it
    takes the next trial)."""

    def __init__(self) -> None:
        super().__init__()
        self.computed: Future[float | None] = Future()
        """Resolves to the trial's value as computed (None: failed or pruned) when its slot is free again."""

    def free_slot(self, value: float | None) -> None:
        if not self.computed.done():
            self.computed.set_result(value)


@dataclass(eq=False)
class _Flight:
    """A trial sent to a slot that has not reported its result yet."""

    number: int
    future: _TrialFuture
    run_id: str | None = None


@dataclass(eq=False)
class _Connection:
    """A slot's connection as the driver sees it: the trial it computes and the one it records."""

    slot: int
    sock: socket.socket
    flights: dict[int, _Flight] = field(default_factory=dict)
    computing: int | None = None
    """The trial the slot computes (it gets the next one once this one is computed)."""
    free: threading.Event = field(default_factory=threading.Event)
    closed: bool = False

    def recording(self) -> list[_Flight]:
        return [f for n, f in self.flights.items() if n != self.computing]


class _Slots:
    """The pool's moving parts: the listening socket, the trial queue, the slots' jobs and connections.

    Its threads refer to this object only, never to the :class:`SparkPoolExecutor`, so an executor nobody shut down
    can be garbage collected, and its finalizer releases the slots.
    """

    def __init__(self, sc: SparkContext, parallelism: int) -> None:
        self.sc = sc
        self.parallelism = parallelism
        self.host = spark_setting(sc, "spark.driver.host", "127.0.0.1")
        self.token = secrets.token_hex(16)
        self.prefix = f"sparksweep-pool-{uuid.uuid4().hex[:8]}"
        self.server = socket.create_server((self.host, 0))
        self.server.settimeout(1.0)
        self.port = int(self.server.getsockname()[1])
        self.queue: queue.Queue[_Item | None] = queue.Queue()
        self.handles: list[BroadcastData] = []
        self.tracking_uri: str | None = None
        self.lock = threading.Condition()
        self.closing = False
        self.started = False
        self.alive: set[int] = set()  # slots whose Spark job runs
        self.connections: list[_Connection] = []
        self.dropped: set[int] = set()  # trials cancelled before a slot took them
        self.start_failures: dict[int, int] = {}  # slot -> its jobs that ended in a row before connecting
        self.greeted: set[int] = set()  # slots whose current job has connected

    def group(self, slot: int) -> str:
        return f"{self.prefix}-slot-{slot}"

    def _spark_alive(self) -> bool:
        from pyspark import SparkContext

        return SparkContext._active_spark_context is self.sc and self.sc._jsc is not None

    # ---- slots ------------------------------------------------------------------------------------------------
    def start(self) -> None:
        with self.lock:
            if self.started or self.closing:
                return
            self.started = True
        threading.Thread(target=self._accept, name="sparksweep-pool-accept", daemon=True).start()
        self.ensure_slots()

    def ensure_slots(self) -> None:
        """Start the slots whose job is not running (never started, or ended by a cancellation)."""
        with self.lock:
            if not self.started or self.closing:
                return
            missing = [
                s
                for s in range(self.parallelism)
                if s not in self.alive and self.start_failures.get(s, 0) < _MAX_START_FAILURES
            ]
            self.alive.update(missing)
            self.greeted.difference_update(missing)
        for slot in missing:
            name = f"sparksweep-slot-{slot}"
            threading.Thread(target=self._run_slot_job, args=(slot,), name=name, daemon=True).start()

    def _run_slot_job(self, slot: int) -> None:
        host, port, token, handles, uri = self.host, self.port, self.token, list(self.handles), self.tracking_uri
        error: Exception | None = None
        try:
            self.sc.setJobGroup(self.group(slot), f"sparksweep trial slot {slot}", interruptOnCancel=True)
            self.sc.parallelize([slot], 1).mapPartitions(
                lambda rows: _serve(rows, host, port, token, slot, handles, uri)
            ).collect()
        except Exception as exc:  # the slot's task died or was cancelled; its trial is failed by the connection
            error = exc
        with self.lock:
            self.alive.discard(slot)
            self.lock.notify_all()
            if self.closing:
                return
            if slot not in self.greeted:
                self.start_failures[slot] = self.start_failures.get(slot, 0) + 1
            waiting = not self.queue.empty()
        if error is not None:
            _LOG.info("sparksweep trial slot %d ended (%s)", slot, str(error).splitlines()[0][:200])
        if self.start_failures.get(slot, 0) >= _MAX_START_FAILURES:
            self._give_up(slot, error)
        elif waiting:  # trials wait for a slot: start this one again now (else the next submit does)
            self.ensure_slots()

    def _give_up(self, slot: int, error: Exception | None) -> None:
        why = f"its Spark task ended {_MAX_START_FAILURES} times before connecting to the driver"
        _LOG.warning("sparksweep trial slot %d is not started again: %s (%s)", slot, why, error)
        with self.lock:
            if self.alive or self.connections:
                return  # other slots still take the queued trials
        self.drain(TrialError(f"no sparksweep trial slot could start: {why}; last error: {error}"))

    def _accept(self) -> None:
        while not self.closing:
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(_CONNECT_TIMEOUT)
            try:
                hello = _recv(conn)
            except (OSError, ConnectionError, EOFError, struct.error):
                conn.close()
                continue
            if not (isinstance(hello, tuple) and len(hello) == 3 and hello[:2] == ("hello", self.token)):
                conn.close()  # not one of our tasks
                continue
            conn.settimeout(None)
            _no_delay(conn)
            connection = _Connection(slot=int(hello[2]), sock=conn)
            with self.lock:
                if self.closing:
                    conn.close()
                    return
                self.connections.append(connection)
                self.greeted.add(connection.slot)
                self.start_failures.pop(connection.slot, None)
            threading.Thread(
                target=self._feed, args=(connection,), name=f"sparksweep-feed-{connection.slot}", daemon=True
            ).start()

    def _feed(self, conn: _Connection) -> None:
        """Hand trials to one slot: the next one as soon as the slot has computed its last (its results are recorded
        meanwhile, and reported to :meth:`_listen`)."""
        threading.Thread(target=self._listen, args=(conn,), name=f"sparksweep-listen-{conn.slot}", daemon=True).start()
        conn.free.set()
        while True:
            conn.free.wait()
            if conn.closed:
                return
            item = self.queue.get()
            if item is None:
                with contextlib.suppress(OSError):  # a slot already gone has nothing left to stop
                    _send(conn.sock, ("stop",))
                return
            task, future = item
            with self.lock:
                if conn.closed:  # the slot went away while this thread waited for work: another slot takes it
                    self.queue.put(item)
                    break
                if task.number in self.dropped:
                    self.dropped.discard(task.number)
                    future.cancel()
                if not future.set_running_or_notify_cancel():
                    continue  # cancelled while queued: the engine records it
                conn.flights[task.number] = _Flight(task.number, future)
                conn.computing = task.number
                conn.free.clear()
            try:
                _send(conn.sock, ("trial", task))
            except OSError:
                return  # the listener fails the trial (its connection is gone)
        self.ensure_slots()  # for the trial put back

    def _listen(self, conn: _Connection) -> None:
        """Read one slot's messages and resolve its trials' futures; fail the ones left when the slot goes."""
        error: BaseException | None = None
        try:
            while True:
                self._on_message(conn, _recv(conn.sock))
        except (OSError, ConnectionError, EOFError, struct.error) as exc:
            error = exc
        finally:
            with self.lock:
                conn.closed = True
                lost = list(conn.flights.values())
                conn.flights.clear()
                conn.computing = None
                self.connections.remove(conn)
                self.lock.notify_all()
            conn.free.set()  # wakes the feeder, which ends
            conn.sock.close()
            for flight in lost:
                why = f"the Spark task running trial {flight.number} was lost: {error}"
                flight.future.free_slot(None)
                if not flight.future.done():
                    flight.future.set_exception(TrialLostError(why, run_id=flight.run_id))

    def _on_message(self, conn: _Connection, message: Any) -> None:
        kind, number = message[0], int(message[1])
        with self.lock:
            flight = conn.flights.get(number)
            if flight is None:
                return  # a trial already failed by a cancellation
            if kind == "started":
                flight.run_id = str(message[2])
                return
            if conn.computing == number:
                conn.computing = None
                conn.free.set()
            if kind == "computed":
                flight.future.free_slot(message[2])
                return
            del conn.flights[number]
            self.lock.notify_all()
        if kind == "result":
            flight.future.free_slot(message[2].value)
            flight.future.set_result(message[2])
        else:
            flight.future.free_slot(None)
            flight.future.set_exception(
                TrialLostError(f"trial {number} could not be run or recorded:\n{message[2]}", run_id=flight.run_id)
            )

    # ---- cancellation and shutdown ----------------------------------------------------------------------------
    def cancel(self, number: int) -> None:
        with self.lock:
            conn = next((c for c in self.connections if c.computing == number), None)
            if conn is None:
                if not any(number in c.flights for c in self.connections):
                    self.dropped.add(number)  # still queued: the slot that takes it drops it
                return  # computed already: its results are being recorded
        self._kill(conn, number)

    def _kill(self, conn: _Connection, number: int | None = None) -> None:
        """Stop the trial ``conn``'s slot computes (``number``, if given): its job is cancelled (so Spark does not
        retry the task) and the connection closed, which fails the trial's future now and ends the worker's process.
        A trial the slot is still recording is waited for first (a few seconds at most), so it is not lost with it;
        if ``number`` was computed meanwhile, the slot is left alone."""
        deadline = time.monotonic() + _RECORD_WAIT
        with self.lock:
            while conn.recording() and not conn.closed and time.monotonic() < deadline:
                self.lock.wait(deadline - time.monotonic())
            if number is not None and conn.computing != number:
                return
        if self._spark_alive():
            self.sc.cancelJobGroup(self.group(conn.slot))
        with contextlib.suppress(OSError):  # already closed by its own end
            conn.sock.shutdown(socket.SHUT_RDWR)

    def drain(self, error: BaseException | None = None) -> None:
        """Take the queued trials out: cancelled (the engine records them), or failed with ``error``."""
        while True:
            try:
                item = self.queue.get_nowait()
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

    def cancel_all(self) -> None:
        self.drain()
        with self.lock:
            busy = [c for c in self.connections if c.computing is not None]
        for conn in busy:
            self._kill(conn)

    def close(self, leaked: bool = False) -> None:
        """Stop every slot without waiting long: idle ones are told to stop (their Python workers go back to Spark
        for reuse), busy or still-starting ones are cancelled."""
        with self.lock:
            if self.closing:
                return
            self.closing = True
            connections = list(self.connections)
        if leaked and self.started:
            warnings.warn(
                "a SparkPoolExecutor was not shut down; its trial slots are released now. Call shutdown() or use "
                "it as a context manager",
                ResourceWarning,
                stacklevel=2,
            )
        self.drain()
        for conn in connections:
            if conn.computing is not None:
                self._kill(conn)
            self.queue.put(None)  # an idle slot's feed sends it "stop" (after it has recorded its last trial)
        with contextlib.suppress(OSError):  # wakes the acceptor on Linux; closing again is harmless
            self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()
        deadline = time.monotonic() + _SHUTDOWN_WAIT
        with self.lock:
            connected = {c.slot for c in connections}
            starting = [s for s in self.alive if s not in connected]
        if self._spark_alive():
            for slot in starting:  # never connected: nothing to tell them
                self.sc.cancelJobGroup(self.group(slot))
        with self.lock:
            while self.alive and time.monotonic() < deadline:
                self.lock.wait(deadline - time.monotonic())
            late = sorted(self.alive)
        if late and self._spark_alive():
            for slot in late:  # their tasks did not end in time: Spark kills them
                self.sc.cancelJobGroup(self.group(slot))
        if self._spark_alive():
            for handle in self.handles:
                handle.broadcast.unpersist()
        self.handles.clear()


class SparkPoolExecutor(SparkExecutor):
    """Run trials on ``parallelism`` long-lived Spark tasks that pull trials from the driver.

    Use it as a context manager, or call :meth:`shutdown` (a pool left open is released when it is garbage
    collected).

    Example:
        >>> with SparkPoolExecutor(get_spark("local[2]"), parallelism=2) as executor:  # doctest: +SKIP
        ...     result = run_sweep(spec, executor=executor)
    """

    name = "spark-pool"

    def __init__(self, spark: SparkSession, parallelism: int | None = None) -> None:
        # Slots, the executors' environment check and the over-subscription warning are the job executor's.
        super().__init__(spark, parallelism)
        self._slots = _Slots(spark.sparkContext, self._parallelism)
        self._finalizer = weakref.finalize(self, self._slots.close, True)

    def share(self, data: TrainingData) -> BroadcastData:
        if self._slots.started:
            raise TrialError("share() must be called before the first trial is submitted to a SparkPoolExecutor")
        handle = BroadcastData(fingerprint=data.fingerprint, broadcast=self.spark.sparkContext.broadcast(data))
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
        future = _TrialFuture()
        self._slots.queue.put((task, future))
        self._slots.ensure_slots()  # a slot ended by a cancellation starts again now that there is work
        return future

    def computed(self, future: Future[TrialResult]) -> Future[float | None] | None:
        """Resolves to the trial's value when it is computed: its slot takes the next trial while it records this
        one."""
        return future.computed if isinstance(future, _TrialFuture) else None

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
        super().shutdown()
