"""Objectives the executor tests run as trials (shipped to Spark's workers by value, as a notebook's would be)."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

DIE_ON = 3
"""The trial number :func:`dies_on_trial_3` kills its own worker process in."""


def dies_on_trial_3(params: dict[str, Any], trial: Any) -> float:
    """Kills its own worker process (SIGKILL, as the OOM killer would) in trial 3; the others sleep a little, so
    one of them is running beside it when it dies."""
    if trial.number == DIE_ON:
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.6)
    return float(params["x"])


def behave(params: dict[str, Any], trial: Any) -> float:
    """Sleeps ``params['sleep']`` seconds, then raises if ``params['fail']``, kills its process if ``params['die']``,
    else returns ``params['x']``."""
    time.sleep(float(params.get("sleep", 0.0)))
    if params.get("die"):
        os.kill(os.getpid(), signal.SIGKILL)
    if params.get("fail"):
        raise ValueError(f"deliberate failure of trial {trial.number}")
    return float(params.get("x", 1.0))


STORE_HELD_S = 20.0
"""Seconds :func:`recording_outlived` keeps the store's write lock (a kill of its process releases it at once)."""


def _hold_store(tracking_uri: str, seconds: float) -> None:
    """Take the SQLite store's write lock in a thread of this process for ``seconds`` (as another writer would):
    the trial's recording, which starts once the objective returns, waits for it."""
    import sqlite3
    import threading

    path = tracking_uri.removeprefix("sqlite:///")
    held = threading.Event()

    def hold() -> None:
        connection = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        held.set()
        time.sleep(seconds)
        connection.execute("ROLLBACK")
        connection.close()

    threading.Thread(target=hold, daemon=True).start()
    held.wait(30.0)


def recording_outlived(params: dict[str, Any], trial: Any) -> float:
    """Trial 0 returns 0.25 while its store is held by another writer, so its slot is still recording it when trial 1,
    the slot's next, kills the worker process (SIGKILL); the other trials return ``params['x']``."""
    if trial.number == 0:
        trial.run_id  # noqa: B018  (waits for the run: it exists before the store is held)
        _hold_store(trial.tracking_uri, STORE_HELD_S)
        return 0.25
    if trial.number == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return float(params["x"])
