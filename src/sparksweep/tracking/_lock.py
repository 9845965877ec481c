"""Opening an MLflow tracking store from several processes at once: a new SQLite store is created by a schema
migration (alembic), which MLflow runs without any lock between processes, so sweeps started together on a new file
fail with ``table ... already exists`` or ``duplicate column name``. :func:`store_lock` serialises that step across
processes with a lock file beside the SQLite file, and turns a store that cannot be opened into a
:class:`~sparksweep.errors.TrackingError` naming it (never a raw alembic traceback).

Example:
    >>> with store_lock("http://127.0.0.1:5000"):  # a server migrates its own database: nothing to lock
    ...     pass
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from sparksweep.errors import SparkSweepError, TrackingError

__all__ = ["lock_path", "store_lock"]

_SQLITE = "sqlite:///"
LOCK_TIMEOUT = 300.0
"""Seconds to wait for another process to finish creating the store (a migration takes ~1 s here)."""


def lock_path(uri: str) -> Path | None:
    """The lock file of a SQLite store (``<file>.lock`` beside it); ``None`` for other stores.

    Example:
        >>> str(lock_path("sqlite:////data/mlflow.db"))
        '/data/mlflow.db.lock'
    """
    if not uri.startswith(_SQLITE):
        return None
    return Path(uri[len(_SQLITE) :].split("?", 1)[0] + ".lock")


@contextlib.contextmanager
def store_lock(uri: str, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Run the block (opening the store at ``uri``) while holding the store's lock file, if it is a SQLite store.

    Raises:
        TrackingError: The lock was not free within ``timeout`` seconds, the store's folder does not exist, or the
            block failed with an error that is not sparksweep's own (the store could not be opened or migrated).
    """
    from filelock import FileLock, Timeout

    path = lock_path(uri)
    if path is not None and not path.parent.is_dir():
        raise TrackingError(f"the folder {path.parent} of the tracking store {uri} does not exist; create it first")
    lock = contextlib.nullcontext() if path is None else FileLock(path, timeout=timeout)
    try:
        with lock:
            yield
    except Timeout as exc:
        raise TrackingError(
            f"another process held the lock {path} of the tracking store {uri} for more than {timeout:.0f}s; "
            "if no sweep is starting, delete the lock file"
        ) from exc
    except SparkSweepError:
        raise
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise TrackingError(
            f"could not open the tracking store {uri}: {type(exc).__name__}: {first}. Check that the URI names an "
            "MLflow store (a SQLite file MLflow created, or a server) that this MLflow version can read"
        ) from exc
