"""Search quality at equal wall time: sparksweep against FLAML, Optuna-LightGBM, Hyperopt-LightGBM, untuned LightGBM.

Every contender gets the same wall-clock budget and the same cores, one after another (never two at once), on the
same 75/25 split of each data set, and is scored once on the test rows. Each runs in a fresh process of its own
(benchmarks/search_quality_contender.py); its clock starts after its imports and stops when its final model is
fitted, so sparksweep's Spark start and its champion's registration are inside its budget.

- sparksweep: the families of the task searched together (``--models``), trials in parallel on ``local[cores]``,
  through the public API (a sweep spec, ``run_sweep``) with ``search.timeout`` set from what is left of the budget;
  scored with the registered model (pyfunc).
- FLAML ``AutoML`` with its default estimators and ``time_budget`` (from .venv-bench: ``make bench-env``).
- Optuna TPE and Hyperopt TPE loops over LightGBM, each trial scored by 3-fold CV on the training rows, the best
  refitted on all of them.
- Untuned LightGBM (its defaults).

Per data set and seed a table: each contender's test score, wall time, trials and best model, and sparksweep's gain
over it with a 95% paired bootstrap interval over the test rows (positive: sparksweep is better). Then a verdict per
data set (a win counts only when sparksweep is best on every seed) and one line of ratios (sparksweep's score
against each contender's, oriented so that > 1 means sparksweep is better, geometric mean over data sets and seeds).

Run: ``make bench-env`` once, then (under the heavy lock)
``python benchmarks/bench_search_quality.py [--budget 60] [--datasets breast_cancer,diabetes,churn,digits]
[--seeds 0,1] [--quick]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sparksweep.bench.data import load_bench_dataset
from sparksweep.bench.spec import BenchDataset
from sparksweep.data import infer_task
from sparksweep.metrics import DEFAULT_METRIC, Direction, Metric, get_metric
from sparksweep.registry import paired_bootstrap

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CONTENDER_SCRIPT = HERE / "search_quality_contender.py"
PEER_PYTHON = REPO / ".venv-bench" / "bin" / "python"
TARGET = "target"
TEST_SIZE = 0.25
CONTENDERS = ("sparksweep", "flaml", "optuna-lgbm", "hyperopt-lgbm", "untuned-lgbm")
TUNED_PEERS = ("flaml", "optuna-lgbm", "hyperopt-lgbm")
FAMILIES = {
    "classification": [
        "lightgbm",
        "xgboost",
        "sklearn.hist_gradient_boosting",
        "sklearn.random_forest",
        "sklearn.extra_trees",
        "sklearn.logistic_regression",
    ],
    "regression": [
        "lightgbm",
        "xgboost",
        "sklearn.hist_gradient_boosting",
        "sklearn.random_forest",
        "sklearn.extra_trees",
        "sklearn.linear",
    ],
}
SWEEP_SETTINGS: dict[str, Any] = {
    "search": {"cv": 5, "cv_racing": True, "finalists": 4, "ensemble": True, "executor": "spark-pool"},
    "tracking": {"autolog": False, "log_models": False},
    "register": {"refit": True},
}
"""The sweep file's settings sparksweep runs with, over the spec's defaults (see the README's search keys): 5-fold CV
(a holdout of ~85 rows is too noisy to pick a model on these data sets) with its folds raced (``cv_racing``: a trial
clearly behind the best stops after a fold or two; what a user with a budget this tight should set, since a
5-fold digits trial cost ~3-5 s of a ~18 s search), 4 finalists scored again on fresh folds (``finalists``: the
best of hundreds of trials on one set of folds is flattered by its luck on them; on diabetes seed 1 at 60 s that
picked a LightGBM at test RMSE 56.7 over a linear model at 54.5) and their weighted average as the champion when it
beats the best of them there (``ensemble``), long-lived Spark tasks, no autologging and no model per trial (logging
one cost ~1.6 s of a ~1.9 s diabetes trial); the champion is refitted on all the training rows (for the boosters:
with the rounds CV chose), as the peers' final models are."""
STOP_RESERVE = 5.0
"""Seconds of sparksweep's budget kept for what follows its ``search.timeout`` (which counts from the sweep's start,
its set-up included): the trials in flight are recorded as killed within ~1 s of the timeout, then the champion is
refitted and registered while the executor shuts down. The sweeps ended 0.8-4.9 s after their timeout here (most
~1 s: a booster is refitted for a known number of rounds, no longer with early stopping on a share of the rows);
the reserve was 7 s before that."""
BOOTSTRAP_SAMPLES = 1000


@dataclass(frozen=True)
class Outcome:
    """One contender's result on one cell (data set x seed)."""

    contender: str
    score: float | None
    wall: float = math.nan
    n_trials: int = 0
    best: str = ""
    gain: float | None = None
    """sparksweep's improvement over this contender (metric units, positive: sparksweep is better)."""
    interval: tuple[float, float] | None = None
    error: str = ""
    prediction: np.ndarray | None = None
    detail: str = ""
    """Where the contender's time went (sparksweep: Spark start, last trial, end; trials and their mean time)."""


def split_rows(y: np.ndarray, seed: int, classification: bool) -> tuple[np.ndarray, np.ndarray]:
    """The 75/25 split of every contender: the same rows sparksweep holds out with ``test_size: 0.25`` and
    ``split_seed: seed`` (stratified for classification), as (train rows, test rows)."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(y))
    train, test = train_test_split(rows, test_size=TEST_SIZE, random_state=seed, stratify=y if classification else None)
    return np.asarray(train), np.asarray(test)


def oriented_ratio(metric: Metric, ours: float, theirs: float) -> float:
    """sparksweep's score against a contender's, > 1 when sparksweep is better (for a loss: theirs / ours)."""
    return ours / theirs if metric.direction is Direction.MAXIMIZE else theirs / ours


def geometric_mean(values: list[float]) -> float:
    return float(np.exp(np.mean(np.log(values)))) if values else math.nan


def gain_interval(
    metric: Metric, y: np.ndarray, ours: np.ndarray, theirs: np.ndarray, classification: bool
) -> tuple[float, tuple[float, float]]:
    """sparksweep's gain over a contender on the test rows and its 95% paired bootstrap interval."""
    gain = metric.direction.improvement(metric(y, ours), metric(y, theirs))
    gains = paired_bootstrap(metric, y, ours, theirs, samples=BOOTSTRAP_SAMPLES, stratify=classification)
    low, high = np.quantile(gains, [0.025, 0.975])
    return gain, (float(low), float(high))


def cell_verdict(outcomes: list[Outcome], metric: Metric) -> str:
    """Where sparksweep stands among the tuned contenders in one cell: ``best``, ``within noise`` (the best tuned
    contender beats it, but the interval of the difference includes 0) or ``behind``."""
    ours = next((o for o in outcomes if o.contender == "sparksweep"), None)
    peers = [o for o in outcomes if o.contender in TUNED_PEERS and o.score is not None]
    if ours is None or ours.score is None:
        return "failed"
    if not peers:
        return "best"
    top = peers[0]
    for peer in peers[1:]:
        if peer.score is not None and top.score is not None and metric.direction.better(peer.score, top.score):
            top = peer
    if top.score is None or not metric.direction.better(top.score, ours.score):
        return "best"
    if top.interval is not None and top.interval[1] >= 0:
        return "within noise"
    return "behind"


def dataset_verdict(verdicts: list[str]) -> str:
    """Over the seeds of a data set: a ``win`` only when sparksweep is best on every seed of at least two (a second
    split confirms it; best on a single seed is ``unconfirmed``), ``par`` when best or within noise on each,
    ``behind`` otherwise."""
    if verdicts and all(v == "best" for v in verdicts):
        return "win" if len(verdicts) >= 2 else "unconfirmed win"
    if verdicts and all(v in {"best", "within noise"} for v in verdicts):
        return "par"
    return "behind"


def format_table(title: str, metric: Metric, outcomes: list[Outcome]) -> str:
    header = f"{'contender':<14} {metric.name:>9} {'wall s':>7} {'trials':>6}  {'best model':<32} "
    header += "sparksweep gain [95% CI]"
    lines = [title, header, "-" * len(header)]
    for o in outcomes:
        if o.score is None:
            lines.append(f"{o.contender:<14} {'n/a':>9}  {o.error[:100]}")
            continue
        gain = ""
        if o.gain is not None and o.interval is not None:
            gain = f"{o.gain:+.4f} [{o.interval[0]:+.4f}, {o.interval[1]:+.4f}]"
        lines.append(f"{o.contender:<14} {o.score:>9.4f} {o.wall:>7.1f} {o.n_trials:>6}  {o.best[:32]:<32} {gain}")
    return "\n".join(lines)


def ratio_line(ratios: dict[str, list[float]]) -> str:
    parts = [f"{name} {geometric_mean(values):.4f}" for name, values in ratios.items() if values]
    head = "ratios (sparksweep's test score vs each contender's, > 1 = sparksweep better, geometric mean): "
    return head + ", ".join(parts)


def _load(name: str, churn_rows: int) -> tuple[pd.DataFrame, str, Metric]:
    frame, spec = load_bench_dataset(BenchDataset(name=name, rows=churn_rows if name == "churn" else None))
    frame = frame.drop(columns=spec.drop).rename(columns={spec.target: TARGET})
    task = infer_task(frame[TARGET])
    return frame, task, get_metric(DEFAULT_METRIC[task])


def error_line(stderr: str) -> str:
    """The line of a failed contender's output that names its error (the last one that looks like an exception)."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[\w.]+(Error|Exception|Exit|Interrupt)\b", line)]
    return (errors or lines or ["(no output)"])[-1]


def _run_contender(name: str, cell_dir: Path, timeout: float) -> dict[str, Any]:
    python = PEER_PYTHON if name == "flaml" else Path(sys.executable)
    if not python.exists():
        raise RuntimeError(f"{python} is missing: run `make bench-env` (FLAML needs xgboost < 3, in its own venv)")
    out = cell_dir / f"{name}.json"
    proc = subprocess.run(
        [str(python), str(CONTENDER_SCRIPT), name, str(cell_dir), str(out)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}: {error_line(proc.stderr)}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def run_cell(
    frame: pd.DataFrame, task: str, metric: Metric, seed: int, args: argparse.Namespace, workdir: Path
) -> list[Outcome]:
    classification = task != "regression"
    y = frame[TARGET].to_numpy()
    train, test = split_rows(y, seed, classification)
    cell_dir = Path(tempfile.mkdtemp(dir=workdir))
    frame.iloc[train].to_csv(cell_dir / "train.csv", index=False)
    frame.iloc[test].to_csv(cell_dir / "test.csv", index=False)
    cell = {
        "task": task,
        "metric": metric.name,
        "budget": args.budget,
        "seed": seed,
        "cores": args.cores,
        "test_size": TEST_SIZE,
        "train_rows": train.tolist(),
        "test_rows": test.tolist(),
        "models": args.models or FAMILIES["regression" if task == "regression" else "classification"],
        "sweep": json.loads(args.sweep),
        "stop_reserve": STOP_RESERVE,
    }
    (cell_dir / "cell.json").write_text(json.dumps(cell))
    y_test = y[test]
    outcomes: list[Outcome] = []
    for name in args.contenders:
        try:
            raw = _run_contender(name, cell_dir, timeout=args.budget * 3 + 120)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            outcomes.append(Outcome(name, None, error=str(exc)))
            continue
        prediction = np.asarray(raw["prediction"], dtype=np.float64)
        outcomes.append(
            Outcome(
                name,
                metric(y_test, prediction),
                wall=raw["wall"],
                n_trials=raw["n_trials"],
                best=raw["best"],
                prediction=prediction,
                detail=raw.get("detail", ""),
            )
        )
        reported = raw.get("reported_test_score")
        if reported is not None and not math.isclose(reported, outcomes[-1].score or 0.0, rel_tol=1e-6):
            print(f"  note: sparksweep's own test score {reported:.6f} differs from the harness's", flush=True)
    ours = next((o for o in outcomes if o.contender == "sparksweep" and o.prediction is not None), None)
    if ours is None or ours.prediction is None:
        return outcomes
    scored = []
    for o in outcomes:
        if o.contender == "sparksweep" or o.prediction is None:
            scored.append(o)
            continue
        gain, interval = gain_interval(metric, y_test, ours.prediction, o.prediction, classification)
        scored.append(dataclasses.replace(o, gain=gain, interval=interval))
    return scored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60.0, help="Wall-clock seconds per contender and cell.")
    parser.add_argument("--datasets", default="breast_cancer,diabetes,churn,digits")
    parser.add_argument("--seeds", default="0,1", help="Split seeds; a win counts only if it holds on every seed.")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--churn-rows", type=int, default=5000)
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--models", default="", help="sparksweep's families (default: the task's, see FAMILIES).")
    parser.add_argument("--sweep", default=json.dumps(SWEEP_SETTINGS), help="sparksweep's sweep settings (JSON).")
    parser.add_argument("--quick", action="store_true", help="30 s budget, breast_cancer and diabetes, seed 0.")
    args = parser.parse_args()
    if args.quick:
        args.budget, args.datasets, args.seeds = 30.0, "breast_cancer,diabetes", "0"
    args.contenders = [c for c in args.contenders.split(",") if c]
    unknown = sorted(set(args.contenders) - set(CONTENDERS))
    if unknown:
        parser.error(f"unknown contenders {unknown}; choose from {list(CONTENDERS)}")
    args.models = [m for m in args.models.split(",") if m]
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"budget {args.budget:g} s per contender and cell, {args.cores} cores, sparksweep settings {args.sweep}")
    ratios: dict[str, list[float]] = {c: [] for c in args.contenders if c != "sparksweep"}
    verdicts: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="search-quality-") as tmp:
        for name in [d for d in args.datasets.split(",") if d]:
            frame, task, metric = _load(name, args.churn_rows)
            for seed in seeds:
                outcomes = run_cell(frame, task, metric, seed, args, Path(tmp))
                title = f"\n{name} ({task}, {len(frame)} rows, {metric.name}), split seed {seed}"
                print(format_table(title, metric, outcomes), flush=True)
                for o in outcomes:
                    if o.detail:
                        print(f"{o.contender}: {o.detail}")
                verdict = cell_verdict(outcomes, metric)
                verdicts.setdefault(name, []).append(verdict)
                print(f"sparksweep among the tuned contenders: {verdict}", flush=True)
                ours = next((o for o in outcomes if o.contender == "sparksweep"), None)
                for o in outcomes:
                    if o.contender in ratios and o.score is not None and ours is not None and ours.score is not None:
                        ratios[o.contender].append(oriented_ratio(metric, ours.score, o.score))
    print()
    for name, cells in verdicts.items():
        print(f"{name}: {dataset_verdict(cells)} (per seed: {', '.join(cells)})")
    print(ratio_line(ratios))


if __name__ == "__main__":
    main()
