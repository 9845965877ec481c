"""Trial child runs created by the worker from the driver's description (while the trial computes), a trial recorded
only once computed, a lost trial recorded in its run, and the SQLite store in write-ahead-log mode."""

from __future__ import annotations

import queue
import sqlite3
from dataclasses import replace
from typing import Any

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from sparksweep.errors import TrialError
from sparksweep.space import Float, SearchSpace
from sparksweep.tracking import RetryPolicy, SweepTracker, TrialRunSpec, read_trials
from sparksweep.trial import TrialState
from sparksweep.worker import ObjectiveTask, open_trial_run, run_trial, start_trial


def _objective(params: dict[str, Any], trial: Any) -> float:
    return float(params["x"]) * 2


def _tracker(tracking_uri: str) -> SweepTracker:
    tracker = SweepTracker(tracking_uri, "trial-runs")
    tracker.start(run_name="sweep", params={"metric": "value"}, spec_yaml="{}")
    return tracker


def test_the_worker_creates_the_child_run_the_driver_described(tracking_uri: str) -> None:
    tracker = _tracker(tracking_uri)
    child = tracker.trial_run(7, "objective", {"x": 0.25})
    task = ObjectiveTask(7, "", tracking_uri, _objective, "objective", {"x": 0.25}, "value", 7, child)
    result = run_trial(task)
    assert result.state is TrialState.COMPLETE
    assert result.value == pytest.approx(0.5)
    run = MlflowClient(tracking_uri).get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "trial-007-objective"
    assert run.data.tags["mlflow.parentRunId"] == tracker.parent_run_id
    assert run.data.params == {"model_family": "objective", "x": "0.25"}
    recorded = read_trials(tracker.client, tracker.experiment_id, tracker.parent_run_id, "value")
    assert [(t.number, t.state, t.value, t.params) for t in recorded] == [(7, TrialState.COMPLETE, 0.5, {"x": "0.25"})]
    assert tracker.find_trial(7) == result.run_id
    assert tracker.find_trial(8) is None


def test_a_task_with_neither_run_nor_description_is_refused(tracking_uri: str) -> None:
    task = ObjectiveTask(1, "", tracking_uri, _objective, "objective", {"x": 0.1}, "value", 1)
    with pytest.raises(TrialError, match="neither a run id nor a child run"):
        open_trial_run(task)


def test_a_lost_trial_is_recorded_in_the_run_its_worker_created_or_in_a_new_one(tracking_uri: str) -> None:
    tracker = _tracker(tracking_uri)
    started = open_trial_run(
        ObjectiveTask(
            0,
            "",
            tracking_uri,
            _objective,
            "objective",
            {"x": 0.1},
            "value",
            0,
            tracker.trial_run(0, "objective", {"x": 0.1}),
        )
    )
    found = tracker.record_lost_trial(0, "objective", {"x": 0.1}, TrialState.KILLED, "cancelled: timeout")
    assert found == started.run_id, "the run the worker created is found by the trial's number"
    never_started = tracker.record_lost_trial(1, "objective", {"x": 0.9}, TrialState.FAILED, "the task was lost")
    recorded = {t.number: t for t in read_trials(tracker.client, tracker.experiment_id, tracker.parent_run_id, "v")}
    assert recorded[0].state is TrialState.KILLED
    assert recorded[0].error == "cancelled: timeout"
    assert recorded[1].run_id == never_started
    assert recorded[1].state is TrialState.FAILED
    assert recorded[1].params == {"x": "0.9"}


def test_a_sqlite_store_is_put_in_write_ahead_log_mode(tracking_uri: str) -> None:
    SweepTracker(tracking_uri, "wal")
    path = tracking_uri[len("sqlite:///") :]
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_run_whose_worker_died_before_logging_its_params_is_read_back_as_undescribed(tracking_uri: str) -> None:
    tracker = _tracker(tracking_uri)
    spec = tracker.trial_run(3, "objective", {"x": 0.5})
    run = tracker.client.create_run(tracker.experiment_id, tags=spec.tags)  # killed before its params were logged
    (recorded,) = read_trials(tracker.client, tracker.experiment_id, tracker.parent_run_id, "value")
    assert recorded.run_id == run.info.run_id
    assert recorded.number == 3
    assert recorded.lost
    assert not recorded.described
    space = SearchSpace({"objective": {"x": Float(0, 1)}})
    # What resume keeps: its number is used, it tells the searcher nothing.
    (result,) = read_trials(tracker.client, tracker.experiment_id, tracker.parent_run_id, "value", space=space)
    assert result.number == 3
    assert result.params == {}


