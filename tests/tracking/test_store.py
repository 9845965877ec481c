"""The SQLite tracking store a sweep prepares: created in the driver, in write-ahead-log mode."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from mlflow import MlflowClient

from sparksweep.tracking import prepare_store, store_prepared


def test_a_prepared_sqlite_store_logs_ahead_and_other_processes_write_to_it(tmp_path: Path) -> None:
    path = tmp_path / "mlflow.db"
    uri = f"sqlite:///{path}"
    experiment_id = prepare_store(uri).create_experiment("wal")
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",), "kept in the file for every process"

    # Another process writes a run through MLflow; this one reads it back.
    code = (
        "import sys; from mlflow import MlflowClient; c = MlflowClient(sys.argv[1]); "
        "r = c.create_run(sys.argv[2]).info.run_id; c.log_param(r, 'k', 'v'); c.set_terminated(r); print(r)"
    )
    out = subprocess.run([sys.executable, "-c", code, uri, experiment_id], capture_output=True, text=True, check=True)
    run = MlflowClient(uri).get_run(out.stdout.strip().splitlines()[-1])
    assert run.data.params == {"k": "v"}
    assert run.info.status == "FINISHED"


def test_the_process_remembers_the_stores_it_prepared(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert not store_prepared(uri)
    prepare_store(uri)
    assert store_prepared(uri)
    assert not store_prepared(f"sqlite:///{tmp_path / 'other.db'}")
