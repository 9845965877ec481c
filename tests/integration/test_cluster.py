"""Cluster mode end to end: a sweep through the CLI on a Spark standalone cluster, tracked by an MLflow server that
serves the artifacts, the champion registered in the server's registry, and scoring on the cluster.

Everything the executors see comes over the network: the data as a broadcast, MLflow over HTTP.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from sparksweep.datasets import generate_churn
from sparksweep.scoring import score_pandas
from tests.integration.conftest import LocalCluster

pytestmark = pytest.mark.slow

SWEEP = """
experiment: cluster-churn
data:
  path: data/users.parquet
  target: label
  drop: [user_id, feature_date]
task: binary
metric: auc_roc
search:
  algorithm: optuna.random
  n_trials: 4
  seed: 3
models: [sklearn.logistic_regression, lightgbm]
register:
  name: cluster-churn-model
tracking:
  figures: false  # drawn and checked in tests/figures
"""


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed CLI in a subprocess: its own SparkSession on the cluster, leaving the tests' local one alone."""
    sparksweep = Path(sys.executable).with_name("sparksweep")
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run([str(sparksweep), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _apps(cluster: LocalCluster) -> set[str]:
    """Spark applications that ran executors on the cluster's workers."""
    return {app.name for app in (cluster.dir / "work").glob("worker-*/app-*")}


def test_sweep_and_score_on_a_standalone_cluster_with_a_tracking_server(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    users = generate_churn(1500, seed=11)
    users.to_parquet(tmp_path / "data" / "users.parquet", index=False)
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    apps_before = _apps(local_cluster)

    t0 = time.perf_counter()
    run = _cli(
        "run",
        "sweep.yaml",
        "--spark-master",
        local_cluster.spark_master,
        "--tracking-uri",
        local_cluster.tracking_uri,
        cwd=tmp_path,
    )
    sweep_seconds = time.perf_counter() - t0
    assert run.returncode == 0, f"sweep failed:\n{run.stdout}\n{run.stderr[-4000:]}"
    assert "promoted to @champion" in run.stdout
    sweep_apps = _apps(local_cluster) - apps_before
    assert len(sweep_apps) == 1, f"the sweep should run as one application on the cluster, got {sweep_apps}"
    ran_on = {p.parent.name for p in (local_cluster.dir / "work").glob(f"worker-*/{next(iter(sweep_apps))}")}
    assert ran_on == {"worker-1", "worker-2"}, "both workers should have run executors of the sweep"

    # The server's store holds the parent run and its nested trials; the registry is the server's.
    client = MlflowClient(local_cluster.tracking_uri, registry_uri=local_cluster.tracking_uri)
    experiment = client.get_experiment_by_name("cluster-churn")
    assert experiment is not None
    assert experiment.artifact_location.startswith("mlflow-artifacts:/"), "artifacts must go through the server"
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("sparksweep.kind") == "sweep"]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(trials) == 4
    assert all(t.info.status == "FINISHED" for t in trials), [t.info.status for t in trials]
    assert all(0.5 < t.data.metrics["auc_roc"] <= 1.0 for t in trials)
    kept = [t for t in trials if "sparksweep.model_uri" in t.data.tags]  # log_models: improving
    assert kept, "no trial logged a model"
    assert all(t.data.tags["sparksweep.model_uri"].startswith("models:/m-") for t in kept)
    assert all("not kept" in t.data.tags["sparksweep.model"] for t in trials if t not in kept)
    # The trials' models were uploaded through the server into its artifact store.
    assert list(local_cluster.artifacts.rglob("MLmodel")), "no model reached the server's artifact destination"

    champion = client.get_model_version_by_alias("cluster-churn-model", "champion")
    assert champion.run_id == parent.data.tags["sparksweep.best_trial_run_id"]
    assert champion.run_id in {t.info.run_id for t in trials}
    assert champion.tags["sparksweep.sweep_run_id"] == parent.info.run_id

    # Score on the cluster with the champion from the server's registry.
    t0 = time.perf_counter()
    score = _cli(
        "score",
        "--model",
        "models:/cluster-churn-model@champion",
        "--input",
        "data/users.parquet",
        "--output",
        "out/preds.parquet",
        "--keep",
        "user_id",
        "--tracking-uri",
        local_cluster.tracking_uri,
        "--spark-master",
        local_cluster.spark_master,
        cwd=tmp_path,
    )
    score_seconds = time.perf_counter() - t0
    assert score.returncode == 0, f"scoring failed:\n{score.stdout}\n{score.stderr[-4000:]}"
    assert len(_apps(local_cluster) - apps_before) == 2, "scoring should run as a second application on the cluster"
    scored = pd.read_parquet(tmp_path / "out" / "preds.parquet").sort_values("user_id")
    assert len(scored) == len(users)
    expected = score_pandas(
        users, "models:/cluster-churn-model@champion", tracking_uri=local_cluster.tracking_uri, keep=["user_id"]
    ).sort_values("user_id")
    np.testing.assert_allclose(scored["prediction"].to_numpy(), expected["prediction"].to_numpy(), rtol=1e-6)
    assert scored["prediction"].between(0, 1).all()
    print(f"cluster sweep (4 trials) {sweep_seconds:.1f}s, cluster scoring {score_seconds:.1f}s")
