"""tracking.log_models: which trials log their model (improving by default, all, none), in real sweeps."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from mlflow import MlflowClient

from sparksweep.errors import SpecError
from sparksweep.spec import validate_spec
from sparksweep.sweep import run_sweep

pytestmark = pytest.mark.spark


def _data() -> pd.DataFrame:
    from sparksweep.datasets import generate_churn

    return generate_churn(600, seed=5)


def _spec(tracking_uri: str, log_models: Any, n_trials: int = 6) -> Any:
    tracking: dict[str, Any] = {"uri": tracking_uri, "autolog": False, "figures": False}
    if log_models is not None:
        tracking["log_models"] = log_models
    return validate_spec(
        {
            "experiment": "keep",
            "data": {"path": "unused.parquet", "target": "label", "drop": ["user_id", "feature_date"]},
            "models": ["sklearn.logistic_regression"],
            "search": {"n_trials": n_trials, "parallelism": 2, "seed": 4, "algorithm": "optuna.random"},
            "register": {"name": "keep-model"},
            "tracking": tracking,
        }
    )


def test_the_mode_reads_booleans_and_refuses_unknown_values(tracking_uri: str) -> None:
    assert _spec(tracking_uri, None).tracking.log_models == "improving"
    assert _spec(tracking_uri, True).tracking.log_models == "all"
    assert _spec(tracking_uri, False).tracking.log_models == "none"
    with pytest.raises(SpecError, match=r"log_models.*improving, all, none.*'best'"):
        _spec(tracking_uri, "best")


def test_improving_keeps_the_models_of_trials_that_beat_the_best_finished_before_them(
    spark: Any, tracking_uri: str
) -> None:
    result = run_sweep(_spec(tracking_uri, None), data=_data(), spark=spark)
    client = MlflowClient(tracking_uri)
    runs = {t.run_id: client.get_run(t.run_id) for t in result.trials}
    assert result.best is not None
    assert result.best.model_uri is not None, "the champion always has its model"
    assert result.champion is not None
    assert result.champion.version is not None
    for trial in result.trials:
        run = runs[trial.run_id]
        assert trial.value is not None
        # The worker's threshold was the best value the driver knew at dispatch: only trials whose runs had ended
        # before this one started can be among them.
        before = [
            t.value for t in result.trials if t.value is not None and runs[t.run_id].info.end_time < run.info.start_time
        ]
        beats_all_before = not before or trial.value >= max(before)
        if beats_all_before:
            assert trial.model_uri is not None, f"trial {trial.number} was the best so far and has no model"
        if trial.model_uri is None:
            assert trial.value < max(before)
            assert run.data.tags["sparksweep.model"].startswith("not kept: tracking.log_models is improving")
            assert "sparksweep.model_uri" not in run.data.tags
        else:
            assert run.data.tags["sparksweep.model_uri"] == trial.model_uri
            assert "sparksweep.model" not in run.data.tags


@pytest.mark.parametrize(("mode", "kept"), [("all", True), ("none", False)])
def test_all_and_none_still_log_every_model_or_none(spark: Any, tracking_uri: str, mode: str, kept: bool) -> None:
    spec = _spec(tracking_uri, mode, n_trials=3)
    spec = spec.model_copy(update={"registration": None}) if not kept else spec
    result = run_sweep(spec, data=_data(), spark=spark)
    client = MlflowClient(tracking_uri)
    for trial in result.trials:
        assert (trial.model_uri is not None) is kept
        assert "sparksweep.model" not in client.get_run(trial.run_id).data.tags
