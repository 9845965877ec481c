"""Wall time that pruning saves on the demo sweep, at an equal best value.

The demo sweep (examples/churn.yaml: its boosting families, the churn table) runs on local Spark with the same seed
and budget, once without pruning and once per pruner. With ``optuna.random`` the proposals do not depend on what
was pruned, so the sweeps see the same trials and the best value stays equal unless the pruner stopped the best
trial; with ``optuna.tpe`` pruning also changes what is proposed next, so the best value may differ either way.

Run: ``python benchmarks/bench_pruning.py [--rows 20000] [--n-trials 16] [--parallelism 2]`` (under the heavy lock).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml

from sparksweep.config import validate_spec
from sparksweep.datasets import generate_churn
from sparksweep.search.engine import run_sweep
from sparksweep.search.executors import get_spark
from sparksweep.search.trial import TrialState

REPO = Path(__file__).resolve().parents[1]
BOOSTING = ["sklearn.hist_gradient_boosting", "xgboost", "lightgbm"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--n-trials", type=int, default=16)
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--algorithms", default="optuna.random,optuna.tpe")
    parser.add_argument("--pruners", default="none,median,hyperband")
    args = parser.parse_args()

    frame = generate_churn(args.rows, seed=0)
    spark = get_spark(f"local[{args.parallelism}]")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        raw = yaml.safe_load((REPO / "examples" / "churn.yaml").read_text())
        raw.pop("register")  # no registry: only the sweep is measured
        base = validate_spec(raw).with_overrides(
            **{
                "models": BOOSTING,
                "search.n_trials": args.n_trials,
                "search.parallelism": args.parallelism,
                "tracking.uri": f"sqlite:///{Path(tmp) / 'mlflow.db'}",
                "tracking.log_models": False,
                "tracking.autolog": False,
            }
        )
        # Warm up the Python workers (imports) so the first measured sweep does not pay for them.
        run_sweep(base.with_overrides(**{"search.n_trials": args.parallelism}), data=frame, spark=spark)
        for algorithm in args.algorithms.split(","):
            for pruner in args.pruners.split(","):
                spec = base.with_overrides(**{"search.algorithm": algorithm, "search.pruner": pruner})
                t0 = time.perf_counter()
                result = run_sweep(spec, data=frame, spark=spark)
                wall = time.perf_counter() - t0
                pruned = sum(t.state is TrialState.PRUNED for t in result.trials)
                fit = sum(t.fit_time for t in result.trials)
                best = result.best.value if result.best else float("nan")
                rows.append((algorithm, pruner, wall, fit, best, pruned, len(result.trials)))

    print(f"\nDemo sweep, boosting families, {args.rows} rows, {args.n_trials} trials, parallelism {args.parallelism}")
    print(f"{'algorithm':<14} {'pruner':<10} {'wall s':>7} {'fit s':>7} {'best auc':>9} {'pruned':>7} {'vs none':>8}")
    for algorithm, pruner, wall, fit, best, pruned, n in rows:
        baseline = next(r for r in rows if r[0] == algorithm and r[1] == "none")
        ratio = wall / baseline[2]
        print(
            f"{algorithm:<14} {pruner:<10} {wall:>7.1f} {fit:>7.1f} {best:>9.5f} {pruned:>3}/{n:<3} {ratio:>7.2f}x"
            f"{'  equal best' if abs(best - baseline[4]) < 1e-12 else f'  best {best - baseline[4]:+.5f}'}"
        )
    spark.stop()


if __name__ == "__main__":
    main()
