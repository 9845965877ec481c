"""Per-trial overhead of cluster mode (Spark standalone + MLflow server) against ``local[2]``, measured in one run.

Starts a local standalone cluster (one master, two 1-core workers) and an MLflow server with
``scripts/local_cluster.py``, then runs the same sweep (a cheap logistic regression, models logged) three ways, each
after a warm-up sweep on the same session, with 2 trials in flight:

* ``local[2] + sqlite``:  the laptop default, the baseline;
* ``local[2] + server``:  local Spark, tracking over HTTP (what the server alone costs);
* ``cluster + server``:   executors on the standalone workers, tracking over HTTP.

Columns: ``wall/trial`` is the sweep's wall time x slots / trials (one slot's time per trial); ``in worker`` is the
mean time ``run_trial`` took (fit, metric, logging); ``fit`` the mean fit alone; ``dispatch`` = wall/trial - in
worker (Spark job, task and result transport, driver bookkeeping); ``overhead`` = wall/trial - fit. ``start`` is the
session start plus the executor check (slots, import check), paid once per sweep.

Run: ``python benchmarks/bench_cluster.py [--trials 16] [--rows 5000]`` (under the heavy lock on shared machines).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparksweep._spark import get_spark
from sparksweep.datasets import generate_churn
from sparksweep.executors import SparkExecutor
from sparksweep.spec import SweepSpec
from sparksweep.sweep import run_sweep

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "local_cluster.py"


@dataclass(frozen=True)
class Row:
    mode: str
    start: float
    wall_per_trial: float
    in_worker: float
    fit: float

    @property
    def dispatch(self) -> float:
        return self.wall_per_trial - self.in_worker

    @property
    def overhead(self) -> float:
        return self.wall_per_trial - self.fit


def _spec(uri: str, trials: int, experiment: str) -> SweepSpec:
    return SweepSpec.model_validate(
        {
            "experiment": experiment,
            "data": {"path": "-.parquet", "target": "label", "drop": ["user_id", "feature_date"]},
            "task": "binary",
            "metric": "auc_roc",
            "search": {"algorithm": "optuna.random", "n_trials": trials, "parallelism": 2, "seed": 0},
            "models": ["sklearn.logistic_regression"],
            "tracking": {"uri": uri, "autolog": False, "log_models": True},
        }
    )


def _measure(mode: str, master: str, uri: str, data: Any, trials: int) -> Row:
    t0 = time.perf_counter()
    spark = get_spark(master)
    executor = SparkExecutor(spark, parallelism=2)
    start = time.perf_counter() - t0
    try:
        run_sweep(_spec(uri, 2, f"warmup-{mode}"), data=data, executor=executor)  # Python workers, imports
        t0 = time.perf_counter()
        result = run_sweep(_spec(uri, trials, f"bench-{mode}"), data=data, executor=executor)
        wall = time.perf_counter() - t0
    finally:
        executor.shutdown()
        spark.stop()
    done = [t for t in result.trials if t.value is not None]
    if len(done) != trials:
        raise SystemExit(f"{mode}: {trials - len(done)} trial(s) failed: {[t.error for t in result.trials]}")
    return Row(
        mode=mode,
        start=start,
        wall_per_trial=wall * executor.slots / trials,
        in_worker=statistics.mean(t.duration for t in done),
        fit=statistics.mean(t.fit_time for t in done),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--rows", type=int, default=5000)
    args = parser.parse_args()
    data = generate_churn(args.rows, seed=0)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="sparksweep-bench-cluster-") as tmp:
        cluster_dir = Path(tmp) / "cluster"
        try:
            up = subprocess.run(
                [sys.executable, str(SCRIPT), "up", "--dir", str(cluster_dir), "--json"],
                capture_output=True,
                text=True,
                check=False,
            )
            if up.returncode != 0:
                raise SystemExit(f"the cluster did not start:\n{up.stderr}")
            state = json.loads(up.stdout)
            sqlite = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
            rows.append(_measure("local[2] + sqlite", "local[2]", sqlite, data, args.trials))
            rows.append(_measure("local[2] + server", "local[2]", state["tracking_uri"], data, args.trials))
            rows.append(_measure("cluster + server", state["spark_master"], state["tracking_uri"], data, args.trials))
        finally:
            subprocess.run([sys.executable, str(SCRIPT), "down", "--dir", str(cluster_dir)], check=False)

    print(f"\n{args.trials} trials of sklearn.logistic_regression on {args.rows} rows, 2 in flight; seconds per trial")
    print(f"{'mode':<20}{'start':>8}{'wall/trial':>12}{'in worker':>11}{'fit':>8}{'dispatch':>10}{'overhead':>10}")
    for r in rows:
        print(
            f"{r.mode:<20}{r.start:>8.1f}{r.wall_per_trial:>12.3f}{r.in_worker:>11.3f}{r.fit:>8.3f}"
            f"{r.dispatch:>10.3f}{r.overhead:>10.3f}"
        )
    base = rows[0]
    for r in rows[1:]:
        print(
            f"{r.mode} vs {base.mode}: overhead per trial {r.overhead / base.overhead:.2f}x "
            f"({r.overhead - base.overhead:+.3f}s), wall per trial {r.wall_per_trial / base.wall_per_trial:.2f}x"
        )


if __name__ == "__main__":
    main()
