"""Shared fixtures: one local[2] SparkSession for the whole run, a SQLite MLflow store per test, small data."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pytest

from sparksweep.datasets import generate_churn

ROOT = Path(__file__).resolve().parents[1]

# The mlflow servers the tests start run no job runner: MLflow 3 starts three huey consumer processes per server for
# jobs no test uses, which cost each server start seconds of CPU on a 2-core machine.
os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The session-scoped local Spark session every integration test shares (stopped at the end); its tables live
    in a temporary warehouse, not in the repository."""
    from sparksweep._spark import get_spark

    os.environ["PYSPARK_PYTHON"] = sys.executable
    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    session = get_spark("local[2]", {"spark.sql.shuffle.partitions": "2", "spark.sql.warehouse.dir": str(warehouse)})
    yield session
    session.stop()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test inside its own folder, so relative paths (data/, mlflow.db) land there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite MLflow store migrated once for the whole run (a new store's schema migration costs ~2 s, and dozens
    of tests need a store of their own), without its ``Default`` experiment 0: MLflow creates that whenever it opens
    a store that lacks it, so in each copy it is created by the copy's first user, with the artifact root a new
    store would give it (``./mlruns`` of that process's working directory), not the template's."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("store-template") / "mlflow.db"
    client = MlflowClient(f"sqlite:///{path}", f"sqlite:///{path}")
    client.search_experiments(max_results=1)
    client.search_registered_models(max_results=1)
    with contextlib.closing(sqlite3.connect(path)) as con, con:
        con.execute("DELETE FROM experiments WHERE experiment_id = 0")
    return path


def new_store(template: Path, path: Path) -> str:
    """A store at ``path`` as MLflow would create it (a copy of :func:`store_template`); its SQLite URI."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def tracking_uri(tmp_path: Path, store_template: Path) -> str:
    """A store of the test's own in ``tmp_path`` (already created: tests of creating a store make their own)."""
    return new_store(store_template, tmp_path / "mlflow.db")


@dataclass(frozen=True)
class FluentStore:
    uri: str
    experiment_id: str


@pytest.fixture
def fluent_store(tmp_path: Path, store_template: Path) -> Iterator[FluentStore]:
    """Point MLflow's fluent API at a store in ``tmp_path`` (artifacts there too), and restore it afterwards."""
    import mlflow
    from mlflow import MlflowClient

    previous = mlflow.get_tracking_uri()
    uri = new_store(store_template, tmp_path / "mlflow.db")
    experiment_id = MlflowClient(uri).create_experiment("tests", artifact_location=(tmp_path / "artifacts").as_uri())
    mlflow.set_tracking_uri(uri)
    yield FluentStore(uri, experiment_id)
    mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="session")
def churn() -> pd.DataFrame:
    return generate_churn(2000, seed=7)


def _local_connect() -> ModuleType:
    """scripts/local_connect.py (not a package module: it is also the user's script to start a server)."""
    spec = importlib.util.spec_from_file_location("local_connect", ROOT / "scripts" / "local_connect.py")
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {ROOT / 'scripts' / 'local_connect.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["local_connect"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def local_connect() -> ModuleType:
    """The module that starts a Connect server and has ``connect_mode()`` (see scripts/local_connect.py)."""
    return _local_connect()


@pytest.fixture(scope="session")
def connect_server(local_connect: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real standalone Spark Connect server (pyspark's ``start-connect-server.sh``, local[2], 127.0.0.1, a free
    port) for the whole run, beside the classic session; stopped at the end."""
    directory = tmp_path_factory.mktemp("connect-server")
    try:
        running = local_connect.start(directory, "local[2]", {"spark.sql.shuffle.partitions": "2"})
    except (RuntimeError, OSError) as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"the Spark Connect server did not start: {exc}")
    try:
        yield running
    finally:
        local_connect.stop(directory)


@pytest.fixture(scope="session")
def connect_session(local_connect: ModuleType, connect_server: Any) -> Iterator[Any]:
    """A Spark Connect client session to :func:`connect_server`. Calls on it that build Columns or UDFs run inside
    ``local_connect.connect_mode()`` (pyspark picks the implementation from the environment; see there)."""
    session = local_connect.remote_session(connect_server.url)
    yield session
    session.stop()
