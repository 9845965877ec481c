"""Finalists (``search.finalists``): the best trials scored again on fresh folds, and the champion chosen on those
scores; the choice rules on typed trials, and real sweeps on the session's local Spark with a SQLite store."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pandas as pd
import pytest
from mlflow import MlflowClient
from pyspark import cloudpickle

import tests.helpers as helpers
from sparksweep.datasets import generate_churn
from sparksweep.errors import SpecError
from sparksweep.metrics import Direction
from sparksweep.models import register_family
from sparksweep.spec import RegisterSpec, validate_spec
from sparksweep.sweep import run_sweep
from sparksweep.sweep._finalists import (
    HANDOVER,
    Finalist,
    affordable,
    choose_finalist,
    finalist_time,
    pick_finalists,
)
from sparksweep.tracking import read_trials
from sparksweep.trial import TrialResult, TrialState

cloudpickle.register_pickle_by_value(helpers)
register_family(helpers.SleepyFamily(), replace=True)


def _trial(number: int, family: str, value: float, sd: float = 2.0, duration: float = 1.0) -> TrialResult:
    spread = sd * math.sqrt(1.5)  # three folds whose standard deviation is `sd`
    folds = (value - spread, value + spread, value)
    params = {"n": number}
    return TrialResult(
        number, f"run-{number}", family, params, TrialState.COMPLETE, value, duration=duration, fold_scores=folds
    )


def _rescored(trial: TrialResult, value: float | None) -> Finalist:
    state = TrialState.KILLED if value is None else TrialState.COMPLETE
    return Finalist(trial, TrialResult(trial.number, "", trial.family, trial.params, state, value))


def test_finalists_are_the_trials_within_one_standard_error_the_best_of_each_family_first() -> None:
    # Best 50.0 with a fold sd of 2.0 over 3 folds: one standard error is 2/sqrt(3) ~ 1.15.
    trials = [
        _trial(0, "lightgbm", 50.0),
        _trial(1, "lightgbm", 50.2),
        _trial(2, "lightgbm", 50.4),
        _trial(3, "sklearn.linear", 51.0),
        _trial(4, "xgboost", 53.0),  # beyond one standard error: never a finalist
        TrialResult(5, "run-5", "xgboost", {}, TrialState.PRUNED, None),
    ]
    assert [t.number for t in pick_finalists(trials, Direction.MINIMIZE, 2)] == [0, 3]
    assert [t.number for t in pick_finalists(trials, Direction.MINIMIZE, 10)] == [0, 3, 1, 2]
    assert pick_finalists(trials, Direction.MINIMIZE, 0) == []
    assert pick_finalists(trials[5:], Direction.MINIMIZE, 3) == []


def test_an_ensemble_s_finalists_are_the_best_of_every_family_first_whatever_its_score() -> None:
    trials = [_trial(0, "lightgbm", 50.0), _trial(1, "lightgbm", 50.2), _trial(2, "xgboost", 53.0)]
    picked = pick_finalists(trials, Direction.MINIMIZE, 3, diverse=True)
    assert [t.number for t in picked] == [0, 2, 1]
    # Their time includes their refits, one after another: a fold's fit time and a quarter each.
    timed = [replace(t, duration=2.0, fit_time=0.4) for t in trials]
    reserve = finalist_time([timed[t.number] for t in picked], slots=2, diverse=True)
    assert reserve == pytest.approx(6.0 / 2 + 2.0 + HANDOVER + 1.25 * 1.2)


def test_a_higher_is_better_metric_ranks_the_highest_first() -> None:
    trials = [_trial(0, "a", 0.90, sd=0.01), _trial(1, "b", 0.95, sd=0.01), _trial(2, "c", 0.949, sd=0.01)]
    assert [t.number for t in pick_finalists(trials, Direction.MAXIMIZE, 3)] == [1, 2]


def test_without_fold_scores_every_completed_trial_may_be_a_finalist() -> None:
    trials = [TrialResult(i, "", "f", {}, TrialState.COMPLETE, float(v)) for i, v in enumerate([3, 1, 2])]
    assert [t.number for t in pick_finalists(trials, Direction.MINIMIZE, 2)] == [1, 2]


def test_the_finalists_time_spreads_their_trials_over_the_slots_plus_the_longest_for_the_trials_in_flight() -> None:
    trials = [_trial(0, "a", 50.0, duration=4.0), _trial(1, "b", 50.1, duration=2.0), _trial(2, "c", 99.0)]
    picked = pick_finalists(trials, Direction.MINIMIZE, 3)
    assert finalist_time(picked, slots=2) == pytest.approx(6.0 / 2 + 4.0 + HANDOVER)
    assert finalist_time([], slots=2) == 0.0


def test_only_the_first_finalists_whose_time_fits_the_limit_are_kept_and_always_one() -> None:
    trials = [_trial(i, f"family-{i}", 50.0 + i / 10, duration=4.0) for i in range(4)]
    # One: 4/2 + 4 + 1 = 7 s; two: 8/2 + 4 + 1 = 9 s; three: 11 s; four: 13 s.
    assert [t.number for t in affordable(trials, 2, 11.5)] == [0, 1, 2]
    assert [t.number for t in affordable(trials, 2, 100.0)] == [0, 1, 2, 3]
    assert [t.number for t in affordable(trials, 2, 1.0)] == [0]
    assert affordable([], 2, 1.0) == []


def test_the_champion_is_the_finalist_best_on_fresh_folds_not_on_the_search_s() -> None:
    lucky, steady, lost = _trial(0, "lightgbm", 54.6), _trial(1, "sklearn.linear", 55.9), _trial(2, "xgboost", 55.0)
    finalists = [_rescored(lucky, 56.0), _rescored(steady, 55.2), _rescored(lost, None)]
    chosen = choose_finalist(finalists, Direction.MINIMIZE)
    assert chosen is not None
    assert chosen.trial is steady
    assert choose_finalist([_rescored(lucky, None)], Direction.MINIMIZE) is None
    # A tie on fresh folds goes to the better search score.
    tie = choose_finalist([_rescored(steady, 55.0), _rescored(lucky, 55.0)], Direction.MINIMIZE)
    assert tie is not None
    assert tie.trial is lucky


def test_finalists_need_cross_validation() -> None:
    raw = {
        "experiment": "e",
        "data": {"path": "x.csv", "target": "y"},
        "models": ["lightgbm"],
        "search": {"finalists": 3},
    }
    with pytest.raises(SpecError, match=r"finalists: 3 .* 'cv' is not set; set cv"):
        validate_spec(raw)
    assert validate_spec({**raw, "search": {"finalists": 3, "cv": 3}}).search.finalists == 3


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return generate_churn(600, seed=4)


def _spec(tracking_uri: str, models: list[str], **search: Any) -> Any:
    return validate_spec(
        {
            "experiment": "finalists",
            "data": {"path": "unused.parquet", "target": "label", "drop": ["user_id", "feature_date"]},
            "models": models,
            "search": {"n_trials": 4, "parallelism": 2, "seed": 0, "cv": 3, **search},
            "tracking": {"uri": tracking_uri, "log_models": False, "autolog": False},
        }
    )


@pytest.mark.spark
def test_a_sweep_scores_its_finalists_on_fresh_folds_and_registers_the_one_best_there(
    spark: Any, tracking_uri: str, small: pd.DataFrame
) -> None:
    spec = _spec(tracking_uri, ["sklearn.logistic_regression", "lightgbm"], finalists=2)
    spec = spec.model_copy(update={"registration": RegisterSpec(name="finalists", refit=True)})
    result = run_sweep(spec, data=small, spark=spark)
    assert len(result.trials) == 4
    assert result.finalists, "the sweep scored no finalist again"
    assert len(result.finalists) <= spec.search.finalists
    assert all(f.value is not None for f in result.finalists)
    chosen = choose_finalist(result.finalists, Direction.MAXIMIZE)
    assert chosen is not None
    assert result.best is chosen.trial
    client = MlflowClient(tracking_uri)
    for finalist in result.finalists:
        run = client.get_run(finalist.rescored.run_id)
        assert run.info.status == "FINISHED"
        assert run.data.tags["sparksweep.kind"] == "rescore"
        assert run.data.tags["sparksweep.rescore_of"] == finalist.trial.run_id
        assert run.data.tags["mlflow.parentRunId"] == result.sweep_run_id
        assert run.data.params["model_family"] == finalist.trial.family
        assert run.data.metrics["auc_roc"] == pytest.approx(finalist.value)
        # The same model on other folds: another score.
        assert run.data.metrics["auc_roc"] != pytest.approx(finalist.trial.value, abs=1e-12)
    parent = client.get_run(result.sweep_run_id)
    assert parent.data.params["finalists"] == "2"
    assert parent.data.tags["sparksweep.best_trial_run_id"] == chosen.trial.run_id
    assert parent.data.tags["sparksweep.finalists"].startswith(f"chose trial {chosen.trial.number}: ")
    # A resumed sweep reads its trials back: the re-scoring runs are not among them.
    recorded = read_trials(client, result.experiment_id, result.sweep_run_id, "auc_roc")
    assert sorted(t.run_id for t in recorded) == sorted(t.run_id for t in result.trials)
    assert result.champion is not None
    version = client.get_model_version("finalists", result.champion.version)
    assert client.get_run(version.run_id).data.tags["sparksweep.refit_of"] == chosen.trial.run_id


@pytest.mark.spark
def test_a_timeout_during_the_finalists_leaves_no_run_running_and_still_names_a_best_trial(
    spark: Any, tracking_uri: str, small: pd.DataFrame
) -> None:
    # Trials of ~2 s (two folds of a fit that pauses ~1 s) under a timeout of 7 s: however far the finalists get
    # before it (all, some or none scored), every run ends, and the best trial is named.
    spec = _spec(tracking_uri, ["test.sleepy"], n_trials=50, cv=2, finalists=2, timeout=7.0)
    result = run_sweep(spec, data=small, spark=spark)
    assert result.stop_reason == "timeout"
    assert result.best is not None
    assert result.best.state is TrialState.COMPLETE
    client = MlflowClient(tracking_uri)
    runs = client.search_runs([result.experiment_id])
    assert runs
    assert all(run.info.status != "RUNNING" for run in runs)
    kinds = {run.info.run_id: run.data.tags.get("sparksweep.kind") for run in runs}
    assert sum(kind == "trial" for kind in kinds.values()) == len(result.trials)
    for finalist in result.finalists:
        if finalist.value is None:
            assert finalist.rescored.state in {TrialState.KILLED, TrialState.FAILED}


def test_the_cli_summary_lists_each_finalist_s_search_and_fresh_scores_and_the_one_chosen(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from sparksweep.cli import _print_summary
    from sparksweep.sweep import SweepResult

    lucky, steady = _trial(0, "lightgbm", 54.6), _trial(1, "sklearn.linear", 55.9)
    finalists = [_rescored(lucky, 56.0), _rescored(steady, 55.2)]
    result = SweepResult(
        sweep_run_id="p",
        experiment_id="1",
        tracking_uri="sqlite:///x.db",
        task="regression",
        metric="rmse",
        direction=Direction.MINIMIZE,
        trials=[lucky, steady],
        best=steady,
        champion=None,
        duration=1.0,
        finalists=finalists,
    )
    _print_summary(result)
    out = capsys.readouterr().out
    assert "Finalists scored again on fresh folds (rmse):" in out
    assert "lightgbm                         54.60000 -> 56.00000\n" in out
    assert "sklearn.linear                   55.90000 -> 55.20000  <- chosen" in out


def test_a_re_scoring_run_is_found_by_its_trial_s_run_and_never_read_as_a_trial(tracking_uri: str) -> None:
    from sparksweep.tracking import SweepTracker

    tracker = SweepTracker(tracking_uri, "finalists-lookup")
    tracker.start(run_name="sweep", params={}, spec_yaml="experiment: finalists-lookup\n")
    trial = _trial(3, "lightgbm", 50.0)
    assert tracker.find_rescore(trial.run_id) is None
    run_id = tracker.rescore_run(trial).create(tracker.client, tracker.retry)
    assert tracker.find_rescore(trial.run_id) == run_id
    assert tracker.find_trial(3) is None
    tags = tracker.client.get_run(run_id).data.tags
    assert tags["mlflow.runName"] == "rescore-003-lightgbm"
    tracker.finish()
