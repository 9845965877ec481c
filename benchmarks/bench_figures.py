"""What drawing a sweep's figures costs, against the sweep's own length (issue 18: under 3 s for 500 trials).

One real sweep (scikit-learn logistic regression and k-nearest neighbours on a small churn table, the local
executor, a SQLite store, the champion registered) runs with ``tracking.figures: false``; then, in the same warm
process (as the engine draws them, while its executor shuts down), everything is drawn: the parent run's figures,
the champion's figures and test metrics, ``report.html`` and the description, each figure's time printed.

``--keep DIR`` keeps that sweep's store and what the drawing starts from in ``DIR``; ``--draw-from DIR`` then draws
the figures of that kept sweep again without running it (so two checkouts can be compared on the very same sweep,
one after the other, e.g. ``PYTHONPATH=<other checkout>/src python benchmarks/bench_figures.py --draw-from DIR``).

Run: ``python benchmarks/bench_figures.py [--n-trials 500] [--rows 2000] [--repeat 3] [--profile]``
"""

from __future__ import annotations

import argparse
import cProfile
import pickle
import pstats
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

_INPUTS = "inputs.pkl"
_STAGES = ("read_sweep_record", "_sweep_figures", "champion_figures", "_gains", "render_report", "_publish")
"""The drawing's steps, timed by wrapping these names of ``sparksweep.figures._report`` (nothing in sparksweep is
changed for this; a name a checkout lacks is left out)."""


def _time_stages() -> dict[str, float]:
    """Wrap the drawing's steps with timers; returns the seconds spent in each, summed (reset it between draws)."""
    import functools

    from sparksweep.figures import _report

    spent: dict[str, float] = {}
    for name in _STAGES:
        fn = getattr(_report, name, None)
        if fn is None:
            continue

        @functools.wraps(fn)
        def timed(*args: Any, _fn: Any = fn, _name: str = name, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return _fn(*args, **kwargs)
            finally:
                spent[_name] = spent.get(_name, 0.0) + time.perf_counter() - started

        setattr(_report, name, timed)
    return spent


def _sweep(args: argparse.Namespace, folder: Path) -> tuple[Any, float, int]:
    """Run the sweep into ``folder``; what drawing its figures starts from, its length and its trial count."""
    from sparksweep.data import prepare_dataset, read_table
    from sparksweep.datasets import generate_churn
    from sparksweep.figures import FigureInputs
    from sparksweep.spec import validate_spec
    from sparksweep.sweep import run_sweep

    data = folder / "churn.parquet"
    generate_churn(args.rows, seed=11).to_parquet(data, index=False)
    raw = {
        "experiment": "bench-figures",
        "data": {"path": str(data), "target": "label", "drop": ["user_id", "feature_date"]},
        "models": ["sklearn.logistic_regression", "sklearn.knn"],
        "search": {"n_trials": args.n_trials, "parallelism": args.parallelism, "seed": 0, "executor": "local"},
        "register": {"name": "bench-figures", "refit": True},
        "tracking": {"uri": f"sqlite:///{folder}/mlflow.db", "log_models": False, "autolog": False, "figures": False},
    }
    spec = validate_spec(raw)
    result = run_sweep(spec)
    dataset = prepare_dataset(read_table(data), spec.data, spec.task)
    drawing = spec.with_overrides(**{"tracking.figures": True})
    inputs = FigureInputs(result.tracking_uri, result.sweep_run_id, drawing, dataset, result.champion)
    with open(folder / _INPUTS, "wb") as fh:
        pickle.dump((inputs, result.duration, len(result.trials)), fh)
    return inputs, result.duration, len(result.trials)


def _draw(inputs: Any, profile: cProfile.Profile | None) -> tuple[float, Any]:
    from sparksweep.figures import draw_sweep_figures

    started = time.perf_counter()
    if profile is not None:
        profile.enable()
    report = draw_sweep_figures(inputs)
    if profile is not None:
        profile.disable()
    seconds = time.perf_counter() - started
    if report is None:
        raise SystemExit("the sweep could not be read back")
    return seconds, report


def _run(args: argparse.Namespace, folder: Path) -> None:
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if args.draw_from is not None:
        with open(Path(args.draw_from) / _INPUTS, "rb") as fh:
            inputs, duration, n_trials = pickle.load(fh)  # our own file, written by --keep
    else:
        inputs, duration, n_trials = _sweep(args, folder)
    if args.warm:
        _draw(inputs, None)  # imports and first-use caches paid here, not in the timed draws
    profile = cProfile.Profile() if args.profile else None
    times: list[float] = []
    spent = _time_stages()
    for _ in range(args.repeat):
        spent.clear()
        seconds, report = _draw(inputs, profile)
        times.append(seconds)
        drawn = len(report.parent_artifacts) + len(report.champion_artifacts)
        steps = dict(spent)
        print(
            f"sweep: {n_trials} trials in {duration:.1f} s on {args.parallelism} slots; "
            f"figures: {drawn} artifacts in {seconds:.2f} s ({seconds / duration:.1%} of the sweep)"
            + (f"; failed: {report.failed}" if report.failed else "")
        )
        if steps:
            print("  " + ", ".join(f"{name} {s:.2f}" for name, s in steps.items()))
    if len(times) > 1:
        print(f"drawing: min {min(times):.2f} s, median {statistics.median(times):.2f} s over {len(times)} draws")
    if profile is not None:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(args.profile_lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n-trials", type=int, default=500)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="Draw the figures this many times (min, median).")
    parser.add_argument("--keep", help="Keep the sweep's store and the drawing's inputs in this folder.")
    parser.add_argument("--draw-from", help="Draw the figures of a sweep kept by --keep (no sweep is run).")
    parser.add_argument("--warm", action="store_true", help="Draw once untimed first (imports paid before timing).")
    parser.add_argument("--profile", action="store_true", help="Profile the drawing (cumulative, --profile-lines).")
    parser.add_argument("--profile-lines", type=int, default=25)
    args = parser.parse_args()
    if args.keep is not None:
        folder = Path(args.keep)
        folder.mkdir(parents=True, exist_ok=True)
        _run(args, folder)
        return
    with tempfile.TemporaryDirectory(prefix="bench-figures-") as tmp:
        _run(args, Path(tmp))


if __name__ == "__main__":
    main()
