"""A slot's side of the pool: the body of its long-running Spark task, which connects back to the driver, runs the
trials it is sent one after another, and records each while it computes the next."""

from __future__ import annotations

import os
import queue
import threading
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sparksweep.executors._pool._wire import Channel, connect

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from sparksweep.executors._cluster import BroadcastData
    from sparksweep.worker import ComputedTrial

__all__ = ["CONNECT_TIMEOUT", "SlotArgs", "serve"]

CONNECT_TIMEOUT = 60.0
"""Seconds a slot's task tries to reach the driver."""


@dataclass(frozen=True)
class SlotArgs:
    """What a slot's Spark task needs to reach its driver (shipped in the job's closure)."""

    host: str
    port: int
    key: bytes
    slot: int
    handles: list[BroadcastData]
    tracking_uri: str | None


class _Inbox:
    """The worker's side of the connection, read by a thread of its own so a cancellation is seen mid-trial.

    When the driver closes the connection while a trial runs or records (a cancelled trial, a pool shut down, a dead
    driver), the process ends at once: the trial must not record anything after the driver recorded it KILLED.
    """

    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._messages: queue.Queue[Any] = queue.Queue()
        self._lock = threading.Lock()
        self._busy = 0  # trials computing or recording in this process
        self._closed = False
        threading.Thread(target=self._read, name="sparksweep-slot-inbox", daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                message = self._channel.recv()
            except (OSError, EOFError):
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


class _Runner:
    """Runs the trials one slot is sent: each computed in turn, recorded in a thread while the next computes."""

    def __init__(self, channel: Channel, inbox: _Inbox) -> None:
        self.channel = channel
        self.inbox = inbox
        self.recording: threading.Thread | None = None

    def report(self, computed: ComputedTrial) -> None:
        """Record a computed trial and send its result (or why it could not be recorded)."""
        try:
            self.channel.send(("result", computed.number, computed.record()))
        except Exception:  # not even recorded: the driver records it
            self.channel.send(("error", computed.number, traceback.format_exc()))
        finally:
            self.inbox.end()

    def run(self, task: Any) -> None:
        from sparksweep.worker import start_trial

        number = task.number

        def opened(run_id: str) -> None:
            self.channel.send(("started", number, run_id))

        try:
            # The worker creates the child run while the trial starts, and names it to the driver then.
            computed = start_trial(task, on_open=opened)
        except Exception:  # the trial could not even start: tell the driver, keep serving
            self.channel.send(("error", number, traceback.format_exc()))
            self.inbox.end()
            return
        self.wait_recorded()  # one trial records while the next computes
        if computed.same_thread:
            self.report(computed)
            return
        # The slot is free once the trial is computed: the driver sends the next one while this one records. The
        # result as computed goes with it: should this process die before the recording is done (the next trial
        # may kill it), the driver records the trial from it.
        self.recording = threading.Thread(
            target=self.report, args=(computed,), name=f"sparksweep-record-{number}", daemon=True
        )
        self.recording.start()
        self.channel.send(("computed", number, computed.value, computed.draft))

    def wait_recorded(self) -> None:
        if self.recording is not None:
            self.recording.join()
            self.recording = None


def serve(rows: Iterable[int], args: SlotArgs) -> Iterator[int]:
    """The body of a slot's Spark task: run the trials the driver sends until it says stop."""
    # Imported before saying hello, so the first trial does not pay for the imports (the driver prepares
    # meanwhile). The store opens in the background (the first MlflowClient of a process: ~0.5 s for SQLite): the
    # first trial starts at once and its run is created once the store is open (see RunOpening).
    from sparksweep.worker import tracking_client

    if args.tracking_uri is not None:
        threading.Thread(
            target=tracking_client, args=(args.tracking_uri,), name="sparksweep-open-store", daemon=True
        ).start()

    # The handles ride in this job's closure, so their broadcasts are loaded in this task; trials sent later over
    # the connection refer to the same broadcast ids.
    channel = connect(args.host, args.port, args.key, timeout=CONNECT_TIMEOUT)
    try:
        channel.send(("hello", args.slot))
        inbox = _Inbox(channel)
        runner = _Runner(channel, inbox)
        try:
            while True:
                message = inbox.next()
                if message is None or message[0] == "stop" or not inbox.begin():
                    break
                runner.run(message[1])
        finally:
            runner.wait_recorded()
            channel.shutdown()  # wakes the inbox's reader; the driver may have closed it already
    finally:
        channel.close()
    # The partition's input is read to its end: a Python worker whose input is left unread is not reused by Spark,
    # so the next sweep's slots would start new processes and import everything again. Read last: its end comes
    # from the JVM tens of milliseconds after the task starts, and the slot connects meanwhile.
    for _ in rows:
        pass
    yield args.slot
