"""Trials in local worker processes: no Java or Spark needed, the same ``run_trial`` as on Spark.

Each slot is one process (started with ``spawn``, so no state leaks from the driver) fed by a driver thread of its
own over a pipe. A process that dies mid-trial (killed by the out-of-memory killer, say) fails that trial only, with
its exit status; the slot starts a new process for the next trial and the other slots carry on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import pickle
import queue
import tempfile
import threading
import traceback
import weakref
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sparksweep.errors import TrialError, TrialLostError
from sparksweep.executors._base import BaseExecutor

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

    from sparksweep.data import TrainingData
    from sparksweep.trial import TrialResult
    from sparksweep.worker import TrialTask

__all__ = ["FileData", "LocalExecutor"]

_Item = tuple["TrialTask", "Future[TrialResult]"]


@dataclass(frozen=True)
class FileData:
    """A data handle backed by a file this process wrote (read once per worker process)."""

    fingerprint: str
    path: str

    def load(self) -> TrainingData:
        with open(self.path, "rb") as fh:
            return pickle.load(fh)  # type: ignore[no-any-return]  # our own file, written by share()


def _serve(conn: Connection) -> None:
    """A worker process: run the trials the driver sends, one at a time, until it sends None."""
    from sparksweep.worker import run_trial

    while True:
        try:
            task = conn.recv()
        except EOFError:  # the driver is gone (an executor never shut down, at the interpreter's exit)
            return
        if task is None:
            return
        try:
            conn.send(("result", run_trial(task)))
        except Exception as exc:  # run_trial raised (its run could not be created): the driver records the trial
            conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


def _exit_status(code: int | None) -> str:
    if code is None:
        return "still running"
    return f"signal {-code}" if code < 0 else f"exit code {code}"


class _Slot:
    """One worker process and the driver thread that hands it trials from the shared queue."""

    def __init__(self, index: int, trials: queue.Queue[_Item | None]) -> None:
        self.index = index
        self._trials = trials
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._feed, name=f"sparksweep-local-{index}", daemon=True)
        self._thread.start()

    def start(self) -> Connection:
        """The worker's end of the pipe; its process is started first if it is not running."""
        with self._lock:
            if self._conn is None or self._process is None or not self._process.is_alive():
                context = multiprocessing.get_context("spawn")
                ours, theirs = context.Pipe()
                self._process = context.Process(
                    target=_serve, args=(theirs,), name=f"sparksweep-local-{self.index}"
                )  # not a daemon: a trial's model may start processes of its own (n_jobs)
                self._process.start()
                theirs.close()
                self._conn = ours
            return self._conn

    def _feed(self) -> None:
        while (item := self._trials.get()) is not None:
            task, future = item
            if future.set_running_or_notify_cancel():
                self._run(task, future)
        self._stop()

    def _run(self, task: TrialTask, future: Future[TrialResult]) -> None:
        conn = self.start()
        try:
            conn.send(dataclasses.replace(task, slot=self.index))  # its run is tagged with the slot
            kind, payload = conn.recv()
        except (EOFError, OSError) as exc:
            future.set_exception(self._lost(task.number, exc))
            return
        if kind == "result":
            future.set_result(payload)
        else:
            future.set_exception(TrialLostError(f"trial {task.number} could not be run:\n{payload}"))

    def _lost(self, number: int, error: BaseException) -> TrialLostError:
        """The trial whose process died: its exit status said; the next trial gets a new process."""
        with self._lock:
            process, self._process, conn, self._conn = self._process, None, self._conn, None
        if conn is not None:
            conn.close()
        status = "unknown"
        if process is not None:
            process.join(5.0)
            status = _exit_status(process.exitcode)
        why = f"the worker process running trial {number} exited ({status})"
        return TrialLostError(why, detail=f"{why}; the pipe to it said {type(error).__name__}: {error}")

    def _stop(self) -> None:
        with self._lock:
            process, conn = self._process, self._conn
        if conn is not None:
            with contextlib.suppress(OSError):  # the process is gone already
                conn.send(None)
            conn.close()
        if process is not None:
            process.join(5.0)
            if process.is_alive():
                process.kill()

    def join(self) -> None:
        self._thread.join()

    def abandon(self) -> None:
        """Close the pipe without waiting: the process sees it closed and ends (an executor nobody shut down)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()


def _abandon(slots: list[_Slot]) -> None:
    for slot in slots:
        slot.abandon()


class LocalExecutor(BaseExecutor):
    """Run trials in ``parallelism`` worker processes, each one trial at a time.

    Example:
        >>> executor = LocalExecutor(parallelism=2)  # doctest: +SKIP
    """

    name = "local"

    def __init__(self, parallelism: int | None = None) -> None:
        self._parallelism = parallelism or max(1, os.cpu_count() or 1)
        self._trials: queue.Queue[_Item | None] = queue.Queue()
        self._slots = [_Slot(i, self._trials) for i in range(self._parallelism)]
        self._tmp = tempfile.TemporaryDirectory(prefix="sparksweep-data-")
        self._closed = False
        # At the interpreter's exit, before multiprocessing joins its children (they would wait for their pipe).
        self._finalizer = weakref.finalize(self, _abandon, self._slots)

    @property
    def slots(self) -> int:
        return self._parallelism

    def share(self, data: TrainingData) -> FileData:
        path = Path(self._tmp.name) / f"{data.fingerprint}.pkl"
        with open(path, "wb") as fh:
            pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return FileData(fingerprint=data.fingerprint, path=str(path))

    def prepare(self, tracking_uri: str | None = None) -> None:
        """Start the worker processes now, so the first trials do not wait for them."""
        del tracking_uri  # each process opens the store with its first trial
        for slot in self._slots:
            slot.start()

    def submit(self, task: TrialTask) -> Future[TrialResult]:
        if self._closed:
            raise TrialError("this LocalExecutor was shut down; create a new one for another sweep")
        future: Future[TrialResult] = Future()
        self._trials.put((task, future))
        return future

    def _drain(self) -> None:
        while True:
            try:
                item = self._trials.get_nowait()
            except queue.Empty:
                return
            if item is not None and item[1].cancel():
                item[1].set_running_or_notify_cancel()  # wakes concurrent.futures.wait() for it

    def cancel_all(self) -> None:
        """Cancel queued trials; a trial already running in a worker process runs to its end."""
        if not self._closed:  # once shut down, the queue holds the slots' stop signs
            self._drain()

    def shutdown(self) -> None:
        """Cancel queued trials, wait for the running ones, and stop the worker processes."""
        if not self._closed:
            self._closed = True
            self._drain()
            for _ in self._slots:
                self._trials.put(None)
        for slot in self._slots:
            slot.join()
        self._finalizer.detach()
        self._tmp.cleanup()
