"""A worker killed by a trial takes nothing else with it: on ``spark-pool`` a slot records its previous trial while
it computes the next, and when the next one kills the worker process (SIGKILL) mid-recording, the previous trial's
computed value still ends in the store (FINISHED, with its metric, one run), recorded by the driver."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
from mlflow import MlflowClient
from pyspark import cloudpickle

from sparksweep.executors import SparkPoolExecutor
from sparksweep.space import Float
from sparksweep.sweep import optimize
from sparksweep.trial import TrialState
from tests.executors import objectives
from tests.executors.objectives import STORE_HELD_S, recording_outlived

pytestmark = pytest.mark.spark
cloudpickle.register_pickle_by_value(objectives)

N_TRIALS = 4


def test_pool_keeps_a_computed_trial_whose_worker_is_killed_while_recording_it(spark: Any, tracking_uri: str) -> None:
    started = time.monotonic()
    with SparkPoolExecutor(spark, parallelism=1) as executor:  # one slot: trial 1 runs where trial 0 records
        result = optimize(
            recording_outlived,
            {"x": Float(0.0, 1.0)},
            n_trials=N_TRIALS,
            parallelism=1,
            seed=0,
            algorithm="optuna.random",
            executor=executor,
            tracking_uri=tracking_uri,
            experiment="recording-death",
        )
    assert time.monotonic() - started < STORE_HELD_S, "trial 1 killed the worker while trial 0 was still recording"
    states = {t.number: t.state for t in result.trials}
    assert states == {0: TrialState.COMPLETE, 1: TrialState.FAILED, 2: TrialState.COMPLETE, 3: TrialState.COMPLETE}
    client = MlflowClient(tracking_uri)
    runs = client.search_runs(
        [result.experiment_id], f"tags.`mlflow.parentRunId` = '{result.sweep_run_id}'", max_results=100
    )
    numbers = Counter(int(r.data.tags["sparksweep.trial_number"]) for r in runs)
    assert numbers == Counter(range(N_TRIALS)), "one child run per trial, none twice"
    by_number = {int(r.data.tags["sparksweep.trial_number"]): r for r in runs}
    kept = by_number[0]
    assert kept.info.status == "FINISHED", kept.data.tags.get("sparksweep.error")
    assert kept.data.metrics["value"] == pytest.approx(0.25)
    assert "duration" in kept.data.metrics
    assert "sparksweep.error" not in kept.data.tags
    assert "driver" in kept.data.tags["sparksweep.recorded_by"], "the driver recorded what the worker had computed"
    assert result.trials[0].value == pytest.approx(0.25)
    assert result.trials[0].run_id == kept.info.run_id
    killed = by_number[1]
    assert killed.info.status == "FAILED"
    assert "the Python worker running trial 1 exited unexpectedly" in killed.data.tags["sparksweep.error"]
    for n in (2, 3):
        assert by_number[n].info.status == "FINISHED"
        assert "value" in by_number[n].data.metrics
