"""Each search algorithm's best value on the demo sweep at an equal budget.

The demo sweep (examples/churn.yaml: its five families, the churn table) runs once per algorithm on local Spark
with the same seed, budget and parallelism. Algorithms that cannot search this space (CMA-ES: several families)
or that miss a package (GP: PyTorch) are listed with the reason.

Run: ``python benchmarks/bench_algorithms.py [--rows 10000] [--n-trials 16] [--parallelism 2]`` (under the heavy
lock).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml

from sparksweep._spark import get_spark
from sparksweep.datasets import generate_churn
from sparksweep.errors import SparkSweepError
from sparksweep.search import ALGORITHMS
from sparksweep.spec import validate_spec
from sparksweep.sweep import run_sweep

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--n-trials", type=int, default=16)
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    frame = generate_churn(args.rows, seed=0)
    spark = get_spark(f"local[{args.parallelism}]")
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        raw = yaml.safe_load((REPO / "examples" / "churn.yaml").read_text())
        raw.pop("register")
        base = validate_spec(raw).with_overrides(
            **{
                "search.n_trials": args.n_trials,
                "search.parallelism": args.parallelism,
                "search.seed": args.seed,
                "tracking.uri": f"sqlite:///{Path(tmp) / 'mlflow.db'}",
                "tracking.log_models": False,
                "tracking.autolog": False,
            }
        )
        run_sweep(base.with_overrides(**{"search.n_trials": args.parallelism}), data=frame, spark=spark)  # warm-up
        for name in sorted(ALGORITHMS):
            t0 = time.perf_counter()
            try:
                result = run_sweep(base.with_overrides(**{"search.algorithm": name}), data=frame, spark=spark)
            except SparkSweepError as exc:
                rows.append((name, f"n/a: {str(exc).splitlines()[0][:90]}"))
                continue
            wall = time.perf_counter() - t0
            best = result.best
            text = "no trial completed" if best is None else f"{best.value:.5f}  {best.family:<30} {wall:6.1f}s"
            rows.append((name, text))

    print(
        f"\nDemo sweep, 5 families, {args.rows} rows, {args.n_trials} trials, parallelism {args.parallelism}, "
        f"seed {args.seed}"
    )
    print(f"{'algorithm':<16} best auc_roc  {'best family':<30} wall")
    for name, text in rows:
        print(f"{name:<16} {text}")
    spark.stop()


if __name__ == "__main__":
    main()
