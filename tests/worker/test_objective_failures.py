"""A failed objective trial (``sparksweep.optimize``) is recorded like a failed model trial: FAILED, with the
``sparksweep.error`` tag and the ``error.txt`` artifact, and its run is ended with the same tracking-store retries
(against a real ``mlflow server`` behind a proxy that fails chosen requests)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from sparksweep import Float, optimize
from sparksweep.tracking import RetryPolicy
from sparksweep.trial import TrialState
from sparksweep.worker import ObjectiveTask, run_trial
from tests.integration.flaky_proxy import FlakyProxy

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "local_cluster.py"
FAST_RETRY = RetryPolicy(attempts=4, initial_delay=0.05, max_delay=0.2)


def failing_on_odd(params: dict[str, Any], trial: Any) -> float:
    if trial.number % 2 == 1:
        raise RuntimeError(f"odd trial {trial.number}")
    return float(params["x"])


def always_failing(params: dict[str, Any], trial: Any) -> float:
    raise RuntimeError("the objective broke")


def test_a_failed_objective_trial_has_the_error_tag_and_the_error_artifact(tracking_uri: str, tmp_path: Path) -> None:
    result = optimize(
        failing_on_odd,
        {"x": Float(0.0, 1.0)},
        n_trials=2,
        parallelism=1,
        algorithm="optuna.random",
        seed=0,
        executor="local",
        tracking_uri=tracking_uri,
        experiment="objective-failures",
    )
    states = {t.number: t.state for t in result.trials}
    assert states == {0: TrialState.COMPLETE, 1: TrialState.FAILED}
    client = MlflowClient(tracking_uri)
    (failed,) = [t for t in result.trials if t.state is TrialState.FAILED]
    run = client.get_run(failed.run_id)
    assert run.info.status == "FAILED"
    assert "odd trial 1" in run.data.tags["sparksweep.error"]
    assert "error.txt" in [f.path for f in client.list_artifacts(failed.run_id)]
    text = Path(client.download_artifacts(failed.run_id, "error.txt", str(tmp_path))).read_text()
    assert "RuntimeError: odd trial 1" in text


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``mlflow server`` (SQLite backend, artifacts served over HTTP), stopped after the module."""
    directory = tmp_path_factory.mktemp("objective-server")
    up = subprocess.run(
        [sys.executable, str(SCRIPT), "up", "--no-spark", "--dir", str(directory), "--json"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    try:
        assert up.returncode == 0, f"the mlflow server did not start:\n{up.stdout}\n{up.stderr}"
        yield str(json.loads(up.stdout)["tracking_uri"])
    finally:
        subprocess.run([sys.executable, str(SCRIPT), "down", "--dir", str(directory)], capture_output=True, timeout=120)


@pytest.fixture
def proxy(server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FlakyProxy]:
    # One HTTP attempt per call inside MLflow, so every injected failure reaches sparksweep's own retries.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with FlakyProxy(server) as flaky:
        yield flaky


def _task(server: str, proxy: FlakyProxy, objective: Any) -> ObjectiveTask:
    client = MlflowClient(server)
    experiment = client.get_experiment_by_name("objective-retries")
    experiment_id = experiment.experiment_id if experiment else client.create_experiment("objective-retries")
    run_id = client.create_run(experiment_id).info.run_id
    return ObjectiveTask(0, run_id, proxy.url, objective, "objective", {"x": 0.5}, "value", 0, retry=FAST_RETRY)


@pytest.mark.slow
def test_a_failed_objective_trial_is_ended_with_the_store_retries(server: str, proxy: FlakyProxy) -> None:
    proxy.fail("/runs/update", times=2)  # the FAILED status fails twice
    result = run_trial(_task(server, proxy, always_failing))
    assert result.state is TrialState.FAILED
    assert result.recorded
    assert proxy.failed["/runs/update"] == 2
    client = MlflowClient(server)
    run = client.get_run(result.run_id)
    assert run.info.status == "FAILED"
    assert "the objective broke" in run.data.tags["sparksweep.error"]
    assert "error.txt" in [f.path for f in client.list_artifacts(result.run_id)]


@pytest.mark.slow
def test_an_objective_trial_s_results_are_written_with_the_store_retries(server: str, proxy: FlakyProxy) -> None:
    proxy.fail("/runs/log-batch", times=2)
    proxy.fail("/runs/update", times=1)
    result = run_trial(_task(server, proxy, failing_on_odd))
    assert result.state is TrialState.COMPLETE, result.error
    assert proxy.failed["/runs/log-batch"] == 2
    assert proxy.failed["/runs/update"] == 1
    run = MlflowClient(server).get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["value"] == pytest.approx(0.5)


@pytest.mark.slow
def test_when_even_an_objective_trial_s_failure_cannot_be_recorded_the_driver_is_told(
    server: str, proxy: FlakyProxy
) -> None:
    proxy.fail("/runs/update")  # neither FINISHED nor FAILED can be written
    result = run_trial(_task(server, proxy, failing_on_odd))
    assert result.state is TrialState.FAILED
    assert not result.recorded, "the driver must mark this run failed itself"
    assert "could not be recorded" in (result.error or "")
    assert "recording the failure also failed" in (result.error or "")
    assert proxy.seen["/runs/update"] == 2 * FAST_RETRY.attempts, "FINISHED, then FAILED, each tried in full"
    assert MlflowClient(server).get_run(result.run_id).info.status == "RUNNING"
