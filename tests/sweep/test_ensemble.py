"""Ensembles of finalists (``search.ensemble``): greedy selection on out-of-fold predictions, and a real sweep on the
session's local Spark with a SQLite store registering and scoring one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from sparksweep.data import prepare_dataset
from sparksweep.datasets import generate_churn
from sparksweep.errors import SpecError
from sparksweep.metrics import get_metric
from sparksweep.scoring import download_model, score_pandas
from sparksweep.spec import RegisterSpec, validate_spec
from sparksweep.sweep import run_sweep
from sparksweep.sweep._conclude import conclude
from sparksweep.sweep._ensemble import select_ensemble
from sparksweep.trial import TrialResult, TrialState


def _trial(number: int, predictions: Any) -> TrialResult:
    family = f"family-{number}"
    return TrialResult(number, f"run-{number}", family, {}, TrialState.COMPLETE, 0.0, predictions=predictions)


def test_two_models_with_opposite_errors_average_into_a_better_one() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    noise = rng.normal(scale=0.5, size=200)
    ensemble = select_ensemble([_trial(0, y + noise), _trial(1, y - noise), _trial(2, y + 2)], y, get_metric("rmse"))
    assert ensemble is not None
    assert ensemble.chosen
    assert [(t.number, w) for t, w in ensemble.members] == [(0, 0.5), (1, 0.5)]
    assert ensemble.score == pytest.approx(0.0, abs=1e-12)
    assert ensemble.single_score == pytest.approx(float(np.sqrt(np.mean(noise**2))))


def test_a_model_that_no_average_improves_stays_alone() -> None:
    y = np.array([0, 0, 1, 1, 0, 1])
    perfect = np.array([0.1, 0.2, 0.8, 0.9, 0.3, 0.7])
    worse = np.array([0.6, 0.1, 0.4, 0.9, 0.5, 0.2])
    ensemble = select_ensemble([_trial(0, worse), _trial(1, perfect)], y, get_metric("auc_roc"))
    assert ensemble is not None
    assert not ensemble.chosen
    assert [(t.number, w) for t, w in ensemble.members] == [(1, 1.0)]
    assert ensemble.score == ensemble.single_score == 1.0


def test_weights_are_multiples_of_the_rounds_and_sum_to_one() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=300)
    models = [np.clip(y * 0.6 + rng.uniform(0, 0.4, 300) + rng.normal(0, s, 300), 0, 1) for s in (0.2, 0.3, 0.4)]
    ensemble = select_ensemble([_trial(i, p) for i, p in enumerate(models)], y, get_metric("log_loss"), rounds=10)
    assert ensemble is not None
    assert sum(w for _, w in ensemble.members) == pytest.approx(1.0)
    assert all(round(w * 10) == pytest.approx(w * 10) for _, w in ensemble.members)
    assert ensemble.score <= ensemble.single_score


def test_finalists_without_predictions_are_left_out() -> None:
    assert select_ensemble([_trial(0, None)], np.zeros(3), get_metric("rmse")) is None
    with_nan = _trial(1, np.array([0.0, np.nan, 1.0]))
    assert select_ensemble([with_nan], np.zeros(3), get_metric("rmse")) is None


def test_with_forward_folds_the_ensemble_is_chosen_on_the_rows_the_folds_scored() -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(size=100)
    noise = rng.normal(scale=0.5, size=100)
    unscored = np.arange(100) < 20  # the first block of forward-chaining folds: no fold scores it
    high, low = np.where(unscored, np.nan, y + noise), np.where(unscored, np.nan, y - noise)
    assert select_ensemble([_trial(0, high), _trial(1, low)], y, get_metric("rmse")) is None
    ensemble = select_ensemble([_trial(0, high), _trial(1, low)], y, get_metric("rmse"), held=~unscored)
    assert ensemble is not None
    assert ensemble.chosen
    assert ensemble.score == pytest.approx(0.0, abs=1e-12)
    assert ensemble.single_score == pytest.approx(float(np.sqrt(np.mean(noise[20:] ** 2))))


def test_an_ensemble_needs_finalists_and_a_refit() -> None:
    raw: dict[str, Any] = {
        "experiment": "e",
        "data": {"path": "x.csv", "target": "y"},
        "models": ["lightgbm"],
        "search": {"cv": 3, "ensemble": True},
    }
    with pytest.raises(SpecError, match="ensemble: true averages finalists, and finalists is 0; set finalists: 2"):
        validate_spec(raw)
    raw["search"]["finalists"] = 3
    raw["register"] = {"name": "m"}
    with pytest.raises(SpecError, match=r"register.refit is false; set register.refit: true"):
        validate_spec(raw)
    raw["register"]["refit"] = True
    assert validate_spec(raw).search.ensemble


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return generate_churn(600, seed=4)


@pytest.mark.spark
def test_a_sweep_builds_an_ensemble_from_its_finalists_and_registers_it_as_one_model(
    spark: Any, tracking_uri: str, small: pd.DataFrame, tmp_path: Path
) -> None:
    raw = {
        "experiment": "ensemble",
        "data": {"path": "unused.parquet", "target": "label", "drop": ["user_id", "feature_date"]},
        "models": ["sklearn.logistic_regression", "lightgbm"],
        "search": {"n_trials": 4, "parallelism": 2, "seed": 0, "cv": 3, "finalists": 3, "ensemble": True},
        "tracking": {"uri": tracking_uri, "log_models": False, "autolog": False},
        "register": {"name": "ensembles", "refit": True},
    }
    spec = validate_spec(raw)
    result = run_sweep(spec, data=small, spark=spark)
    # Each family's best is a finalist whatever its score, with its out-of-fold predictions on the fresh folds.
    assert {f.trial.family for f in result.finalists} == {"sklearn.logistic_regression", "lightgbm"}
    assert result.ensemble is not None
    assert result.ensemble.score <= 1.0
    assert not result.ensemble.chosen or result.ensemble.score > result.ensemble.single_score
    for finalist in result.finalists:
        assert finalist.rescored.predictions is not None
        assert finalist.rescored.predictions.shape == (len(small) - round(0.2 * len(small)),)
    client = MlflowClient(tracking_uri)
    parent = client.get_run(result.sweep_run_id)
    assert parent.data.tags["sparksweep.ensemble"].startswith("chosen: " if result.ensemble.chosen else "not chosen: ")
    # Registered as one model, whatever the sweep chose: an average of the two families' finalists.
    members = [(f.trial, 0.5) for f in result.finalists[:2]]
    dataset = prepare_dataset(small, spec.data, spec.task)
    registration = RegisterSpec(name="ensembles-direct", refit=True, force=True)
    decision = conclude(
        client=client,
        tracking_uri=tracking_uri,
        registration=registration,
        best=members[0][0],
        dataset=dataset,
        metric=get_metric("auc_roc"),
        sweep_run_id=result.sweep_run_id,
        ensemble=members,
    )
    version = client.get_model_version("ensembles-direct", decision.version)
    assert version.tags["sparksweep.model_family"] == "ensemble"
    for trial, _ in members:
        assert trial.run_id in version.tags["sparksweep.ensemble"]
    refit = client.get_run(version.run_id)
    assert refit.data.tags["mlflow.runName"] == "refit-ensemble"
    assert refit.data.params["member_0.weight"] == "0.5"
    local = Path(download_model(f"models:/ensembles-direct/{decision.version}", tracking_uri, tmp_path / "m"))
    meta = json.loads(next(local.rglob("meta.json")).read_text())
    assert [m["family"] for m in meta["members"]] == [t.family for t, _ in members]
    scored = score_pandas(small, f"models:/ensembles-direct/{decision.version}", tracking_uri=tracking_uri)
    assert scored["prediction"].between(0, 1).all()
    model = mlflow.pyfunc.load_model(str(local))
    test_score = get_metric("auc_roc")(dataset.y_test, model.predict(dataset.X_test).to_numpy())
    assert test_score == pytest.approx(decision.candidate_score)
