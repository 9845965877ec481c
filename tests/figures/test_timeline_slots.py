"""The timeline draws one row per slot, from the slot each trial's run records (``sparksweep.slot``): on the pool a
slot's next trial starts while its last one is still recorded, so the runs' own times overlap and cannot say it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from sparksweep.figures import read_sweep_record
from sparksweep.figures._sweep_data import timeline
from sparksweep.spec import validate_spec
from sparksweep.sweep import run_sweep
from sparksweep.tracking import TAG_SLOT
from tests.figures.conftest import assert_one_trial_computes_at_a_time_per_slot

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("executor", ["spark-pool", "spark"])
def test_a_sweep_on_two_spark_slots_draws_exactly_two_rows(
    executor: str, spark: Any, churn: Any, tmp_path: Path, tracking_uri: str
) -> None:
    data = tmp_path / "churn.parquet"
    churn.head(300).to_parquet(data, index=False)
    spec = validate_spec(
        {
            "experiment": f"slots-{executor}",
            "data": {"path": str(data), "target": "label", "drop": ["user_id", "feature_date"]},
            "models": ["sklearn.logistic_regression"],
            "search": {"n_trials": 6, "parallelism": 2, "seed": 0, "executor": executor},
            # A logged model makes each recording long enough for the next trial of its slot to start meanwhile.
            "tracking": {"uri": tracking_uri, "figures": False, "log_models": True},
        }
    )
    result = run_sweep(spec, spark=spark)
    client = MlflowClient(result.tracking_uri)
    slots = {client.get_run(t.run_id).data.tags.get(TAG_SLOT) for t in result.trials}
    assert slots == {"0", "1"}
    drawn = timeline(read_sweep_record(client, result.sweep_run_id), now=0.0)
    assert drawn.recorded
    assert len(drawn.bars) == 6
    assert drawn.slots == 2
    assert_one_trial_computes_at_a_time_per_slot(drawn)
    assert all(b.computed is not None and b.start < b.computed <= b.end for b in drawn.bars)
