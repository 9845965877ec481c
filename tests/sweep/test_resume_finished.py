"""Resuming a sweep that ran to its end changes nothing: no trial, no model version, no alias, no tag moves
(issue 16, item 4: it used to register the same champion again, rejected by the gate, and move ``@challenger``)."""

from __future__ import annotations

from typing import Any

import pytest
from mlflow import MlflowClient

from sparksweep.datasets import generate_churn
from sparksweep.spec import validate_spec
from sparksweep.sweep import resume_sweep, run_sweep
from sparksweep.trial import TrialState

MODEL = "resume-finished"


def _store(client: MlflowClient, parent_run_id: str) -> dict[str, Any]:
    parent = client.get_run(parent_run_id)
    runs = client.search_runs([parent.info.experiment_id])
    versions = client.search_model_versions(f"name='{MODEL}'")
    aliases = client.get_registered_model(MODEL).aliases
    return {
        "runs": sorted((r.info.run_id, r.info.status, r.info.end_time) for r in runs),
        "parent_tags": parent.data.tags,
        "parent_metrics": parent.data.metrics,
        "versions": sorted(str(v.version) for v in versions),
        "aliases": {alias: str(version) for alias, version in aliases.items()},
    }


@pytest.mark.slow
def test_resuming_a_finished_sweep_changes_nothing(tracking_uri: str) -> None:
    spec = validate_spec(
        {
            "experiment": "resume-finished",
            "data": {"path": "unused.parquet", "target": "label", "drop": ["user_id", "feature_date"]},
            "models": ["sklearn.logistic_regression"],
            "search": {"n_trials": 2, "parallelism": 2, "seed": 3, "executor": "local"},
            "tracking": {"uri": tracking_uri, "autolog": False, "figures": False},
            "register": {"name": MODEL},
        }
    )
    data = generate_churn(400, seed=3)
    first = run_sweep(spec, data=data)
    assert first.champion is not None
    assert first.champion.promoted
    client = MlflowClient(tracking_uri)
    before = _store(client, first.sweep_run_id)
    assert before["versions"] == ["1"]
    assert before["aliases"] == {"champion": "1"}

    again = resume_sweep(first.sweep_run_id, tracking_uri=tracking_uri, data=data)

    assert _store(client, first.sweep_run_id) == before, "a resume of a finished sweep must change nothing"
    assert again.sweep_run_id == first.sweep_run_id
    assert [(t.number, t.run_id, t.state) for t in again.trials] == [
        (t.number, t.run_id, t.state) for t in first.trials
    ]
    assert all(t.state is TrialState.COMPLETE for t in again.trials)
    assert again.best is not None
    assert first.best is not None
    assert again.best.run_id == first.best.run_id
    assert again.stop_reason == first.stop_reason
