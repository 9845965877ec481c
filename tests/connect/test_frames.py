"""Sweeps on a real Spark Connect server through the DataFrame-job executor: a whole sweep (nested runs, every trial
recorded, the champion registered), trial_timeout stopping a running trial, a killed Python worker, and the errors
that come before any trial (an unreachable server, a staging folder that cannot be written)."""

from __future__ import annotations

import pickle
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow import MlflowClient
from pyspark import cloudpickle

from sparksweep.datasets import generate_churn
from sparksweep.errors import DataError, SparkSweepError
from sparksweep.executors import FramesExecutor
from sparksweep.space import Float
from sparksweep.spec import validate_spec
from sparksweep.sweep import optimize, run_sweep
from sparksweep.trial import TrialState
from tests.executors import objectives
from tests.executors.objectives import DIE_ON, dies_on_trial_3

cloudpickle.register_pickle_by_value(objectives)
pytestmark = pytest.mark.connect


def _spec(tracking_uri: str, register: bool = True, **spark: Any) -> Any:
    raw = {
        "experiment": "connect",
        "data": {"path": "-.parquet", "target": "label", "drop": ["user_id", "feature_date"]},
        "models": ["sklearn.logistic_regression"],
        "search": {"n_trials": 4, "parallelism": 2, "seed": 0},
        "tracking": {"uri": tracking_uri, "autolog": False, "log_models": register},
        "spark": spark,
    }
    return validate_spec({**raw, "register": {"name": "connect-model"}} if register else raw)


def test_a_sweep_on_connect_records_every_trial_and_registers_its_champion(
    connect_session: Any, tracking_uri: str
) -> None:
    result = run_sweep(_spec(tracking_uri), data=generate_churn(600, seed=1), spark=connect_session)
    assert [t.state for t in result.trials] == [TrialState.COMPLETE] * 4
    client = MlflowClient(tracking_uri)
    assert client.get_run(result.sweep_run_id).data.params["executor"] == "spark-frames", "chosen for Connect"
    children = client.search_runs(
        [result.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{result.sweep_run_id}'"
    )
    assert sorted(r.info.run_id for r in children) == sorted(t.run_id for t in result.trials), "one run per trial"
    assert {r.info.status for r in children} == {"FINISHED"}
    assert all("auc_roc" in r.data.metrics for r in children)
    assert result.champion is not None
    assert result.champion.promoted
    champion = client.get_model_version_by_alias("connect-model", "champion")
    assert champion.tags["sparksweep.trial_run_id"] in {t.run_id for t in result.trials}


def test_trial_timeout_stops_a_running_trial_on_connect(connect_session: Any, tracking_uri: str) -> None:
    t0 = time.monotonic()
    result = optimize(
        objectives.behave,
        {"sleep": Float(30.0, 31.0)},
        n_trials=2,
        parallelism=2,
        trial_timeout=1.0,
        algorithm="optuna.random",
        executor=FramesExecutor(connect_session, 2),
        tracking_uri=tracking_uri,
    )
    assert time.monotonic() - t0 < 20, "the 30 s trials are stopped after 1 s"
    assert [t.state for t in result.trials] == [TrialState.KILLED] * 2
    client = MlflowClient(tracking_uri)
    for trial in result.trials:
        assert "trial_timeout" in (trial.error or "")
        assert client.get_run(trial.run_id).info.status == "KILLED"


def test_a_trial_whose_python_worker_dies_fails_alone_on_connect(connect_session: Any, tracking_uri: str) -> None:
    result = optimize(
        dies_on_trial_3,
        {"x": Float(0.0, 1.0)},
        n_trials=5,
        parallelism=2,
        seed=0,
        algorithm="optuna.random",
        spark=connect_session,
        executor="spark-frames",
        tracking_uri=tracking_uri,
    )
    states = {t.number: t.state for t in result.trials}
    assert states == {n: TrialState.FAILED if n == DIE_ON else TrialState.COMPLETE for n in range(5)}
    dead = next(t for t in result.trials if t.number == DIE_ON)
    assert f"trial {DIE_ON} exited unexpectedly" in (dead.error or "")
    client = MlflowClient(tracking_uri)
    children = client.search_runs(
        [result.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{result.sweep_run_id}'"
    )
    assert len(children) == 5, "the dead worker's trial is recorded once, in one run"
    assert client.get_run(dead.run_id).info.status == "FAILED"


def test_a_retried_task_does_not_run_its_trial_again() -> None:
    from sparksweep.executors._frames import _run_payload

    kind, why = pickle.loads(_run_payload(b"not even a task", attempt=1))
    assert (kind, "attempt 2" in why) == ("lost", True), "Spark's second attempt creates no second run"


def test_an_unreachable_remote_is_refused_before_any_trial(tracking_uri: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once the socket is closed
    t0 = time.monotonic()
    with pytest.raises(SparkSweepError, match=rf"spark.remote 'sc://127.0.0.1:{port}': no Spark Connect server"):
        run_sweep(_spec(tracking_uri, remote=f"sc://127.0.0.1:{port}"), data=generate_churn(200, seed=2))
    assert time.monotonic() - t0 < 5
    assert MlflowClient(tracking_uri).search_experiments(filter_string="name = 'connect'") == []


def test_an_unwritable_staging_dir_is_refused_before_any_trial(
    connect_session: Any, tracking_uri: str, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    executor = FramesExecutor(connect_session, 2, staging_dir=str(blocker / "staging"), inline_limit=0)
    with executor, pytest.raises(DataError, match=r"cannot be staged under spark.staging_dir .*a-file/staging"):
        run_sweep(_spec(tracking_uri), data=generate_churn(200, seed=3), executor=executor)
    assert (
        MlflowClient(tracking_uri).search_runs(
            [e.experiment_id for e in MlflowClient(tracking_uri).search_experiments()]
        )
        == []
    ), "no run was created"


def test_data_above_the_inline_limit_is_staged_once_and_removed(
    connect_session: Any, tracking_uri: str, tmp_path: Path
) -> None:
    spec = _spec(tracking_uri, register=False).with_overrides(**{"search.n_trials": 2})
    staging = tmp_path / "staging"
    with FramesExecutor(connect_session, 2, staging_dir=str(staging), inline_limit=1000) as executor:
        result = run_sweep(spec, data=generate_churn(300, seed=4), executor=executor)
        assert len(list(staging.glob("sparksweep-*/*.pkl"))) == 1, "staged once for the whole sweep"
    assert [t.state for t in result.trials] == [TrialState.COMPLETE] * 2
    assert not list(staging.glob("sparksweep-*")), "removed when the executor shuts down"


def test_run_takes_spark_remote_and_refuses_an_unreachable_one(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sparksweep.cli import main

    generate_churn(100, seed=5).to_parquet(tmp_path / "d.parquet")
    raw = _spec(f"sqlite:///{tmp_path / 'mlflow.db'}").model_dump(mode="json", by_alias=True)
    raw["data"]["path"] = str(tmp_path / "d.parquet")
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(raw))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ran = CliRunner().invoke(main, ["run", str(tmp_path / "sweep.yaml"), "--spark-remote", f"sc://127.0.0.1:{port}"])
    assert ran.exit_code == 2, ran.output
    assert f"spark.remote 'sc://127.0.0.1:{port}': no Spark Connect server answers" in ran.output
