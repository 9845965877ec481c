"""Benchmark comparisons: data sets x algorithms x model-family sets x seeds, each cell a real sweep.

Example:
    >>> from sparksweep.bench import load_bench, run_bench
    >>> result = run_bench(load_bench("examples/bench.yaml"))  # doctest: +SKIP
    >>> print(result.report.read_text())  # doctest: +SKIP
"""

from __future__ import annotations

from sparksweep.bench.report import average_ranks, paired_tests, write_report
from sparksweep.bench.results import BenchResult, CellResult
from sparksweep.bench.runner import run_bench
from sparksweep.bench.spec import BUNDLED, BenchSpec, Cell, load_bench

__all__ = [
    "BUNDLED",
    "BenchResult",
    "BenchSpec",
    "Cell",
    "CellResult",
    "average_ranks",
    "load_bench",
    "paired_tests",
    "run_bench",
    "write_report",
]