def test_a_trial_is_computed_while_its_run_is_created_and_recorded_only_when_asked(tracking_uri: str) -> None:
    tracker = _tracker(tracking_uri)
    seen: dict[str, Any] = {}

    def objective(params: dict[str, Any], trial: Any) -> float:
        seen["run_id"] = trial.run_id  # waits for the run the worker creates meanwhile
        return float(params["x"]) + 1

    opened: list[str] = []
    task = ObjectiveTask(
        4,
        "",
        tracking_uri,
        objective,
        "objective",
        {"x": 0.5},
        "value",
        4,
        tracker.trial_run(4, "objective", {"x": 0.5}),
    )
    computed = start_trial(task, on_open=opened.append)
    assert opened == [seen["run_id"]], "the run's id is announced once, before the objective could read it"
    client = MlflowClient(tracking_uri)
    before = client.get_run(seen["run_id"])
    assert before.info.status == "RUNNING"
    assert before.data.metrics == {}, "nothing is recorded until record() is called"
    result = computed.record()
    assert result.state is TrialState.COMPLETE
    assert result.value == pytest.approx(1.5)
    after = client.get_run(result.run_id)
    assert after.info.status == "FINISHED"
    assert after.data.metrics["value"] == pytest.approx(1.5)


def test_a_trial_whose_run_cannot_be_created_is_computed_but_not_recorded(tracking_uri: str) -> None:
    tracker = _tracker(tracking_uri)
    calls: list[float] = []

    def objective(params: dict[str, Any], trial: Any) -> float:
        calls.append(params["x"])
        return 1.0

    child = tracker.trial_run(5, "objective", {"x": 0.2})
    nowhere = TrialRunSpec(experiment_id="424242", tags=child.tags, params=child.params)
    task = ObjectiveTask(
        5, "", tracking_uri, objective, "objective", {"x": 0.2}, "value", 5, nowhere, RetryPolicy(attempts=1)
    )
    with pytest.raises(MlflowException, match="424242"):
        run_trial(task)
    assert calls == [0.2], "the objective ran while the run was being created"
    assert read_trials(tracker.client, tracker.experiment_id, tracker.parent_run_id, "value") == []


def test_a_computed_trial_its_worker_did_not_record_is_recorded_by_the_driver_once(tracking_uri: str) -> None:
    tracker = _tracker(tracking_uri)
    client = tracker.client

    def computed(number: int) -> tuple[Any, str]:
        """Trial ``number`` computed by a worker, with the run it created (its draft does not know the run)."""
        opened: queue.Queue[str] = queue.Queue()
        child = tracker.trial_run(number, "objective", {"x": 0.25})
        task = ObjectiveTask(number, "", tracking_uri, _objective, "objective", {"x": 0.25}, "value", number, child)
        trial = start_trial(task, on_open=opened.put)
        return trial, opened.get(timeout=30)  # the worker creates the run while the trial computes

    # the worker died with the run created and nothing in it: found by the trial's number, FINISHED with the value
    bare, bare_run = computed(0)
    assert bare.draft is not None
    assert (bare.draft.recorded, bare.draft.run_id, bare.draft.value) == (False, "", pytest.approx(0.5))
    recorded = tracker.record_computed(bare.draft)
    assert (recorded.run_id, recorded.recorded) == (bare_run, True)
    run = client.get_run(bare_run)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["value"] == pytest.approx(0.5)
    assert "driver" in run.data.tags["sparksweep.recorded_by"]
    # the worker died after logging its value and its model, before ending the run: nothing is logged twice
    partial, partial_run = computed(1)
    client.log_metric(partial_run, "value", 0.5)
    model = client.create_logged_model(tracker.experiment_id, source_run_id=partial_run)
    client.finalize_logged_model(model.model_id, "READY")
    assert partial.draft is not None
    recorded = tracker.record_computed(replace(partial.draft, run_id=partial_run))
    assert recorded.model_uri == f"models:/{model.model_id}"
    assert len(client.get_metric_history(partial_run, "value")) == 1
    run = client.get_run(partial_run)
    assert run.info.status == "FINISHED"
    assert run.data.tags["sparksweep.model_uri"] == recorded.model_uri
    # the worker recorded it and its report was lost with it: the run is left as the worker wrote it
    whole, whole_run = computed(2)
    whole.record()
    assert whole.draft is not None
    tracker.record_computed(replace(whole.draft, run_id=whole_run))
    assert "sparksweep.recorded_by" not in client.get_run(whole_run).data.tags
    numbers = [t.number for t in read_trials(client, tracker.experiment_id, tracker.parent_run_id, "value")]
    assert sorted(numbers) == [0, 1, 2], "one run per trial"
