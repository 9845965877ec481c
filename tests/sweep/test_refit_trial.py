"""sparksweep refit: a trial whose model tracking.log_models: improving did not keep is fitted again from its
recorded params and seed, its model logged into its own run (a real sweep, a real SQLite store)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

from sparksweep.cli import main
from sparksweep.datasets import generate_churn
from sparksweep.errors import SpecError
from sparksweep.scoring import load_model
from sparksweep.spec import validate_spec
from sparksweep.sweep import SweepResult, refit_trial, run_sweep
from tests.conftest import new_store


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory, store_template: Path) -> SweepResult:
    """Five sequential trials of a seeded random search: the ones not better than those before keep no model. One
    sweep for the module: each test refits a trial of its own (the first and the last not kept)."""
    tmp_path = tmp_path_factory.mktemp("refit")
    tracking_uri = new_store(store_template, tmp_path / "mlflow.db")
    path = tmp_path / "users.parquet"
    generate_churn(500, seed=3).to_parquet(path)
    spec = validate_spec(
        {
            "experiment": "refit",
            "data": {"path": str(path), "target": "label", "drop": ["user_id", "feature_date"]},
            "models": ["sklearn.logistic_regression"],
            "search": {"n_trials": 5, "parallelism": 1, "seed": 2, "algorithm": "optuna.random", "executor": "local"},
            "tracking": {"uri": tracking_uri, "autolog": False, "figures": False},
        }
    )
    result = run_sweep(spec)
    assert len(_not_kept(result)) >= 2, "the tests refit two different trials"
    return result


def _not_kept(result: SweepResult) -> list[Any]:
    trials = [t for t in result.trials if t.model_uri is None]
    assert trials, "every trial kept its model: the seeded search improved at every trial"
    return trials


def test_refit_logs_the_trial_s_model_into_its_run_and_it_scores_as_the_trial_did(
    swept: SweepResult,
) -> None:
    tracking_uri = swept.tracking_uri
    trial = _not_kept(swept)[0]
    client = MlflowClient(tracking_uri)
    assert "not kept" in client.get_run(trial.run_id).data.tags["sparksweep.model"]

    done = refit_trial(trial.run_id, tracking_uri=tracking_uri)

    assert done.fitted
    assert done.recorded == pytest.approx(trial.value)
    assert done.value == pytest.approx(trial.value, abs=1e-9), "the same params, seed and split score the same"
    tags = client.get_run(trial.run_id).data.tags
    assert tags["sparksweep.model_uri"] == done.model_uri
    assert "sparksweep.model" not in tags
    users = generate_churn(50, seed=9)
    predictions = load_model(done.model_uri, tracking_uri).predict(users.drop(columns=["label"]))
    assert len(predictions) == 50
    assert np.all((np.asarray(predictions, dtype=float) >= 0) & (np.asarray(predictions, dtype=float) <= 1))

    again = refit_trial(trial.run_id, tracking_uri=tracking_uri)
    assert not again.fitted
    assert again.model_uri == done.model_uri
    kept = next(t for t in swept.trials if t.model_uri is not None)
    assert refit_trial(kept.run_id, tracking_uri=tracking_uri).model_uri == kept.model_uri


def test_the_cli_refits_a_trial_and_refuses_a_run_that_is_not_one(swept: SweepResult) -> None:
    tracking_uri = swept.tracking_uri
    trial = _not_kept(swept)[-1]
    out = CliRunner().invoke(main, ["refit", trial.run_id, "--tracking-uri", tracking_uri], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "refitted" in out.output
    assert "models:/m-" in out.output
    assert MlflowClient(tracking_uri).get_run(trial.run_id).data.tags["sparksweep.model_uri"].startswith("models:/")

    parent = CliRunner().invoke(main, ["refit", swept.sweep_run_id, "--tracking-uri", tracking_uri])
    assert parent.exit_code == 2, parent.output
    assert "is not a sweep's trial" in parent.output
    with pytest.raises(SpecError, match="'nope' is not in the tracking store"):
        refit_trial("nope", tracking_uri=tracking_uri)
