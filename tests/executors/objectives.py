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
