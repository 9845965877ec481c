"""A registry that is not the tracking store: two SQLite files (and an ``mlflow server`` with a file as the registry).
The champion is in the registry store, its runs in the tracking store, and every command that touches the registry
finds it through ``--registry-uri`` (or ``MLFLOW_REGISTRY_URI``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from mlflow import MlflowClient

from sparksweep.cli import main
from sparksweep.registry import lease_name
from sparksweep.scoring import load_model
from sparksweep.spec import validate_spec
from sparksweep.sweep import SweepResult, run_sweep
from tests.conftest import new_store

NAME = "two-stores"
DROP = ["user_id", "feature_date"]


def _spec(tracking: str, registry: str | None, data: Path, **register: object) -> dict[str, object]:
    return {
        "experiment": "two-stores",
        "data": {"path": str(data), "target": "label", "drop": DROP},
        "metric": "auc_roc",
        "models": ["sklearn.logistic_regression"],
        "search": {"n_trials": 2, "parallelism": 1, "seed": 3, "executor": "local"},
        "register": {"name": NAME, **register},
        "tracking": {"uri": tracking, "autolog": False, **({"registry_uri": registry} if registry else {})},
    }


@dataclass(frozen=True)
class TwoStores:
    tracking: str
    registry: str
    data: Path
    first: SweepResult


def _sweep_into(tracking: str, registry: str, data: Path) -> SweepResult:
    return run_sweep(validate_spec(_spec(tracking, registry, data)))


@pytest.fixture(scope="module")
def two_stores(
    tmp_path_factory: pytest.TempPathFactory, churn: pd.DataFrame, store_template: Path
) -> Iterator[TwoStores]:
    """One sweep through the Python API (the sweep file names the registry), then a second through
    ``sparksweep run --registry-uri`` (forced, so it becomes the champion and the first one @previous)."""
    old = os.environ.pop("MLFLOW_REGISTRY_URI", None)
    root = tmp_path_factory.mktemp("two-stores")
    data = root / "churn.parquet"
    churn.to_parquet(data, index=False)
    tracking, registry = (new_store(store_template, root / name) for name in ("tracking.db", "registry.db"))
    first = _sweep_into(tracking, registry, data)
    sweep_file = root / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(_spec(tracking, None, data, force=True)))
    second = CliRunner().invoke(main, ["run", str(sweep_file), "--registry-uri", registry])
    assert second.exit_code == 0, second.output
    assert f"Registered {NAME} version 2: promoted to @champion" in second.output
    yield TwoStores(tracking, registry, data, first)
    if old is not None:
        os.environ["MLFLOW_REGISTRY_URI"] = old


def test_the_champion_is_in_the_registry_store_and_its_runs_in_the_tracking_store(two_stores: TwoStores) -> None:
    runs = MlflowClient(tracking_uri=two_stores.tracking, registry_uri=two_stores.tracking)
    models = MlflowClient(tracking_uri=two_stores.registry, registry_uri=two_stores.registry)
    first = two_stores.first
    assert first.champion is not None
    assert first.champion.promoted
    assert first.tracking_uri == two_stores.tracking
    # The registry store holds the versions and their aliases; the tracking store has no registered model at all.
    assert [m.name for m in models.search_registered_models()] == [NAME]  # the lease is gone too
    assert lease_name(NAME) not in [m.name for m in runs.search_registered_models()]
    assert runs.search_registered_models() == []
    assert str(models.get_model_version_by_alias(NAME, "champion").version) == "2"
    v1 = models.get_model_version(NAME, "1")
    assert str(models.get_model_version_by_alias(NAME, "previous").version) == "1"
    # The runs are in the tracking store only: the registry store has not even the sweep's experiment.
    assert models.get_experiment_by_name("two-stores") is None
    sweep = runs.get_run(first.sweep_run_id)
    assert sweep.data.tags["sparksweep.registered_version"] == "1"
    assert first.best is not None
    assert v1.run_id == first.best.run_id
    assert runs.get_run(v1.run_id).data.tags["mlflow.parentRunId"] == first.sweep_run_id
    assert v1.tags["sparksweep.sweep_run_id"] == first.sweep_run_id
    # Every version carries a signature (Unity Catalog requires one), its model read from the tracking store.
    model = load_model(str(v1.source), two_stores.tracking)
    signature = model.metadata.signature
    assert signature is not None
    assert signature.inputs is not None
    assert signature.outputs is not None
    assert "event_count_30d" in signature.inputs.input_names()


def test_champion_commands_find_it_through_the_registry_uri(
    two_stores: TwoStores, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    where = ["--tracking-uri", two_stores.tracking, "--registry-uri", two_stores.registry]
    shown = runner.invoke(main, ["champion", "show", NAME, *where])
    assert shown.exit_code == 0, shown.output
    assert "@champion = v2, @previous = v1" in shown.output
    history = runner.invoke(main, ["champion", "history", NAME, *where])
    assert history.exit_code == 0, history.output
    rows = [line.split() for line in history.output.splitlines()[1:]]
    assert [(r[2], r[3], r[4]) for r in rows] == [("promote", "1", "-"), ("force", "2", "1")]
    # Without the registry URI the tracking store is the registry, and it has no such model.
    alone = runner.invoke(main, ["champion", "show", NAME, "--tracking-uri", two_stores.tracking])
    assert alone.exit_code == 2
    assert f"no registered model named {NAME!r}" in alone.output
    # MLFLOW_REGISTRY_URI is the same rule's second choice.
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", two_stores.registry)
    from_env = runner.invoke(main, ["champion", "show", NAME, "--tracking-uri", two_stores.tracking])
    assert from_env.exit_code == 0, from_env.output
    assert "@champion = v2" in from_env.output
    monkeypatch.delenv("MLFLOW_REGISTRY_URI")
    back = runner.invoke(main, ["champion", "rollback", NAME, *where])
    assert back.exit_code == 0, back.output
    assert "@champion is v1 again (was v2)" in back.output
    models = MlflowClient(tracking_uri=two_stores.registry, registry_uri=two_stores.registry)
    assert str(models.get_model_version_by_alias(NAME, "champion").version) == "1"
    assert lease_name(NAME) not in [m.name for m in models.search_registered_models()]
    forced = runner.invoke(main, ["champion", "promote", NAME, "2", "--force", *where])
    assert forced.exit_code == 0, forced.output
    assert str(models.get_model_version_by_alias(NAME, "champion").version) == "2"


def test_score_finds_the_champion_through_the_registry_uri(
    two_stores: TwoStores, spark: object, tmp_path: Path
) -> None:
    runner = CliRunner()
    model = f"models:/{NAME}@champion"
    out = tmp_path / "scored"
    args = ["score", "--model", model, "--input", str(two_stores.data), "--output", str(out)]
    args += ["--tracking-uri", two_stores.tracking, "--spark-master", "local[2]"]
    missing = runner.invoke(main, args)
    assert missing.exit_code == 2
    assert f"could not find model {model!r}" in missing.output
    scored = runner.invoke(main, [*args, "--registry-uri", two_stores.registry])
    assert scored.exit_code == 0, scored.output
    frame = pd.read_parquet(out)
    assert len(frame) == len(pd.read_parquet(two_stores.data))
    assert frame["prediction"].between(0, 1).all()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def mlflow_server(tmp_path: Path, store_template: Path) -> Iterator[str]:
    """A real ``mlflow server`` on 127.0.0.1 (its own SQLite store, artifacts served), stopped at the end."""
    port = _free_port()
    log = (tmp_path / "server.log").open("wb")
    argv = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        new_store(store_template, tmp_path / "server.db"),
    ]
    argv += ["--serve-artifacts", "--artifacts-destination", str(tmp_path / "served"), "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--workers", "1"]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    server = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start: {(tmp_path / 'server.log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
        log.close()


@pytest.mark.slow
def test_a_server_as_the_tracking_store_and_a_file_as_the_registry(
    mlflow_server: str, churn: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_template: Path
) -> None:
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    data = tmp_path / "churn.parquet"
    churn.to_parquet(data, index=False)
    registry = new_store(store_template, tmp_path / "registry.db")
    result = _sweep_into(mlflow_server, registry, data)
    assert result.champion is not None
    assert result.champion.promoted
    server = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    models = MlflowClient(tracking_uri=mlflow_server, registry_uri=registry)
    assert server.search_registered_models() == []
    version = models.get_model_version_by_alias(NAME, "champion")
    assert server.get_run(version.run_id).data.tags["mlflow.parentRunId"] == result.sweep_run_id
    shown = CliRunner().invoke(
        main, ["champion", "show", NAME, "--tracking-uri", mlflow_server, "--registry-uri", registry]
    )
    assert shown.exit_code == 0, shown.output
    assert "@champion = v1" in shown.output
    # The champion's model comes from the server's artifacts.
    assert str(version.source).startswith("mlflow-artifacts:/")
    model = load_model(str(version.source), mlflow_server)
    frame = churn.drop(columns=[*DROP, "label"]).head(5)
    assert model.predict(frame).shape[0] == 5
