"""Retries of transient tracking-store errors: a server restarting or overloaded (5xx, 429), a dropped connection, a
timeout, a locked SQLite file.

MLflow's HTTP client already retries each request (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, 7 by default with a backoff
that adds up to minutes). sparksweep retries whole operations (logging a model is several requests) a few times with
its own backoff, and bounds MLflow's per-request retries inside the workers, so a trial against a server that stays
down fails in seconds rather than hanging for many minutes.

Example:
    >>> RetryPolicy(attempts=3).call("read", lambda: 42)
    42
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sparksweep.errors import TrackingError

__all__ = ["RetryPolicy", "is_transient"]

_log = logging.getLogger(__name__)
T = TypeVar("T")

# MLflow error codes of failures that may go away on their own (the server maps 5xx/429/504 to these).
_TRANSIENT_CODES = frozenset(
    {
        "INTERNAL_ERROR",
        "TEMPORARILY_UNAVAILABLE",
        "REQUEST_LIMIT_EXCEEDED",
        "RESOURCE_EXHAUSTED",
        "DEADLINE_EXCEEDED",
        "ABORTED",
    }
)
_TRANSIENT_HTTP = frozenset({408, 429, 500, 502, 503, 504})


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` may succeed when tried again (an unreachable or overloaded store), as opposed to a write the
    store refuses (an unknown run, an invalid or changed param value)."""
    from mlflow.exceptions import MlflowException

    if isinstance(exc, MlflowException):
        return exc.error_code in _TRANSIENT_CODES
    response = getattr(exc, "response", None)  # requests.HTTPError from an artifact upload or download
    status = getattr(response, "status_code", None)
    if status is not None:
        return int(status) in _TRANSIENT_HTTP
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    try:
        import requests
    except ImportError:  # requests comes with mlflow; without it no HTTP error can occur
        return False
    return isinstance(exc, (requests.ConnectionError, requests.Timeout))


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a tracking operation is retried.

    Attributes:
        attempts: Tries of one operation in total (1: no retry).
        initial_delay: Seconds before the second try; doubled after each failure up to ``max_delay``.
        max_delay: The longest pause between two tries.
        http_retries: MLflow's own retries of each HTTP request inside one try, set in trial workers
            (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``) unless the environment already sets it.
        http_backoff: MLflow's backoff factor for those (``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR``), likewise.
    """

    attempts: int = 4
    initial_delay: float = 0.5
    max_delay: float = 8.0
    http_retries: int = 2
    http_backoff: int = 1

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be at least 1. Got {self.attempts} instead.")
        if self.initial_delay < 0 or self.max_delay < 0:
            raise ValueError(
                f"RetryPolicy delays must not be negative. Got {self.initial_delay} and {self.max_delay} instead."
            )

    def bound_http_retries(self) -> None:
        """Bound MLflow's per-request retries in this process (a worker), unless the user has set them."""
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(self.http_retries))
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", str(self.http_backoff))

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Return ``fn(*args, **kwargs)``, retrying transient errors; ``what`` names the operation in messages.

        Raises:
            TrackingError: The error was still transient after :attr:`attempts` tries (it is the cause).
            Exception: A non-transient error, at once and unchanged.
        """
        delay = self.initial_delay
        for attempt in range(1, self.attempts + 1):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                if attempt == self.attempts:
                    raise TrackingError(
                        f"could not {what}: the tracking store still failed after {attempt} attempt(s): {exc}. "
                        "Check that the MLflow server is up and reachable from every executor"
                    ) from exc
                _log.warning(
                    "could not %s (%s); retrying in %.1fs (attempt %d of %d)", what, exc, delay, attempt, self.attempts
                )
                time.sleep(delay)
                delay = min(delay * 2, self.max_delay)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises
