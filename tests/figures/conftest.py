"""Tiny finished sweeps for the figures' tests: real trials on the local executor (no Spark needed), a SQLite store
in a temporary folder, the data in a parquet file there (so ``sparksweep report`` can reload the test rows)."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from sparksweep.executors import LocalExecutor
from sparksweep.figures._sweep_data import Timeline
from sparksweep.spec import SweepSpec, validate_spec
from sparksweep.sweep import SweepResult, run_sweep
from tests.conftest import new_store


@dataclass(frozen=True)
class FinishedSweep:
    spec: SweepSpec
    result: SweepResult
    data: Path
    warnings: tuple[str, ...]

    @property
    def uri(self) -> str:
        return self.result.tracking_uri


def sweep_spec(
    folder: Path,
    frame: pd.DataFrame,
    target: str,
    models: list[str],
    store_template: Path | None = None,
    **sections: Any,
) -> SweepSpec:
    """A sweep of ``frame`` into a store in ``folder`` (a copy of ``store_template`` when given and the folder has no
    store yet)."""
    data = folder / "data.parquet"
    if not data.exists():
        frame.to_parquet(data, index=False)
    if store_template is not None and not (folder / "mlflow.db").exists():
        new_store(store_template, folder / "mlflow.db")
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


@pytest.fixture(scope="package")
def local_executor() -> Iterator[LocalExecutor]:
    """The two local worker processes the figures' sweeps run their trials in, started once for them all (a sweep
    that starts its own pays the processes' start-up and imports, seconds on 2 cores)."""
    executor = LocalExecutor(parallelism=2)
    yield executor
    executor.shutdown()


def finish(spec: SweepSpec, executor: LocalExecutor | None = None) -> FinishedSweep:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_sweep(spec, executor=executor)
    assert spec.data.path is not None
    return FinishedSweep(spec, result, Path(spec.data.path), tuple(str(w.message) for w in caught))


def assert_one_trial_computes_at_a_time_per_slot(timeline: Timeline) -> None:
    """Within a slot's row, a trial starts once the last one is computed (its recording may still go on)."""
    for slot in range(timeline.slots):
        bars = sorted((b.start, b.end if b.computed is None else b.computed) for b in timeline.bars if b.slot == slot)
        # The run's start is kept to the millisecond: a trial may seem to start up to 1 ms before its predecessor ended.
        assert all(end <= start + 0.002 for (_, end), (start, _) in itertools.pairwise(bars)), (slot, bars)
