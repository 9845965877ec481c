"""User objectives for the optimize tests (shipped to Spark workers by value, as a notebook's would be)."""

from __future__ import annotations

import time
from typing import Any


def quadratic(params: dict[str, Any], trial: Any) -> float:
    """Minimum 0 at x = 0.3."""
    return float((params["x"] - 0.3) ** 2)


def constant(params: dict[str, Any], trial: Any) -> float:
    return 1.0


def sleeper(params: dict[str, Any], trial: Any) -> float:
    """Sleeps ``params['sleep']`` seconds; logs a tag into its own child run first."""
    trial.client.set_tag(trial.run_id, "slept", str(params["sleep"]))
    time.sleep(float(params["sleep"]))
    return float(params["sleep"])


def failing_on_odd(params: dict[str, Any], trial: Any) -> float:
    if trial.number % 2 == 1:
        raise RuntimeError(f"odd trial {trial.number}")
    return float(params["x"])
