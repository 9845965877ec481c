"""Tiny finished sweeps for the figures' tests: real trials on the local executor (no Spark needed), a SQLite store
in a temporary folder, the data in a parquet file there (so ``sparksweep report`` can reload the test rows)."""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sparksweep.figures._sweep_data import Timeline
from sparksweep.spec import SweepSpec, validate_spec
from sparksweep.sweep import SweepResult, run_sweep


@dataclass(frozen=True)
class FinishedSweep:
    spec: SweepSpec
    result: SweepResult
    data: Path
    warnings: tuple[str, ...]

    @property
    def uri(self) -> str:
        return self.result.tracking_uri


def sweep_spec(folder: Path, frame: pd.DataFrame, target: str, models: list[str], **sections: Any) -> SweepSpec:
    data = folder / "data.parquet"
    if not data.exists():
        frame.to_parquet(data, index=False)
    search = {"n_trials": 6, "parallelism": 2, "seed": 0, "executor": "local", **sections.pop("search", {})}
    drop = [c for c in ("user_id", "feature_date") if c in frame.columns]
    raw = {
        "experiment": f"figures-{folder.name}",
        "data": {"path": str(data), "target": target, "drop": drop},
        "models": models,
        "search": search,
        "register": {"name": f"figures-{folder.name}", **sections.pop("register", {})},
        "tracking": {"uri": f"sqlite:///{folder / 'mlflow.db'}", **sections.pop("tracking", {})},
        **sections,
    }
    return validate_spec(raw)


def finish(spec: SweepSpec) -> FinishedSweep:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_sweep(spec)
    assert spec.data.path is not None
    return FinishedSweep(spec, result, Path(spec.data.path), tuple(str(w.message) for w in caught))


def assert_one_trial_computes_at_a_time_per_slot(timeline: Timeline) -> None:
    """Within a slot's row, a trial starts once the last one is computed (its recording may still go on)."""
    for slot in range(timeline.slots):
        bars = sorted((b.start, b.end if b.computed is None else b.computed) for b in timeline.bars if b.slot == slot)
        # The run's start is kept to the millisecond: a trial may seem to start up to 1 ms before its predecessor ended.
        assert all(end <= start + 0.002 for (_, end), (start, _) in itertools.pairwise(bars)), (slot, bars)
