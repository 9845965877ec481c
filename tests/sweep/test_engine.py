"""Real sweeps: local Spark, a SQLite MLflow store, the CLI, the registry and scoring, with nothing mocked."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from mlflow import MlflowClient
from pyspark import cloudpickle

import tests.helpers as helpers
from sparksweep.cli import main
from sparksweep.errors import DependencyError
from sparksweep.models import register_family
from sparksweep.spec import validate_spec
from sparksweep.sweep import run_sweep
from sparksweep.trial import TrialState
from tests.conftest import new_store

pytestmark = pytest.mark.spark

# Families defined in test modules travel to the Spark workers by value, as a notebook's would.
cloudpickle.register_pickle_by_value(helpers)
register_family(helpers.ConstantFamily(), replace=True)
register_family(helpers.FlakyFamily(), replace=True)

MODEL_NAME = "churn-test-model"


def _sweep_file(path: Path, **search: Any) -> Path:
    raw = yaml.safe_load((Path(__file__).resolve().parents[2] / "examples" / "churn.yaml").read_text())
    raw["models"] = ["lightgbm", "sklearn.logistic_regression"]
    raw["search"].update({"n_trials": 4, "parallelism": 2, **search})
    raw["register"]["name"] = MODEL_NAME
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def fluent_uri(workdir: Path, store_template: Path) -> Iterator[str]:
    """Point MLflow's fluent API at the test's store (for the user-side queries), and restore it after."""
    previous = mlflow.get_tracking_uri()
    uri = new_store(store_template, workdir / "mlflow.db")
    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.set_tracking_uri(previous)


@pytest.mark.slow
def test_cli_sweep_register_gate_and_score(spark: Any, workdir: Path, fluent_uri: str, churn: pd.DataFrame) -> None:
    (workdir / "data").mkdir()
    churn.to_parquet(workdir / "data" / "user_features.parquet", index=False)
    sweep = _sweep_file(workdir / "sweep.yaml")

    result = CliRunner().invoke(main, ["run", str(sweep), "--n-trials", "4"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "[  4/4]" in result.output
    assert "promoted to @champion" in result.output

    client = MlflowClient(fluent_uri)
    experiment = client.get_experiment_by_name("churn-prediction")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("sparksweep.kind") == "sweep"]
    assert len(parents) == 1
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 4
    assert sorted(int(r.data.tags["sparksweep.trial_number"]) for r in children) == [0, 1, 2, 3]
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.params["model_family"] in {"lightgbm", "sklearn.logistic_regression"}
        assert "auc_roc" in child.data.metrics
        assert "fit_time" in child.data.metrics
        # tracking.log_models: improving (the default): a model, or the tag saying it was not kept
        tags = child.data.tags
        assert tags.get("sparksweep.model_uri", "").startswith("models:/m-") or "not kept" in tags["sparksweep.model"]
        if child.data.params["model_family"] == "lightgbm":
            assert "learning_rate" in child.data.params
            assert "num_leaves" in child.data.params
        else:
            assert "C" in child.data.params
    # The parent carries the sweep file, the best value so far stepped by trial, and the champion's run.
    assert parent.info.status == "FINISHED"
    history = client.get_metric_history(parent.info.run_id, "best_auc_roc")
    values = [m.value for m in sorted(history, key=lambda m: m.step)]
    assert values == sorted(values), "best so far never gets worse"
    assert max(values) == pytest.approx(max(r.data.metrics["auc_roc"] for r in children))
    assert "sweep.yaml" in [f.path for f in client.list_artifacts(parent.info.run_id)]
    champion_run = parent.data.tags["sparksweep.champion_run_id"]
    assert champion_run in {r.info.run_id for r in children}

    # The seed workflow a user already knows works on what we record.
    found = mlflow.search_runs(
        experiment_names=["churn-prediction"],
        filter_string="metrics.auc_roc > 0.5",
        order_by=["metrics.auc_roc DESC"],
    )
    assert isinstance(found, pd.DataFrame)
    assert len(found) == 4
    assert list(found["metrics.auc_roc"]) == sorted(found["metrics.auc_roc"], reverse=True)
    assert set(found["params.model_family"]) <= {"lightgbm", "sklearn.logistic_regression"}

    v1 = client.get_model_version_by_alias(MODEL_NAME, "champion")
    assert str(v1.version) == "1"
    assert v1.tags["sparksweep.trial_run_id"] == champion_run
    champion_model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@champion")

    # A second, worse sweep registers its model as the challenger and leaves the champion alone.
    worse = validate_spec(yaml.safe_load(sweep.read_text())).with_overrides(
        **{"models": ["test.constant"], "search.n_trials": 2}
    )
    outcome = run_sweep(worse, spark=spark)
    assert outcome.champion is not None
    assert not outcome.champion.promoted
    assert outcome.champion.candidate_score == pytest.approx(0.5)
    assert outcome.champion.champion_score is not None
    assert outcome.champion.champion_score > 0.6
    assert str(client.get_model_version_by_alias(MODEL_NAME, "champion").version) == "1"
    assert str(client.get_model_version_by_alias(MODEL_NAME, "challenger").version) == "2"

    # Scoring through spark_udf: the positive-class probability as a double, keys carried through.
    out = workdir / "preds.parquet"
    scored = CliRunner().invoke(
        main,
        [
            "score",
            "--model",
            f"models:/{MODEL_NAME}@champion",
            "--input",
            str(workdir / "data" / "user_features.parquet"),
            "--output",
            str(out),
            "--tracking-uri",
            fluent_uri,
            "--keep",
            "user_id,feature_date",
        ],
        catch_exceptions=False,
    )
    assert scored.exit_code == 0, scored.output
    preds = pd.read_parquet(out).sort_values("user_id").reset_index(drop=True)
    assert list(preds.columns) == ["user_id", "feature_date", "prediction"]
    assert len(preds) == len(churn)
    assert preds["prediction"].between(0, 1).all()
    expected = champion_model.predict(churn.sort_values("user_id").reset_index(drop=True))
    pd.testing.assert_series_equal(preds["prediction"], expected, check_names=False, rtol=1e-6)


def test_failing_trials_are_recorded_and_the_sweep_finishes(spark: Any, tracking_uri: str) -> None:
    spec = validate_spec(
        {
            "experiment": "flaky",
            "data": {"path": "unused.parquet", "target": "label", "drop": ["user_id", "feature_date"]},
            "models": ["test.flaky"],
            "search": {"n_trials": 4, "parallelism": 2, "seed": 0, "algorithm": "optuna.random"},
            "tracking": {"uri": tracking_uri},
        }
    )
    result = run_sweep(spec, data=helpers_data(), spark=spark)
    states = {t.number: t.state for t in result.trials}
    assert states == {0: TrialState.COMPLETE, 1: TrialState.FAILED, 2: TrialState.COMPLETE, 3: TrialState.FAILED}
    assert result.best is not None
    assert result.best.number in {0, 2}
    client = MlflowClient(tracking_uri)
    for trial in result.trials:
        run = client.get_run(trial.run_id)
        if trial.state is TrialState.FAILED:
            assert run.info.status == "FAILED"
            assert "deliberate failure" in run.data.tags["sparksweep.error"]
            assert "error.txt" in [f.path for f in client.list_artifacts(trial.run_id)]
            assert trial.error is not None
            assert "Traceback" in trial.error
        else:
            assert run.info.status == "FINISHED"
    assert client.get_run(result.sweep_run_id).info.status == "FINISHED"


def helpers_data() -> pd.DataFrame:
    from sparksweep.datasets import generate_churn

    return generate_churn(800, seed=2)


@pytest.mark.parametrize("algorithm", ["hyperopt.tpe", "optuna.tpe"])
def test_both_libraries_run_a_sweep_with_real_parameter_names(spark: Any, tracking_uri: str, algorithm: str) -> None:
    spec = validate_spec(
        {
            "experiment": f"algo-{algorithm}",
            "data": {"path": "unused.parquet", "target": "label", "drop": ["user_id", "feature_date"]},
            "models": ["xgboost", "sklearn.hist_gradient_boosting"],
            "search": {"n_trials": 3, "parallelism": 2, "seed": 1, "algorithm": algorithm},
            "tracking": {"uri": tracking_uri, "log_models": False},
        }
    )
    result = run_sweep(spec, data=helpers_data(), spark=spark)
    assert [t.state for t in result.trials] == [TrialState.COMPLETE] * 3
    client = MlflowClient(tracking_uri)
    for trial in result.trials:
        params = client.get_run(trial.run_id).data.params
        assert params["model_family"] == trial.family
        for name, value in trial.params.items():
            assert params[name] == str(value)
            assert "." not in name


def _gp_spec(tracking_uri: str, n_trials: int) -> Any:
    return validate_spec(
        {
            "experiment": "gp",
            "data": {"path": "unused.parquet", "target": "label", "drop": ["user_id", "feature_date"]},
            "models": ["sklearn.logistic_regression", "sklearn.knn"],
            "search": {"n_trials": n_trials, "parallelism": 2, "seed": 3, "algorithm": "optuna.gp"},
            "tracking": {"uri": tracking_uri, "log_models": False, "autolog": False},
        }
    )


def test_a_gaussian_process_sweep_runs(spark: Any, tracking_uri: str) -> None:
    pytest.importorskip("torch", reason="optuna.gp needs PyTorch: pip install 'torch==2.13.0' (the CPU build)")
    # Past the random start (5 trials) of the GP that picks the family, with a GP per family behind it.
    result = run_sweep(_gp_spec(tracking_uri, n_trials=8), data=helpers_data(), spark=spark)
    assert [t.state for t in result.trials] == [TrialState.COMPLETE] * 8
    assert len({tuple(sorted(t.params.items())) for t in result.trials}) == 8
    assert result.best is not None
    params = MlflowClient(tracking_uri).get_run(result.sweep_run_id).data.params
    assert params["algorithm"] == "optuna.gp"


def test_a_gaussian_process_sweep_without_torch_stops_before_any_trial(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # what `import torch` meets where PyTorch is not installed
    with pytest.raises(DependencyError, match=r"needs PyTorch.*pip install 'torch==2\.13\.0'"):
        run_sweep(_gp_spec(tracking_uri, n_trials=2), data=helpers_data())
    client = MlflowClient(tracking_uri)
    assert client.search_runs([e.experiment_id for e in client.search_experiments()]) == []


@pytest.mark.slow
def test_local_executor_runs_without_spark(tracking_uri: str) -> None:
    spec = validate_spec(
        {
            "experiment": "local",
            "data": {"path": "unused.parquet", "target": "label", "drop": ["user_id", "feature_date"]},
            "models": ["lightgbm"],
            "search": {"n_trials": 2, "parallelism": 2, "seed": 1, "executor": "local"},
            "tracking": {"uri": tracking_uri, "autolog": False},
            "register": {"name": "local-model"},
        }
    )
    result = run_sweep(spec, data=helpers_data())
    assert [t.state for t in result.trials] == [TrialState.COMPLETE] * 2
    assert result.champion is not None
    assert result.champion.promoted
    client = MlflowClient(tracking_uri)
    assert str(client.get_model_version_by_alias("local-model", "champion").version) == "1"
    # Without autologging the estimator's other settings are still recorded, defaults included.
    params = client.get_run(result.trials[0].run_id).data.params
    assert params["boosting_type"] == "gbdt"
    assert params["n_estimators"] == "1000"
