"""The exceptions sparksweep raises.

Every error the library raises on purpose derives from :class:`SparkSweepError`, so callers can catch one class.
Subclasses also inherit the builtin that fits (``ValueError`` for bad input, ``ImportError`` for a missing package),
so code written against the builtins keeps working.
"""

from __future__ import annotations

__all__ = [
    "DataError",
    "DataWarning",
    "DependencyError",
    "RegistryError",
    "SparkSweepError",
    "SparkSweepWarning",
    "SpecError",
    "TrackingError",
    "TrialError",
    "TrialLostError",
]


class SparkSweepError(Exception):
    """Root of every error raised by sparksweep."""


class SpecError(SparkSweepError, ValueError):
    """A sweep file or a Python spec holds a value sparksweep cannot use.

    The message names the field (``search.algorithm``), the value given, what is allowed and how to fix it.
    """


class DataError(SparkSweepError, ValueError):
    """The data set cannot be used for the sweep (a missing column, an empty table, an unusable target)."""


class DataWarning(UserWarning):
    """The data can be used, but something in it is likely a mistake (an identifier that leaks the label)."""


class DependencyError(SparkSweepError, ImportError):
    """A package or program that this feature needs is missing; the message carries the install command."""


class TrialError(SparkSweepError, RuntimeError):
    """A trial could not be run or its result could not be recorded."""


class TrialLostError(TrialError):
    """A trial's task ended without a result (cancelled, or its executor or worker died).

    ``run_id`` is the child run its worker had created, when the executor learnt it (None: the driver looks it up).
    ``detail`` is what the executor saw in full (e.g. Spark's stack trace), kept as the run's ``error.txt``.
    """

    def __init__(self, message: str, run_id: str | None = None, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.detail = detail


class RegistryError(SparkSweepError, RuntimeError):
    """Registering, promoting or loading a model in the MLflow Model Registry failed."""


class TrackingError(SparkSweepError, RuntimeError):
    """The MLflow tracking store kept failing (after retries) or refused a write."""


class SparkSweepWarning(UserWarning):
    """A setting that works but wastes something (e.g. more trials in flight than the cluster has task slots)."""
