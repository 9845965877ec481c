"""The long-lived-task executor: trials pulled by warm Spark tasks, cancellation, and a lost slot recovered."""

from __future__ import annotations

import gc
import time
from typing import Any, ClassVar

import numpy as np
import pytest
from mlflow import MlflowClient
from pyspark import cloudpickle

import tests.executors.test_pool as this_module
from sparksweep.data import TrainingData
from sparksweep.datasets import generate_churn
from sparksweep.errors import TrialError
from sparksweep.executors import SparkPoolExecutor
from sparksweep.models import BaseModelFamily, register_family
from sparksweep.space import Distribution, Float
from sparksweep.spec import validate_spec
from sparksweep.sweep import run_sweep
from sparksweep.tracking import prepare_store, read_trials
from sparksweep.trial import TrialState

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
        assert run.info.run_name == f"trial-{trial.number:03d}-test.pool_sleepy"
        assert run.data.params["seconds"] == str(trial.params["seconds"])
        assert run.data.metrics["auc_roc"] == pytest.approx(0.5)
    recorded = read_trials(client, result.experiment_id, result.sweep_run_id, "auc_roc")
    assert [t.number for t in recorded] == list(range(12)), "each trial's worker created exactly one run"


def _active_jobs(spark: Any) -> list[int]:
    return list(spark.sparkContext.statusTracker().getActiveJobsIds())


def _wait_for(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def test_pool_timeout_kills_running_trials_and_lost_slots_restart(spark: Any, tracking_uri: str) -> None:
    data = generate_churn(600, seed=1)
    prepare_store(tracking_uri)  # created beforehand: the timeout counts the sweep's set-up
    executor = SparkPoolExecutor(spark, parallelism=2)
    try:
        slow = _spec(tracking_uri, 4, timeout=3.0).with_overrides(models=["test.pool_slow"])
        result = run_sweep(slow, data=data, executor=executor)
    finally:
        t0 = time.monotonic()
        executor.shutdown()
        shutdown_s = time.monotonic() - t0
    assert shutdown_s < 5, f"shutdown waited {shutdown_s:.1f}s on its cancelled slots"
    assert _wait_for(lambda: not _active_jobs(spark), 10), "the pool's slot jobs still hold Spark's task slots"
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
    runs = [client.get_run(t.run_id) for t in result.trials]
    assert {run.info.status for run in runs} == {"KILLED"}
    for run in runs:  # recorded when its trial_timeout ran out, not when Spark got round to killing the task
        assert run.data.tags["mlflow.parentRunId"] == result.sweep_run_id
        recorded_after = (run.info.end_time - run.info.start_time) / 1000
        assert recorded_after < 4.0, f"a 1 s trial_timeout was recorded {recorded_after:.1f}s after the run started"


def test_spark_pool_is_the_default_executor(tracking_uri: str) -> None:
    spec = _spec(tracking_uri, 1)
    assert spec.search.executor == "spark-pool"


def _drop(held: list[Any]) -> None:
    held.clear()  # the last reference
    gc.collect()


def test_a_pool_never_shut_down_gives_its_slots_back(spark: Any) -> None:
    executor = SparkPoolExecutor(spark, parallelism=2)
    executor.prepare()
    slots = executor._slots
    assert _wait_for(lambda: len(slots.connections) == 2, 60), "the pool's slots did not connect"
    assert len(_active_jobs(spark)) == 2, "each slot is a running Spark job"
    held = [executor]
    del executor
    with pytest.warns(ResourceWarning, match="not shut down"):
        _drop(held)
    assert slots.closing
    assert _wait_for(lambda: not _active_jobs(spark), 10), "a dropped pool still holds Spark's task slots"


def test_an_executor_is_a_context_manager(spark: Any, tracking_uri: str) -> None:
    with SparkPoolExecutor(spark, parallelism=2) as executor:
        result = run_sweep(_spec(tracking_uri, 2), data=generate_churn(300, seed=2), executor=executor)
    assert {t.state for t in result.trials} == {TrialState.COMPLETE}
    assert executor._slots.closing
    with pytest.raises(TrialError, match="was shut down"):
        executor.submit(None)  # type: ignore[arg-type]


@pytest.mark.slow
def test_the_job_per_trial_executor_records_a_cancelled_trial_in_the_run_its_worker_created(
    spark: Any, tracking_uri: str
) -> None:
    spec = _spec(tracking_uri, 2).with_overrides(
        **{"models": ["test.pool_slow"], "search.executor": "spark", "search.trial_timeout": 2.0}
    )
    result = run_sweep(spec, data=generate_churn(600, seed=1), spark=spark)
    assert [t.state for t in result.trials] == [TrialState.KILLED] * 2
    client = MlflowClient(tracking_uri)
    assert client.get_run(result.sweep_run_id).data.params["executor"] == "spark"
    recorded = read_trials(client, result.experiment_id, result.sweep_run_id, "auc_roc")
    assert [t.number for t in recorded] == [0, 1], "one run per trial: the driver found the run the worker created"
    assert {t.run_id for t in recorded} == {t.run_id for t in result.trials}
    for trial in recorded:
        assert trial.state is TrialState.KILLED
        assert trial.error is not None
        assert "trial_timeout" in trial.error
