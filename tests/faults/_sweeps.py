"""What the fault tests share: a tiny table, a sweep file, CLI sweeps started together, and the store read back
through MLflow's own client (only the public surface: the CLI, the sweep file, MLflow)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from mlflow import MlflowClient

from sparksweep.datasets import generate_churn

TARGET = "label"
DROP = ["user_id", "feature_date"]


def write_table(directory: Path, rows: int = 200, seed: int = 0) -> Path:
    path = directory / "data.parquet"
    generate_churn(rows, seed=seed).to_parquet(path)
    return path


def sweep_file(
    directory: Path,
    name: str,
    *,
    data: Path,
    uri: str,
    experiment: str = "faults",
    n_trials: int = 3,
    register: str | None = "faults-model",
    seed: int = 0,
) -> Path:
    """A sweep file for the local executor (no Spark): ``n_trials`` logistic regressions, one trial at a time."""
    raw: dict[str, object] = {
        "experiment": experiment,
        "data": {"path": str(data), "target": TARGET, "drop": DROP},
        "task": "binary",
        "metric": "auc_roc",
        "search": {"n_trials": n_trials, "parallelism": 1, "executor": "local", "seed": seed},
        "models": ["sklearn.logistic_regression"],
        "tracking": {"uri": uri, "figures": False},  # figures are drawn and checked in tests/figures
    }
    if register:
        raw["register"] = {"name": register}
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def cli_env() -> dict[str, str]:
    """The environment of a CLI child: this checkout's sources first, no Spark Connect settings inherited, no
    tracking URI but the sweep file's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_CONNECT", "SPARK_REMOTE"))}
    env.pop("MLFLOW_TRACKING_URI", None)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    env["PYSPARK_PYTHON"] = sys.executable
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from sparksweep.cli import main; main()", *args]


@dataclass(frozen=True)
class Exit:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        out, err = self.stdout[-3000:], self.stderr[-6000:]
        return f"{' '.join(self.args)} exited {self.code}\n--- stdout\n{out}\n--- stderr\n{err}"


def run_together(commands: list[list[str]], cwd: Path, timeout: float = 600) -> list[Exit]:
    """Start every command at once (no waiting between them) and wait for all of them."""
    procs = [
        subprocess.Popen(c, cwd=cwd, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in commands
    ]
    deadline = time.monotonic() + timeout
    exits = []
    for command, proc in zip(commands, procs, strict=True):
        try:
            out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        exits.append(Exit(tuple(command[3:]), proc.returncode, out, err))
    return exits


@dataclass(frozen=True)
class SweepRecord:
    run_id: str
    status: str
    children: dict[str, str]
    """Child run id -> status."""


def read_sweeps(uri: str, experiment: str = "faults") -> list[SweepRecord]:
    """Every sweep's parent run in ``experiment`` and its child runs, as MLflow holds them."""
    client = MlflowClient(uri, uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    runs = []
    token = None
    while True:
        page = client.search_runs([found.experiment_id], max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            break
    parents = [r for r in runs if r.data.tags.get("sparksweep.kind") == "sweep"]
    return [
        SweepRecord(
            p.info.run_id,
            p.info.status,
            {c.info.run_id: c.info.status for c in runs if c.data.tags.get("mlflow.parentRunId") == p.info.run_id},
        )
        for p in parents
    ]


def running_runs(uri: str) -> list[str]:
    """Runs left RUNNING anywhere in the store (a sweep that died mid-way leaves them)."""
    client = MlflowClient(uri, uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    return [r.info.run_id for r in client.search_runs(ids, "attributes.status = 'RUNNING'")] if ids else []
