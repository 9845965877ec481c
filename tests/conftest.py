"""Shared fixtures: one local[2] SparkSession for the whole run, a SQLite MLflow store per test, small data."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from sparksweep.datasets import generate_churn


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


@pytest.fixture
def tracking_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@dataclass(frozen=True)
class FluentStore:
    uri: str
    experiment_id: str


@pytest.fixture
def fluent_store(tmp_path: Path) -> Iterator[FluentStore]:
    """Point MLflow's fluent API at a store in ``tmp_path`` (artifacts there too), and restore it afterwards."""
    import mlflow
    from mlflow import MlflowClient

    previous = mlflow.get_tracking_uri()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment_id = MlflowClient(uri).create_experiment("tests", artifact_location=(tmp_path / "artifacts").as_uri())
    mlflow.set_tracking_uri(uri)
    yield FluentStore(uri, experiment_id)
    mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="session")
def churn() -> pd.DataFrame:
    return generate_churn(2000, seed=7)
