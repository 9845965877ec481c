"""The engine's budgets, stopping rules, pruning, CV, warm start and reproducibility, on the session's local Spark
with a real SQLite MLflow store; user objectives through ``optimize``."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from mlflow import MlflowClient
from pyspark import cloudpickle

import tests.helpers as helpers
import tests.sweep.objectives as objectives
from sparksweep import Categorical, Float, optimize
from sparksweep.datasets import generate_churn
from sparksweep.errors import SpecError
from sparksweep.models import register_family
from sparksweep.spec import RegisterSpec, validate_spec
from sparksweep.sweep import run_sweep
from sparksweep.trial import TrialState

pytestmark = pytest.mark.spark

cloudpickle.register_pickle_by_value(helpers)
cloudpickle.register_pickle_by_value(objectives)
register_family(helpers.CurveFamily(), replace=True)
register_family(helpers.SleepyFamily(), replace=True)


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return generate_churn(600, seed=4)


def _spec(tracking_uri: str, models: list[str], **search: Any) -> Any:
    return validate_spec(
        {
            "experiment": "budgets",
            "data": {"path": "unused.parquet", "target": "label", "drop": ["user_id", "feature_date"]},
            "models": models,
            "search": {"n_trials": 4, "parallelism": 2, "seed": 0, **search},
            "tracking": {"uri": tracking_uri, "log_models": False, "autolog": False},
        }
    )


def test_optimize_runs_a_user_objective_and_records_it(spark: Any, tracking_uri: str) -> None:
    result = optimize(
        objectives.failing_on_odd,
        {"x": Float(0.0, 1.0)},
        n_trials=4,
        parallelism=2,
        seed=1,
        algorithm="optuna.random",
        tracking_uri=tracking_uri,
        spark=spark,
    )
    states = [t.state for t in result.trials]
    assert states == [TrialState.COMPLETE, TrialState.FAILED, TrialState.COMPLETE, TrialState.FAILED]
    assert result.best is not None
    assert result.best.value == min(t.value for t in result.trials if t.value is not None)
    client = MlflowClient(tracking_uri)
    for trial in result.trials:
        run = client.get_run(trial.run_id)
        assert run.data.tags["mlflow.parentRunId"] == result.sweep_run_id
        assert float(run.data.params["x"]) == pytest.approx(trial.params["x"])
        if trial.state is TrialState.COMPLETE:
            assert run.info.status == "FINISHED"
            assert run.data.metrics["value"] == pytest.approx(trial.value)
        else:
            assert run.info.status == "FAILED"
            assert "odd trial" in run.data.tags["sparksweep.error"]


def test_target_stops_the_sweep_early(spark: Any, tracking_uri: str) -> None:
    result = optimize(
        objectives.constant,
        {"x": Float(0.0, 1.0)},
        n_trials=20,
        parallelism=1,
        target=1.0,
        tracking_uri=tracking_uri,
        spark=spark,
    )
    assert result.stop_reason == "target"
    assert len(result.trials) == 1


def test_patience_stops_after_trials_without_improvement(spark: Any, tracking_uri: str) -> None:
    result = optimize(
        objectives.constant,
        {"x": Float(0.0, 1.0)},
        n_trials=20,
        parallelism=1,
        patience=3,
        tracking_uri=tracking_uri,
        spark=spark,
    )
    assert result.stop_reason == "patience"
    assert len(result.trials) == 4  # the first sets the best, three more do not beat it
    parent = MlflowClient(tracking_uri).get_run(result.sweep_run_id)
    assert parent.data.tags["sparksweep.stop_reason"] == "patience"


@pytest.mark.slow
def test_trial_timeout_and_sweep_timeout_kill_running_trials(spark: Any, tracking_uri: str) -> None:
    # Generous limits: a cancelled task's Python worker is restarted, and its imports take seconds on a busy machine.
    space = {"sleep": Categorical((0.2, 60.0))}
    result = optimize(
        objectives.sleeper,
        space,
        n_trials=3,
        parallelism=2,
        seed=0,  # proposes 60, 0.2, 60
        algorithm="optuna.random",
        trial_timeout=12.0,
        tracking_uri=tracking_uri,
        spark=spark,
    )
    client = MlflowClient(tracking_uri)
    by_sleep = {t.params["sleep"]: t for t in result.trials}
    assert set(by_sleep) == {0.2, 60.0}, "the seed gives both a quick and a slow trial"
    assert result.duration < 50, "the 60 s trials were cancelled, not waited for"
    for trial in result.trials:
        run = client.get_run(trial.run_id)
        if trial.params["sleep"] == 60.0:
            assert trial.state is TrialState.KILLED
            assert run.info.status == "KILLED"
            assert "trial_timeout" in run.data.tags["sparksweep.error"]
        else:
            assert trial.state is TrialState.COMPLETE
            assert run.info.status == "FINISHED"

    # The sweep's own timeout: everything still running is cancelled through its job group and recorded as killed.
    slow = optimize(
        objectives.sleeper,
        {"sleep": Categorical((60.0,))},
        n_trials=4,
        parallelism=2,
        timeout=5.0,
        tracking_uri=tracking_uri,
        spark=spark,
    )
    assert slow.stop_reason == "timeout"
    assert slow.duration < 30
    assert [t.state for t in slow.trials] == [TrialState.KILLED, TrialState.KILLED]
    assert {client.get_run(t.run_id).info.status for t in slow.trials} == {"KILLED"}


def test_trial_timeout_needs_an_executor_that_can_cancel(tracking_uri: str) -> None:
    with pytest.raises(SpecError, match="trial_timeout needs the spark executor"):
        optimize(
            objectives.quadratic, {"x": Float(0, 1)}, trial_timeout=1.0, executor="local", tracking_uri=tracking_uri
        )


def test_warm_start_seeds_the_searcher(spark: Any, tracking_uri: str) -> None:
    space = {"x": Float(-1.0, 1.0)}
    kwargs: dict[str, Any] = {"parallelism": 2, "seed": 7, "tracking_uri": tracking_uri, "spark": spark}
    earlier = optimize(objectives.quadratic, space, n_trials=12, **kwargs)
    cold = optimize(objectives.quadratic, space, n_trials=2, **kwargs)
    warm = optimize(objectives.quadratic, space, n_trials=2, warm_start=earlier.sweep_run_id, **kwargs)
    assert [t.params for t in warm.trials] != [t.params for t in cold.trials]
    # TPE, told 12 trials, proposes near the optimum at x = 0.3 at once.
    assert min(abs(t.params["x"] - 0.3) for t in warm.trials) < 0.3
    with pytest.raises(SpecError, match=r"warm_start.*outside"):
        optimize(objectives.quadratic, {"x": Float(5.0, 6.0)}, n_trials=1, warm_start=earlier.sweep_run_id, **kwargs)


@pytest.mark.slow
def test_same_seed_parallelism_one_reproduces_proposals_and_values(
    spark: Any, tracking_uri: str, small: pd.DataFrame
) -> None:
    spec = _spec(tracking_uri, ["lightgbm", "sklearn.logistic_regression"], n_trials=4, parallelism=1, seed=11)
    first = run_sweep(spec, data=small, spark=spark)
    second = run_sweep(spec, data=small, spark=spark)
    assert [(t.family, t.params) for t in first.trials] == [(t.family, t.params) for t in second.trials]
    assert [t.value for t in first.trials] == [t.value for t in second.trials]
    assert len({t.family for t in first.trials}) == 2


def test_pruned_trials_are_recorded_with_their_step(spark: Any, tracking_uri: str, small: pd.DataFrame) -> None:
    spec = _spec(tracking_uri, ["test.curve"], n_trials=9, parallelism=1, pruner="median", algorithm="optuna.random")
    result = run_sweep(spec, data=small, spark=spark)
    pruned = [t for t in result.trials if t.state is TrialState.PRUNED]
    complete = [t for t in result.trials if t.state is TrialState.COMPLETE]
    assert pruned, [(t.params, t.value) for t in result.trials]
    assert len(complete) >= 4  # the median pruner waits for four finished trials
    client = MlflowClient(tracking_uri)
    for trial in pruned:
        run = client.get_run(trial.run_id)
        assert run.info.status == "KILLED"
        assert run.data.tags["sparksweep.state"] == "pruned"
        assert trial.step is not None
        assert run.data.tags["sparksweep.pruned_step"] == str(trial.step)
        assert run.data.metrics["pruned_step"] == trial.step
        history = client.get_metric_history(trial.run_id, "valid_auc_roc")
        assert max(m.step for m in history) == trial.step
        # It was pruned for being worse than the finished trials' median at that step.
        assert trial.params["quality"] < max(t.params["quality"] for t in complete)
    # The median rule scores rounds 30, 40, 50 and 60 of the family's 60.
    assert all(len(client.get_metric_history(t.run_id, "valid_auc_roc")) == 4 for t in complete)


def test_boosting_trials_are_pruned_on_the_rungs_of_successive_halving(
    spark: Any, tracking_uri: str, small: pd.DataFrame
) -> None:
    # Slow learning rates, so every trial trains past the first rungs (30 and 90 rounds) on these few rows.
    space = {"lightgbm": {"learning_rate": {"type": "float", "low": 0.005, "high": 0.02}}}
    spec = _spec(
        tracking_uri,
        ["lightgbm"],
        n_trials=4,
        parallelism=1,
        pruner="successive_halving",
        algorithm="optuna.random",
        space=space,
    )
    result = run_sweep(spec, data=small, spark=spark)
    pruned = [t for t in result.trials if t.state is TrialState.PRUNED]
    assert pruned, [(t.params, t.value, t.step) for t in result.trials]
    client = MlflowClient(tracking_uri)
    for trial in pruned:
        assert trial.step in (30, 90, 270)
        assert client.get_run(trial.run_id).data.tags["sparksweep.pruned_step"] == str(trial.step)
        history = client.get_metric_history(trial.run_id, "valid_auc_roc")
        assert sorted(m.step for m in history) == [s for s in (30, 90, 270) if s <= trial.step]
    for trial in result.trials:
        if trial.state is TrialState.COMPLETE:
            assert set(trial.intermediate) <= {30, 90, 270, 810}


@pytest.mark.parametrize("family", ["sklearn.logistic_regression", "lightgbm"])  # lightgbm stops early in each fold
def test_cross_validation_logs_fold_scores_and_their_mean(
    spark: Any, tracking_uri: str, small: pd.DataFrame, family: str
) -> None:
    spec = _spec(tracking_uri, [family], n_trials=1, parallelism=1, cv=3)
    result = run_sweep(spec, data=small, spark=spark)
    (trial,) = result.trials
    assert trial.state is TrialState.COMPLETE
    metrics = MlflowClient(tracking_uri).get_run(trial.run_id).data.metrics
    folds = [metrics[f"auc_roc_fold_{i}"] for i in range(3)]
    assert metrics["auc_roc"] == pytest.approx(sum(folds) / 3)
    assert len(set(folds)) == 3
    assert "auc_roc_cv_std" in metrics


def test_cross_validation_records_the_folds_mean_rounds_and_the_refit_fits_them_on_every_row(
    spark: Any, tracking_uri: str, small: pd.DataFrame
) -> None:
    spec = _spec(tracking_uri, ["lightgbm"], n_trials=1, parallelism=1, cv=3)
    spec = spec.model_copy(update={"registration": RegisterSpec(name="cv-rounds", refit=True)})
    result = run_sweep(spec, data=small, spark=spark)
    (trial,) = result.trials
    client = MlflowClient(tracking_uri)
    rounds = client.get_run(trial.run_id).data.metrics["n_rounds"]
    assert trial.metrics["n_rounds"] == rounds
    assert rounds >= 1
    assert rounds < 1000, "early stopping ended LightGBM's folds before its 1000-round cap"
    assert result.champion is not None
    version = client.get_model_version("cv-rounds", result.champion.version)
    refit = client.get_run(version.run_id)
    assert refit.data.tags["sparksweep.kind"] == "refit"
    assert refit.data.metrics["n_rounds"] == round(rounds)


def test_cv_racing_stops_a_hopeless_trial_after_its_first_fold(
    spark: Any, tracking_uri: str, small: pd.DataFrame
) -> None:
    register_family(helpers.ConstantFamily(), replace=True)
    # One trial at a time, each family first at its defaults: LightGBM finishes its 4 folds, then the constant model
    # (AUC 0.5 on every fold) is stopped after one.
    spec = _spec(tracking_uri, ["lightgbm", "test.constant"], n_trials=2, parallelism=1, cv=4, cv_racing=True)
    result = run_sweep(spec, data=small, spark=spark)
    first, second = result.trials
    assert first.state is TrialState.COMPLETE
    assert first.family == "lightgbm"
    assert second.state is TrialState.PRUNED
    assert second.family == "test.constant"
    run = MlflowClient(tracking_uri).get_run(second.run_id)
    assert run.info.status == "KILLED"
    assert run.data.tags["sparksweep.state"] == "pruned"
    assert run.data.metrics["pruned_step"] == 1
    assert run.data.metrics["auc_roc_fold_0"] == pytest.approx(0.5)
    assert "auc_roc_fold_1" not in run.data.metrics
    assert result.best is not None
    assert result.best.number == first.number


def test_sweep_file_overrides_a_family_space(spark: Any, tracking_uri: str, small: pd.DataFrame) -> None:
    spec = _spec(
        tracking_uri,
        ["sklearn.logistic_regression"],
        n_trials=2,
        space={"sklearn.logistic_regression": {"C": {"type": "categorical", "choices": [0.5]}}},
    )
    result = run_sweep(spec, data=small, spark=spark)
    assert [t.params for t in result.trials] == [{"C": 0.5}, {"C": 0.5}]


def _runnable_algorithms() -> list[str]:
    from sparksweep.search import ALGORITHMS

    try:
        import torch  # noqa: F401
    except ImportError:
        return [a for a in sorted(ALGORITHMS) if a != "optuna.gp"]
    return sorted(ALGORITHMS)


def test_each_algorithm_runs_a_small_real_sweep(spark: Any, tracking_uri: str) -> None:
    client = MlflowClient(tracking_uri)
    for algorithm in _runnable_algorithms():  # one store for all: a new SQLite store costs seconds
        result = optimize(
            objectives.quadratic,
            {"x": Float(-1.0, 1.0)},
            n_trials=3,
            parallelism=2,
            seed=2,
            algorithm=algorithm,
            tracking_uri=tracking_uri,
            spark=spark,
        )
        assert [t.state for t in result.trials] == [TrialState.COMPLETE] * 3, algorithm
        assert len({t.params["x"] for t in result.trials}) == 3, algorithm
        assert client.get_run(result.sweep_run_id).data.params["algorithm"] == algorithm
