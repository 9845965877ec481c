"""The bench report: a Markdown table of test scores, average ranks, paired tests, and best-so-far curves (PNG).

The paired test is the Wilcoxon signed-rank test over cells (data set, model set, seed) that share everything but
the algorithm. Scores on different data sets are not on one scale and a handful of pairs cannot show normality, so a
rank-based paired test is the fitting choice (Demšar, "Statistical Comparisons of Classifiers over Multiple Data
Sets", JMLR 2006).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sparksweep.bench.results import CellResult
    from sparksweep.bench.spec import BenchSpec

__all__ = ["average_ranks", "paired_tests", "write_report"]


def _fmt(values: list[float]) -> str:
    clean = [v for v in values if not math.isnan(v)]
    if not clean:
        return "n/a"
    if len(clean) == 1:
        return f"{clean[0]:.4f}"
    return f"{statistics.mean(clean):.4f} ± {statistics.stdev(clean):.4f}"


def _oriented(result: CellResult) -> float:
    """The test score with larger always better (so ranks and differences read the same way for every metric)."""
    score = result.test_score if result.test_score is not None else math.nan
    return score if result.direction.value == "maximize" else -score


def average_ranks(results: list[CellResult]) -> dict[str, dict[str, float]]:
    """Per data set, each algorithm's rank (1 = best, ties shared) averaged over model sets and seeds."""
    from scipy.stats import rankdata

    groups: dict[tuple[str, str, int], dict[str, float]] = defaultdict(dict)
    for r in results:
        groups[(r.cell.dataset, r.cell.model_set, r.cell.seed)][r.cell.algorithm] = _oriented(r)
    ranks: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for (dataset, _, _), scores in groups.items():
        algos = sorted(scores)
        values = np.array([-scores[a] if not math.isnan(scores[a]) else math.inf for a in algos])
        for algo, rank in zip(algos, rankdata(values, method="average"), strict=True):
            ranks[dataset][algo].append(float(rank))
    return {d: {a: statistics.mean(v) for a, v in per.items()} for d, per in ranks.items()}


def paired_tests(results: list[CellResult], best: str) -> dict[str, tuple[int, float, float]]:
    """For each other algorithm: (pairs, median relative score difference in favour of ``best``, Wilcoxon p)."""
    from scipy.stats import wilcoxon

    by_cell: dict[tuple[str, str, int], dict[str, float]] = defaultdict(dict)
    for r in results:
        by_cell[(r.cell.dataset, r.cell.model_set, r.cell.seed)][r.cell.algorithm] = _oriented(r)
    out: dict[str, tuple[int, float, float]] = {}
    algos = sorted({r.cell.algorithm for r in results} - {best})
    for algo in algos:
        # Relative differences, so that cells of different data sets and metrics are on one scale.
        diffs = [
            (s[best] - s[algo]) / max(abs(s[best]), 1e-12)
            for s in by_cell.values()
            if best in s and algo in s and not math.isnan(s[best]) and not math.isnan(s[algo])
        ]
        if not diffs:
            out[algo] = (0, math.nan, math.nan)
        elif all(d == 0 for d in diffs):
            out[algo] = (len(diffs), 0.0, 1.0)
        else:
            out[algo] = (len(diffs), float(np.median(diffs)), float(wilcoxon(diffs).pvalue))
    return out


def _plot(results: list[CellResult], spec: BenchSpec, path: Path, by_time: bool) -> None:
    from matplotlib.figure import Figure

    datasets = [d.name for d in spec.datasets]
    sets = list(spec.model_sets)
    fig = Figure(figsize=(4.2 * len(sets), 3.2 * len(datasets)), layout="constrained")
    axes = fig.subplots(len(datasets), len(sets), squeeze=False)
    for i, dataset in enumerate(datasets):
        for j, model_set in enumerate(sets):
            ax = axes[i][j]
            cell_results = [r for r in results if r.cell.dataset == dataset and r.cell.model_set == model_set]
            horizon = max((r.curve[-1][1] for r in cell_results if r.curve), default=1.0)
            grid = np.linspace(0.0, horizon, 100)
            for algo in spec.algorithms:
                curves = [r.curve for r in cell_results if r.cell.algorithm == algo and r.curve]
                if not curves:
                    continue
                if by_time:
                    ys = []
                    for c in curves:
                        t = np.array([p[1] for p in c])
                        v = np.array([p[2] for p in c])
                        idx = np.searchsorted(t, grid, side="right") - 1
                        ys.append(np.where(idx >= 0, v[np.clip(idx, 0, None)], np.nan))
                    ax.plot(grid, np.nanmean(np.array(ys), axis=0), label=algo, drawstyle="steps-post")
                else:
                    n = min(len(c) for c in curves)
                    mean = np.mean(np.array([[p[2] for p in c[:n]] for c in curves]), axis=0)
                    ax.plot(range(1, n + 1), mean, label=algo, drawstyle="steps-post")
            metric = cell_results[0].metric if cell_results else ""
            ax.set_title(f"{dataset} / {model_set}", fontsize=9)
            ax.set_xlabel("seconds" if by_time else "trials finished")
            ax.set_ylabel(f"best valid {metric}")
            ax.legend(fontsize=7)
    fig.savefig(path, dpi=110)


def _write_csv(results: list[CellResult], path: Path) -> None:
    import pandas as pd

    rows = [
        {
            "dataset": r.cell.dataset,
            "model_set": r.cell.model_set,
            "algorithm": r.cell.algorithm,
            "seed": r.cell.seed,
            "metric": r.metric,
            "valid_best": r.valid_best,
            "test_score": r.test_score,
            "trials": len(r.curve),
            "seconds": round(r.duration, 2),
            "sweep_run_id": r.sweep_run_id,
        }
        for r in results
    ]
    pd.DataFrame(rows).to_csv(path, index=False)


def _score_lines(spec: BenchSpec, results: list[CellResult]) -> list[str]:
    """The report's title, what was run, and the table of test scores."""
    budget = " and ".join(
        part
        for part in (
            f"{spec.budget.n_trials} trials" if spec.budget.n_trials else "",
            f"{spec.budget.seconds:g} s" if spec.budget.seconds else "",
        )
        if part
    )
    lines = [
        f"# Bench `{spec.experiment}`",
        "",
        f"{len(results)} sweeps: {len(spec.datasets)} data sets x {len(spec.model_sets)} model sets x "
        f"{len(spec.algorithms)} algorithms x {spec.repeats} seeds, each with a budget of {budget}. "
        "Test scores are the best trial's model on held-out rows (25%), mean ± sd over seeds.",
        "",
        "## Test scores",
        "",
        "| data set | metric | model set | " + " | ".join(spec.algorithms) + " |",
        "|---|---|---|" + "---|" * len(spec.algorithms),
    ]
    for dataset in spec.datasets:
        for model_set in spec.model_sets:
            cells = [r for r in results if r.cell.dataset == dataset.name and r.cell.model_set == model_set]
            if not cells:
                continue
            scores = [
                _fmt([r.test_score if r.test_score is not None else math.nan for r in cells if r.cell.algorithm == a])
                for a in spec.algorithms
            ]
            lines.append(f"| {dataset.name} | {cells[0].metric} | {model_set} | " + " | ".join(scores) + " |")
    return lines


def _rank_lines(spec: BenchSpec, results: list[CellResult]) -> list[str]:
    """The table of average ranks and, with more than one algorithm, the paired tests against the best-ranked."""
    ranks = average_ranks(results)
    lines = [
        "",
        "## Average rank per data set (1 = best)",
        "",
        "| data set | " + " | ".join(spec.algorithms) + " |",
        "|---|" + "---|" * len(spec.algorithms),
    ]
    for dataset_name, per in ranks.items():
        lines.append(f"| {dataset_name} | " + " | ".join(f"{per.get(a, math.nan):.2f}" for a in spec.algorithms) + " |")
    overall = {a: statistics.mean(per[a] for per in ranks.values() if a in per) for a in spec.algorithms}
    lines.append("| **mean** | " + " | ".join(f"**{overall[a]:.2f}**" for a in spec.algorithms) + " |")
    if len(spec.algorithms) > 1:
        best = min(overall, key=lambda a: overall[a])
        lines += [
            "",
            f"## Paired test against the best-ranked algorithm, `{best}`",
            "",
            "Wilcoxon signed-rank test over cells that differ only in the algorithm (same data set, model set, seed "
            "and budget): rank-based and paired, it needs no normality and no common scale across data sets "
            "(Demšar, JMLR 2006). With n pairs the smallest attainable two-sided p is 2/2^n.",
            "",
            "| algorithm | pairs | median relative difference (positive: best is better) | p-value |",
            "|---|---|---|---|",
        ]
        for algo, (n, diff, p) in paired_tests(results, best).items():
            lines.append(f"| {algo} | {n} | {diff:+.2%} | {p:.3f} |")
    return lines


def write_report(spec: BenchSpec, results: list[CellResult], out_dir: Path) -> Path:
    """Write report.md, results.csv, curves_trials.png and curves_time.png into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_csv(results, out_dir / "results.csv")
    _plot(results, spec, out_dir / "curves_trials.png", by_time=False)
    _plot(results, spec, out_dir / "curves_time.png", by_time=True)
    lines = [*_score_lines(spec, results), *_rank_lines(spec, results)]
    lines += ["", "![best so far vs trials](curves_trials.png)", "", "![best so far vs time](curves_time.png)", ""]
    report = out_dir / "report.md"
    report.write_text("\n".join(lines))
    return report
