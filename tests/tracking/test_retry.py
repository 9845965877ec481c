"""Which tracking errors are retried, and how often."""

from __future__ import annotations

import pytest
import requests
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    REQUEST_LIMIT_EXCEEDED,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
)

from sparksweep.errors import TrackingError
from sparksweep.tracking import RetryPolicy, is_transient

QUICK = RetryPolicy(attempts=3, initial_delay=0.0, max_delay=0.0)


def _http_error(status: int) -> requests.HTTPError:
    response = requests.Response()
    response.status_code = status
    return requests.HTTPError(f"{status}", response=response)


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (MlflowException("server hiccup"), True),  # INTERNAL_ERROR: what a 500 becomes
        (MlflowException("busy", error_code=TEMPORARILY_UNAVAILABLE), True),
        (MlflowException("slow down", error_code=REQUEST_LIMIT_EXCEEDED), True),
        (MlflowException("no such run", error_code=RESOURCE_DOES_NOT_EXIST), False),
        (MlflowException("param changed", error_code=INVALID_PARAMETER_VALUE), False),
        (_http_error(503), True),
        (_http_error(404), False),
        (requests.ConnectionError("refused"), True),
        (ConnectionResetError("reset"), True),
        (TimeoutError("slow"), True),
        (ValueError("a bug"), False),
    ],
)
def test_is_transient(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_transient_errors_are_retried_until_success() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise requests.ConnectionError("server restarting")
        return "done"

    assert QUICK.call("log", flaky) == "done"
    assert len(calls) == 3


def test_a_store_that_stays_down_raises_a_tracking_error_naming_the_operation() -> None:
    calls: list[int] = []

    def down() -> None:
        calls.append(1)
        raise MlflowException("unavailable", error_code=TEMPORARILY_UNAVAILABLE)

    with pytest.raises(TrackingError, match=r"could not log the metrics.*after 3 attempt"):
        QUICK.call("log the metrics", down)
    assert len(calls) == 3


def test_a_refused_write_is_not_retried() -> None:
    calls: list[int] = []

    def refused() -> None:
        calls.append(1)
        raise MlflowException("no such run", error_code=RESOURCE_DOES_NOT_EXIST)

    with pytest.raises(MlflowException, match="no such run"):
        QUICK.call("log", refused)
    assert len(calls) == 1


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="attempts must be at least 1"):
        RetryPolicy(attempts=0)
