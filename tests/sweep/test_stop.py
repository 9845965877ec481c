"""A sweep's ``timeout`` is a wall-clock budget from the sweep's start: set-up included, trials in flight cancelled
and recorded as killed at once (not when their Spark tasks end), on the session's local Spark and a real SQLite
store."""

from __future__ import annotations

from typing import Any

import pytest
from mlflow import MlflowClient
from pyspark import cloudpickle

import sparksweep.sweep._budget as budget_module
import tests.sweep.objectives as objectives
from sparksweep import Categorical, optimize
from sparksweep.sweep import SweepProgress
from sparksweep.trial import TrialResult, TrialState

pytestmark = pytest.mark.spark

cloudpickle.register_pickle_by_value(objectives)


@pytest.mark.slow
def test_a_timeout_counts_the_set_up_and_stops_without_waiting_for_the_tasks(
    spark: Any, tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No grace: the trials are recorded as killed as soon as they are cancelled. Waiting for the pool's Spark tasks
    # to end (their Python workers are killed 2-4 s after the cancel) would put them well past the budget.
    monkeypatch.setattr(budget_module, "STOP_GRACE", 0.0)
    recorded: list[tuple[TrialResult, float]] = []

    def on_trial(trial: TrialResult, progress: SweepProgress) -> None:
        recorded.append((trial, progress.elapsed))

    kwargs: dict[str, Any] = {"parallelism": 2, "executor": "spark-pool", "tracking_uri": tracking_uri, "spark": spark}
    # A first sweep creates the store and warms the executors' Python workers: the timed one's set-up is then short.
    optimize(objectives.quadratic, {"x": Categorical((0.3,))}, n_trials=2, **kwargs)
    budget = 5.0
    result = optimize(
        objectives.sleeper, {"sleep": Categorical((60.0,))}, n_trials=4, timeout=budget, on_trial=on_trial, **kwargs
    )
    assert result.stop_reason == "timeout"
    assert [t.state for t, _ in recorded] == [TrialState.KILLED, TrialState.KILLED]
    at = [elapsed for _, elapsed in recorded]
    # The sweep's clock started when optimize was called, so its set-up (the store, the executor) is in the budget.
    assert min(at) >= budget
    assert max(at) < budget + 1.0, f"the killed trials were recorded {max(at) - budget:.2f}s past the budget"
    client = MlflowClient(tracking_uri)
    for trial in result.trials:
        run = client.get_run(trial.run_id)
        assert run.info.status == "KILLED"
        assert "timeout" in run.data.tags["sparksweep.error"]
    parent = client.get_run(result.sweep_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["sparksweep.stop_reason"] == "timeout"
