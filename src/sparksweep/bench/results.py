"""What a bench produces: one :class:`CellResult` per cell (read back from MLflow) and the :class:`BenchResult`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sparksweep.bench.spec import Cell
from sparksweep.metrics import Direction

__all__ = ["BenchResult", "CellResult"]


@dataclass(frozen=True)
class CellResult:
    """A finished cell, read back from MLflow: its sweep run, scores and best-so-far curve."""

    cell: Cell
    sweep_run_id: str
    metric: str
    direction: Direction
    valid_best: float | None
    test_score: float | None
    duration: float
    curve: list[tuple[int, float, float]]
    """(trials finished, seconds since the sweep started, best validation value so far)."""


@dataclass(frozen=True)
class BenchResult:
    """A finished bench: its MLflow run, every cell's result, the report's path and how many cells an earlier run
    had finished already."""

    bench_run_id: str
    experiment_id: str
    cells: list[CellResult]
    report: Path
    skipped: int
