"""What drawing a sweep's figures costs, against the sweep's own length (issue 18: under 3 s for 500 trials).

One real sweep (scikit-learn logistic regression and k-nearest neighbours on a small churn table, the local
executor, a SQLite store, the champion registered) runs with ``tracking.figures: false``; then, in the same warm
process (as the engine draws them, while its executor shuts down), everything is drawn once: the parent run's
figures, the champion's figures and test metrics, ``report.html`` and the description, each figure's time printed.

Run: ``python benchmarks/bench_figures.py [--n-trials 500] [--rows 2000]``
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-trials", type=int, default=500)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="Print the 25 costliest calls of the drawing.")
    args = parser.parse_args()

    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from sparksweep.data import prepare_dataset, read_table
    from sparksweep.datasets import generate_churn
    from sparksweep.figures import FigureInputs, draw_sweep_figures
    from sparksweep.spec import validate_spec
    from sparksweep.sweep import run_sweep

    with tempfile.TemporaryDirectory(prefix="bench-figures-") as tmp:
        data = Path(tmp) / "churn.parquet"
        generate_churn(args.rows, seed=11).to_parquet(data, index=False)
        raw = {
            "experiment": "bench-figures",
            "data": {"path": str(data), "target": "label", "drop": ["user_id", "feature_date"]},
            "models": ["sklearn.logistic_regression", "sklearn.knn"],
            "search": {"n_trials": args.n_trials, "parallelism": args.parallelism, "seed": 0, "executor": "local"},
            "register": {"name": "bench-figures", "refit": True},
            "tracking": {"uri": f"sqlite:///{tmp}/mlflow.db", "log_models": False, "autolog": False, "figures": False},
        }
        spec = validate_spec(raw)
        result = run_sweep(spec)
        dataset = prepare_dataset(read_table(data), spec.data, spec.task)
        drawing = spec.with_overrides(**{"tracking.figures": True})
        inputs = FigureInputs(result.tracking_uri, result.sweep_run_id, drawing, dataset, result.champion)
        profile = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profile is not None:
            profile.enable()
        report = draw_sweep_figures(inputs)
        if profile is not None:
            profile.disable()
        seconds = time.perf_counter() - started
        if report is None:
            raise SystemExit("the sweep could not be read back")
        drawn = len(report.parent_artifacts) + len(report.champion_artifacts)
        print(
            f"sweep: {len(result.trials)} trials in {result.duration:.1f} s on {args.parallelism} slots; "
            f"figures: {drawn} artifacts in {seconds:.2f} s ({seconds / result.duration:.1%} of the sweep)"
            + (f"; failed: {report.failed}" if report.failed else "")
        )
        if profile is not None:
            pstats.Stats(profile).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
