"""Wall time that pruning saves on the demo sweep, at an equal best value.

The demo sweep (examples/churn.yaml: its boosting families, the churn table) runs on local Spark with the same seed
and budget, once without pruning and once per pruner, ``--repeat`` times in interleaved order (so a burst of load
on the machine hits every configuration alike). With ``optuna.random`` the proposals do not depend on what was
pruned, so the sweeps see the same trials and the best value stays equal unless the pruner stopped the best trial;
with ``optuna.tpe`` pruning also changes what is proposed next, so the best value may differ either way.

Columns: the median wall time of the sweep and its range over the repeats, the trials' summed fit time (median),
the best validation values seen, the trials pruned (median; per family hgb/xgb/lgb in the first repeat), and the
ratio of median wall times against the sweep without pruning measured in the same run. The best values are put
beside the standard error of an AUC on the validation rows (Hanley & McNeil), the scale of noise between two
models' validation scores.

Run: ``python benchmarks/bench_pruning.py [--rows 20000] [--n-trials 16] [--parallelism 2] [--repeat 3]`` (under
the heavy lock).
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

from sparksweep._spark import get_spark
from sparksweep.data import prepare_dataset
from sparksweep.datasets import generate_churn
from sparksweep.spec import validate_spec
from sparksweep.sweep import run_sweep
from sparksweep.trial import TrialState

REPO = Path(__file__).resolve().parents[1]
BOOSTING = ["sklearn.hist_gradient_boosting", "xgboost", "lightgbm"]


def _auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """Hanley & McNeil (1982), the standard error of an AUC estimated on these many positives and negatives."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)) / (
        positives * negatives
    )
    return math.sqrt(var)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--n-trials", type=int, default=16)
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--algorithms", default="optuna.random,optuna.tpe")
    parser.add_argument("--pruners", default="none,median,successive_halving,hyperband")
    args = parser.parse_args()

    frame = generate_churn(args.rows, seed=0)
    spark = get_spark(f"local[{args.parallelism}]")
    cells = [(a, p) for a in args.algorithms.split(",") for p in args.pruners.split(",")]
    runs: dict[tuple[str, str], list[tuple[float, float, float, int, str]]] = defaultdict(list)
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
        y_valid = prepare_dataset(frame, base.data, base.task).training.y_valid
        # Warm up the Python workers (imports) so the first measured sweep does not pay for them.
        run_sweep(base.with_overrides(**{"search.n_trials": args.parallelism}), data=frame, spark=spark)
        for _ in range(args.repeat):
            for algorithm, pruner in cells:
                spec = base.with_overrides(**{"search.algorithm": algorithm, "search.pruner": pruner})
                t0 = time.perf_counter()
                result = run_sweep(spec, data=frame, spark=spark)
                wall = time.perf_counter() - t0
                pruned = [t for t in result.trials if t.state is TrialState.PRUNED]
                by_family = "/".join(str(sum(t.family == f for t in pruned)) for f in BOOSTING)
                fit = sum(t.fit_time for t in result.trials)
                best = result.best.value if result.best else float("nan")
                runs[(algorithm, pruner)].append((wall, fit, best, len(pruned), by_family))

    print(
        f"\nDemo sweep, boosting families, {args.rows} rows, {args.n_trials} trials, parallelism {args.parallelism}, "
        f"{args.repeat} repeats"
    )
    print(
        f"{'algorithm':<14} {'pruner':<18} {'wall s':>6} {'range':>11} {'fit s':>6} {'best auc (each repeat)':<26} "
        f"{'pruned':>6} {'hgb/xgb/lgb':>11} {'vs none':>7}"
    )
    for algorithm, pruner in cells:
        cell = runs[(algorithm, pruner)]
        wall = statistics.median(r[0] for r in cell)
        baseline = statistics.median(r[0] for r in runs[(algorithm, "none")])
        bests = " ".join(f"{r[2]:.5f}" for r in cell)
        span = f"{min(r[0] for r in cell):.1f}-{max(r[0] for r in cell):.1f}"
        print(
            f"{algorithm:<14} {pruner:<18} {wall:>6.1f} {span:>11} {statistics.median(r[1] for r in cell):>6.1f} "
            f"{bests:<26} {statistics.median(r[3] for r in cell):>6.0f} {cell[0][4]:>11} {wall / baseline:>6.2f}x"
        )
    best = max(r[2] for cell in runs.values() for r in cell)
    positives = int((y_valid == 1).sum())
    se = _auc_standard_error(best, positives, len(y_valid) - positives)
    print(f"Standard error of an AUC of {best:.4f} on these {len(y_valid)} validation rows: {se:.5f}")
    spark.stop()


if __name__ == "__main__":
    main()
