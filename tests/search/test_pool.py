"""The long-lived-task executor: trials pulled by warm Spark tasks, cancellation, and a lost slot recovered."""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
import pytest
from mlflow import MlflowClient
from pyspark import cloudpickle

import tests.search.test_pool as this_module
from sparksweep.config import validate_spec
from sparksweep.data import TrainingData
from sparksweep.datasets import generate_churn
from sparksweep.models import BaseModelFamily, register_family
from sparksweep.search.engine import run_sweep
from sparksweep.search.executors import SparkPoolExecutor
from sparksweep.search.space import Distribution, Float
from sparksweep.search.tracking import prepare_store
from sparksweep.search.trial import TrialState

pytestmark = pytest.mark.spark
cloudpickle.register_pickle_by_value(this_module)


class SleepyFamily(BaseModelFamily):
    """Sleeps ``seconds`` in fit and predicts a constant; records the worker process that ran it."""

    name: ClassVar[str] = "test.pool_sleepy"
    tasks: ClassVar[frozenset[str]] = frozenset({"binary"})
    library: ClassVar[str] = "none"

    def default_space(self, task: str) -> dict[str, Distribution]:
        return {"seconds": Float(0.0, 0.05)}

    def build(self, params: dict[str, Any], *, task: str, n_jobs: int, seed: int) -> Any:
        return dict(params)

    def fit(self, estimator: Any, data: TrainingData) -> Any:
        time.sleep(float(estimator["seconds"]))
        return estimator

    def predict(self, estimator: Any, X: Any, task: str) -> np.ndarray:
        return np.full(len(X), 0.5)


class _Slow(SleepyFamily):
    name: ClassVar[str] = "test.pool_slow"

    def default_space(self, task: str) -> dict[str, Distribution]:
        return {"seconds": Float(30.0, 31.0)}


register_family(SleepyFamily(), replace=True)
register_family(_Slow(), replace=True)


def _spec(tracking_uri: str, n_trials: int, timeout: float | None = None) -> Any:
    return validate_spec(
        {
            "experiment": "pool",
            "data": {"path": "-.parquet", "target": "label", "drop": ["user_id", "feature_date"]},
            "models": ["test.pool_sleepy"],
            "search": {
                "n_trials": n_trials,
                "parallelism": 2,
                "seed": 0,
                "algorithm": "optuna.random",
                "timeout": timeout,
            },
            "tracking": {"uri": tracking_uri, "autolog": False, "log_models": False},
        }
    )


def test_pool_runs_a_sweep_with_tracking(spark: Any, tracking_uri: str) -> None:
    executor = SparkPoolExecutor(spark, parallelism=2)
    try:
        result = run_sweep(_spec(tracking_uri, 12), data=generate_churn(600, seed=1), executor=executor)
    finally:
        executor.shutdown()
    assert [t.number for t in result.trials] == list(range(12))
    assert {t.state for t in result.trials} == {TrialState.COMPLETE}
    client = MlflowClient(tracking_uri)
    for trial in result.trials:
        run = client.get_run(trial.run_id)
        assert run.info.status == "FINISHED"
        assert run.data.tags["mlflow.parentRunId"] == result.sweep_run_id
        assert run.data.metrics["auc_roc"] == pytest.approx(0.5)


def test_pool_timeout_kills_running_trials_and_lost_slots_restart(spark: Any, tracking_uri: str) -> None:
    data = generate_churn(600, seed=1)
    prepare_store(tracking_uri)  # created beforehand: the timeout counts the sweep's set-up
    executor = SparkPoolExecutor(spark, parallelism=2)
    try:
        slow = _spec(tracking_uri, 4, timeout=3.0).with_overrides(models=["test.pool_slow"])
        result = run_sweep(slow, data=data, executor=executor)
    finally:
        executor.shutdown()
    states = [t.state for t in result.trials]
    assert states == [TrialState.KILLED, TrialState.KILLED], "both in-flight trials are cancelled at the deadline"
    client = MlflowClient(tracking_uri)
    assert {client.get_run(t.run_id).info.status for t in result.trials} == {"KILLED"}

    # A new pool on the same session works after the previous one was cancelled.
    executor = SparkPoolExecutor(spark, parallelism=2)
    try:
        again = run_sweep(_spec(tracking_uri, 4), data=data, executor=executor)
    finally:
        executor.shutdown()
    assert {t.state for t in again.trials} == {TrialState.COMPLETE}


def test_pool_is_chosen_by_the_sweep_file_and_honours_trial_timeout(spark: Any, tracking_uri: str) -> None:
    spec = _spec(tracking_uri, 3).with_overrides(
        **{"models": ["test.pool_slow"], "search.executor": "spark-pool", "search.trial_timeout": 1.0}
    )
    result = run_sweep(spec, data=generate_churn(600, seed=1), spark=spark)
    assert [t.state for t in result.trials] == [TrialState.KILLED] * 3, "each 30 s trial is stopped after 1 s"
    client = MlflowClient(tracking_uri)
    assert client.get_run(result.sweep_run_id).data.params["executor"] == "spark-pool"
    assert {client.get_run(t.run_id).info.status for t in result.trials} == {"KILLED"}
