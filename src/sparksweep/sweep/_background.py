"""Start and stop a sweep's executor in the background, while the driver does the rest of the set-up or teardown.

Starting Spark (the JVM, the SparkSession, the executors' environment check) takes most of a small sweep's set-up,
and none of it depends on the tracking store, the data or the search space. So :class:`ExecutorStartup` runs it in a
thread of its own while the driver opens the store (a new SQLite store is created and migrated), loads and splits
the data and builds the search algorithm; the driver then waits for whatever of it is not done yet. After the last
trial, :class:`ExecutorShutdown` releases the executor (its slots' tasks end, its broadcasts are dropped) while the
driver refits and registers the champion.

Errors are never lost: one raised in the background is raised in the driver when it asks for the result (with its
own traceback). When the driver fails first, the background step is abandoned: what it started is shut down when it
finishes, and its error (if it already has one) is added to the driver's as a note.

Example:
    >>> startup = ExecutorStartup(lambda: None, lambda session: LocalExecutor(2))  # doctest: +SKIP
    >>> runner = startup.executor()  # doctest: +SKIP
    >>> stopping = ExecutorShutdown(runner)  # doctest: +SKIP
    >>> stopping.wait()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from sparksweep.executors import BaseExecutor

__all__ = ["ExecutorShutdown", "ExecutorStartup"]

_LOG = logging.getLogger(__name__)


class ExecutorStartup:
    """Run ``make_session()`` then ``make_executor(session)`` in a background thread, started at once.

    Args:
        make_session: Starts (or returns) the SparkSession; returns None when the executor needs none.
        make_executor: Builds the sweep's executor on that session.
        background: False runs both steps now, in the caller's thread (what a benchmark compares against).
    """

    def __init__(
        self,
        make_session: Callable[[], Any],
        make_executor: Callable[[Any], BaseExecutor],
        *,
        background: bool = True,
    ) -> None:
        self._make_session = make_session
        self._make_executor = make_executor
        self._session: Future[Any] = Future()
        self._executor: Future[BaseExecutor] = Future()
        self._lock = threading.Lock()
        self._abandoned = False
        if background:
            threading.Thread(target=self._run, name="sparksweep-startup", daemon=True).start()
        else:
            self._run()

    def _run(self) -> None:
        try:
            session = self._make_session()
        except BaseException as exc:  # handed to the driver's thread, which raises it
            self._session.set_exception(exc)
            self._executor.set_exception(exc)
            return
        self._session.set_result(session)
        try:
            runner = self._make_executor(session)
        except BaseException as exc:
            self._executor.set_exception(exc)
            return
        with self._lock:
            abandoned = self._abandoned
            if not abandoned:
                self._executor.set_result(runner)
        if abandoned:  # the sweep failed while this started: nobody else will shut it down
            runner.shutdown()

    def session(self) -> Any:
        """The SparkSession (waits for it to start); raises what starting it raised."""
        return self._session.result()

    def executor(self) -> BaseExecutor:
        """The executor (waits for it); raises what starting the session or building the executor raised."""
        return self._executor.result()

    def abandon(self, error: BaseException) -> None:
        """The sweep failed with ``error`` before it took the executor: shut down what was started (now, or when
        the background step finishes), and note the background step's own error on ``error``."""
        with self._lock:
            self._abandoned = True
            done = self._executor.done()
        if not done:
            self._executor.add_done_callback(_log_late_error)
            return
        failure = self._executor.exception()
        if failure is None:
            self._executor.result().shutdown()
        elif failure is not error:
            error.add_note(f"Starting Spark and the executor in the background also failed: {failure!r}")


def _log_late_error(future: Future[BaseExecutor]) -> None:
    failure = future.exception()
    if failure is not None:  # the sweep had already failed with another error, raised in its own thread
        _LOG.warning("starting Spark and the executor of a failed sweep also failed: %r", failure)


class ExecutorShutdown:
    """Run ``runner.shutdown()`` in a background thread, started at once; :meth:`wait` joins it."""

    def __init__(self, runner: BaseExecutor) -> None:
        self._done: Future[None] = Future()
        self._runner = runner
        threading.Thread(target=self._run, name="sparksweep-shutdown", daemon=True).start()

    def _run(self) -> None:
        try:
            self._runner.shutdown()
        except BaseException as exc:  # raised by wait(), in the driver's thread
            self._done.set_exception(exc)
        else:
            self._done.set_result(None)

    def wait(self, error: BaseException | None = None) -> None:
        """Wait until the executor is shut down and raise what shutting it down raised; when the driver is already
        failing with ``error``, a shutdown error is added to it as a note instead."""
        failure = self._done.exception()
        if failure is None:
            return
        if error is None:
            raise failure
        if failure is not error:
            error.add_note(f"Shutting the executor down in the background also failed: {failure!r}")
