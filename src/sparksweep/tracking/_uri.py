"""The tracking and registry stores: which URI a sweep writes its runs to and which it registers models in (one rule
each: given, else the environment, else the default), and preparing a store before any worker writes to it."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sparksweep.errors import SpecError
from sparksweep.tracking._lock import store_lock
from sparksweep.tracking._retry import RetryPolicy

if TYPE_CHECKING:
    from mlflow import MlflowClient

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
"""The store a sweep writes to when neither the sweep file nor ``MLFLOW_TRACKING_URI`` names one."""


def tracking_uri(uri: str | None) -> str:
    """The tracking URI to use: ``uri`` when given, else ``MLFLOW_TRACKING_URI``, else :data:`DEFAULT_TRACKING_URI`,
    made absolute by :func:`resolve_tracking_uri`.

    Example:
        >>> tracking_uri("http://127.0.0.1:5000")
        'http://127.0.0.1:5000'
    """
    return resolve_tracking_uri(uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI)


def resolve_tracking_uri(uri: str) -> str:
    """Make a relative SQLite URI absolute (against the current directory), so executors write to the same file.

    Example:
        >>> resolve_tracking_uri("http://127.0.0.1:5000")
        'http://127.0.0.1:5000'
    """
    return _absolute(uri, "tracking.uri", "sqlite:///path/to/mlflow.db, http://host:port or databricks")


def registry_uri(uri: str | None, tracking: str) -> str:
    """The model registry to use: ``uri`` when given, else ``MLFLOW_REGISTRY_URI``, else the tracking URI
    ``tracking`` (the store the runs are in); a relative SQLite URI is made absolute. Every registry call of a sweep,
    of ``sparksweep champion`` and of ``models:/`` resolution in scoring goes through the URI this returns, passed
    to ``MlflowClient(tracking_uri=..., registry_uri=...)`` (never ``mlflow.set_registry_uri``).

    Example:
        >>> registry_uri("databricks-uc", "databricks")
        'databricks-uc'
        >>> registry_uri(None, "http://127.0.0.1:5000")  # doctest: +SKIP
        'http://127.0.0.1:5000'
    """
    chosen = uri or os.environ.get("MLFLOW_REGISTRY_URI") or tracking
    examples = "sqlite:///path/to/registry.db, http://host:port or databricks-uc"
    return _absolute(chosen, "tracking.registry_uri", examples)


def is_unity_catalog(uri: str | None) -> bool:
    """Whether the registry ``uri`` is Databricks Unity Catalog (``databricks-uc``, ``databricks-uc://<profile>``),
    whose rules a registration must follow (three-level names, no stages).

    Example:
        >>> is_unity_catalog("databricks-uc"), is_unity_catalog("sqlite:///registry.db")
        (True, False)
    """
    return uri is not None and uri.startswith(UNITY_CATALOG)


UNITY_CATALOG = "databricks-uc"
"""The registry URI of Databricks Unity Catalog."""
_BARE_URIS = ("databricks", UNITY_CATALOG)
"""URIs without ``://`` that MLflow accepts: the Databricks workspace (from the environment or a notebook)."""


def _absolute(uri: str, field: str, examples: str) -> str:
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str((Path.cwd() / uri[len(prefix) :]).resolve())
    if "://" not in uri and uri not in _BARE_URIS:
        raise SpecError(f"{field} {uri!r} is not a URI; use {examples}")
    return uri


_PREPARED: set[str] = set()
"""The stores this process has prepared (:func:`prepare_store`)."""


def prepare_store(uri: str, retry: RetryPolicy | None = None) -> MlflowClient:
    """Create the tracking store in this process before any worker touches it (a new SQLite store migrates its
    schema on first use, and several processes doing that at once fail). For a server, this checks it answers.

    A SQLite store is switched to write-ahead logging (:func:`use_wal`), and created under a lock file beside it
    (:func:`~sparksweep.tracking._lock.store_lock`), so sweeps started together on a new file do not migrate it at
    once."""
    from mlflow import MlflowClient

    with store_lock(uri):
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)  # a SQLite store is created (migrated) here
        (retry or RetryPolicy()).call(f"reach the tracking store {uri}", client.search_experiments, max_results=1)
        if uri.startswith("sqlite:///"):
            client.search_registered_models(max_results=1)  # the registry's tables, created under the same lock
            use_wal(uri[len("sqlite:///") :].split("?", 1)[0])
    _PREPARED.add(uri)
    return client


def store_prepared(uri: str) -> bool:
    """Whether this process has already prepared the store at ``uri`` (:func:`prepare_store`): workers may open it
    before this process opens it again."""
    return uri in _PREPARED


def use_wal(path: str) -> None:
    """Put the SQLite database at ``path`` in write-ahead-log mode (kept in the file, so every process that opens it
    later uses it too).

    Parallel trials write their runs from several processes at once. In SQLite's default rollback-journal mode each
    commit syncs the journal and the database, and a writer that finds the file locked backs off in sleeps of
    several milliseconds; with the log, a commit is one append and readers never block the writer. Measured here
    with MLflow 3.17 (``benchmarks/bench_autolog.py``, the two modes alternated on the same disk): a run's create +
    batch + end cost 17 ms instead of 21 ms on a quiet disk and 36 ms instead of 84 ms while other processes kept it
    busy. SQLite keeps ``-wal`` and ``-shm`` files beside the store while it is open, and needs the file on a local
    disk (not a network file system), as it does anyway for concurrent writers.

    Example:
        >>> use_wal("mlflow.db")  # doctest: +SKIP
    """
    import sqlite3

    with contextlib.closing(sqlite3.connect(path, timeout=30)) as con:
        mode = con.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            con.execute("PRAGMA journal_mode=WAL")


def artifact_location(uri: str, experiment: str) -> str | None:
    """Where a new experiment keeps its artifacts: beside a SQLite store's file (not in whatever directory the
    sweep was started from); for other stores, the server's default (``mlflow-artifacts:/`` for a server started
    with ``--serve-artifacts``, so workers upload through the server and need no shared filesystem).

    Example:
        >>> artifact_location("http://127.0.0.1:5000", "churn") is None
        True
    """
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return None
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", experiment).strip("-") or "experiment"
    digest = hashlib.sha1(experiment.encode()).hexdigest()[:6]
    return (Path(uri[len(prefix) :]).parent / "mlartifacts" / f"{slug}-{digest}").as_uri()
