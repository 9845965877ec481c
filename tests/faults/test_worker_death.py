"""A trial whose worker process dies (SIGKILL, as the OOM killer would) fails alone, with a reason a user can read;
the trials beside it and after it run, on every executor."""

from __future__ import annotations

from typing import Any

import pytest
from mlflow import MlflowClient
from pyspark import cloudpickle

from sparksweep.space import Float
from sparksweep.sweep import optimize
from sparksweep.trial import TrialState
from tests.executors import objectives
from tests.executors.objectives import DIE_ON, dies_on_trial_3

cloudpickle.register_pickle_by_value(objectives)

N_TRIALS = 8


def _sweep(executor: str, tracking_uri: str, spark: Any = None) -> Any:
    return optimize(
        dies_on_trial_3,
        {"x": Float(0.0, 1.0)},
        n_trials=N_TRIALS,
        parallelism=2,
        seed=0,
        algorithm="optuna.random",
        executor=executor,
        tracking_uri=tracking_uri,
        spark=spark,
        experiment=f"death-{executor}",
    )


def _check_only_the_dead_trial_failed(result: Any) -> Any:
    assert sorted(t.number for t in result.trials) == list(range(N_TRIALS)), "every trial ran"
    states = {t.number: t.state for t in result.trials}
    assert states == {n: TrialState.FAILED if n == DIE_ON else TrialState.COMPLETE for n in range(N_TRIALS)}
    return next(t for t in result.trials if t.number == DIE_ON)


def test_a_local_worker_that_dies_fails_its_trial_only(tracking_uri: str) -> None:
    dead = _check_only_the_dead_trial_failed(_sweep("local", tracking_uri))
    assert dead.error is not None
    assert f"the worker process running trial {DIE_ON} exited (signal 9)" in dead.error


@pytest.mark.spark
def test_a_spark_python_worker_that_dies_is_named_and_its_trace_kept(spark: Any, tracking_uri: str) -> None:
    dead = _check_only_the_dead_trial_failed(_sweep("spark", tracking_uri, spark))
    assert dead.error is not None
    # Spark does not say which signal ended its Python worker (the local executor can: its own child process)
    assert f"the Python worker running trial {DIE_ON} exited unexpectedly" in dead.error
    assert "at org.apache" not in dead.error, "the reason is a sentence, not a Java stack trace"
    client = MlflowClient(tracking_uri)
    run = client.get_run(dead.run_id)
    assert run.info.status == "FAILED"
    assert f"trial {DIE_ON} exited unexpectedly" in run.data.tags["sparksweep.error"]
    trace = client.download_artifacts(dead.run_id, "error.txt")
    with open(trace) as fh:
        assert "org.apache.spark" in fh.read(), "the Java trace is kept as the run's error.txt"
