"""Starting and stopping the executor in the background: results, errors with their cause, nothing left running."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

import pytest

from sparksweep.errors import DataError, DependencyError
from sparksweep.executors import BaseExecutor
from sparksweep.sweep._background import ExecutorShutdown, ExecutorStartup


class _Recorder(BaseExecutor):
    """An executor that runs nothing and remembers whether (and in which thread) it was shut down."""

    name = "recorder"

    def __init__(self, session: Any = None, fail_shutdown: bool = False) -> None:
        self.session = session
        self.fail_shutdown = fail_shutdown
        self.shut_down = threading.Event()
        self.shutdown_thread = ""

    @property
    def slots(self) -> int:
        return 1

    def share(self, data: Any) -> Any:
        return data

    def submit(self, task: Any) -> Future[Any]:
        raise NotImplementedError

    def cancel_all(self) -> None:
        return

    def shutdown(self) -> None:
        self.shutdown_thread = threading.current_thread().name
        self.shut_down.set()
        if self.fail_shutdown:
            raise OSError("the port is already closed")


def test_startup_runs_in_another_thread_and_hands_over_the_executor() -> None:
    seen: list[str] = []

    def session() -> str:
        seen.append(threading.current_thread().name)
        return "the session"

    startup = ExecutorStartup(session, _Recorder)
    runner = startup.executor()
    assert isinstance(runner, _Recorder)
    assert runner.session == "the session"
    assert startup.session() == "the session"
    assert seen == ["sparksweep-startup"]
    serial = ExecutorStartup(lambda: seen.append(threading.current_thread().name), _Recorder, background=False)
    assert serial.executor().session is None
    assert seen[-1] == threading.current_thread().name


def test_a_background_error_is_raised_in_the_driver_with_its_traceback() -> None:
    def no_java() -> Any:
        raise DependencyError("Spark needs Java 17 or 21 and none was found")

    startup = ExecutorStartup(no_java, _Recorder)
    with pytest.raises(DependencyError, match="Java 17") as info:
        startup.executor()
    assert info.traceback[-1].name == "no_java"  # raised where it happened, not re-wrapped
    with pytest.raises(DependencyError):
        startup.session()


def test_abandoning_shuts_down_what_started_and_keeps_both_errors() -> None:
    # Finished before the driver failed: shut down at once, and a background error becomes a note.
    done = ExecutorStartup(lambda: None, _Recorder)
    runner = done.executor()
    done.abandon(DataError("no rows"))
    assert runner.shut_down.is_set()

    def broken(session: Any) -> BaseExecutor:
        raise DependencyError("sparksweep cannot be imported on the Spark executors")

    failed = ExecutorStartup(lambda: None, broken)
    with pytest.raises(DependencyError):
        failed.executor()
    error = DataError("no rows")
    failed.abandon(error)
    assert any("cannot be imported on the Spark executors" in note for note in error.__notes__)

    # Still starting when the driver failed: shut down by the background thread when it is done.
    release = threading.Event()
    recorder = _Recorder()

    def slow(session: Any) -> BaseExecutor:
        release.wait(10)
        return recorder

    late = ExecutorStartup(lambda: None, slow)
    late.abandon(DataError("no rows"))
    assert not recorder.shut_down.is_set()
    release.set()
    assert recorder.shut_down.wait(10)
    assert recorder.shutdown_thread == "sparksweep-startup"


def test_shutdown_in_the_background_raises_its_error_or_notes_it() -> None:
    runner = _Recorder()
    ExecutorShutdown(runner).wait()
    assert runner.shutdown_thread == "sparksweep-shutdown"

    with pytest.raises(OSError, match="already closed"):
        ExecutorShutdown(_Recorder(fail_shutdown=True)).wait()
    error = DataError("the champion could not be refitted")
    ExecutorShutdown(_Recorder(fail_shutdown=True)).wait(error)
    assert any("already closed" in note for note in error.__notes__)
