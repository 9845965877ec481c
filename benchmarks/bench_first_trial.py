"""Time to first trial: from starting ``sparksweep run`` (a new process) to its first trial starting, in parts.

The sweep runs as a real subprocess: ``python -c`` enters the CLI's ``run`` command after wrapping the engine's steps
with timers (nothing in sparksweep is changed for this). Each step reports when it ended, measured from the moment
this script started the process, so the parts add up to the whole:

* python + imports: the interpreter starts and imports sparksweep's CLI;
* MLflow store open: the tracking store is opened (a new SQLite store is created and migrated);
* data load: the table is read, validated and split;
* Spark start: the SparkSession starts (the JVM, the executors);
* executor: the executor checks its slots and that the workers import sparksweep;
* space/searcher: the search space is built and the search algorithm created;
* parent run: the sweep's MLflow run is created with its settings and the sweep file;
* first dispatch: the first trial is proposed and handed to the executor;
* first trial starts: the first trial reaches a worker (the pool sends it to a slot; for the job executor this is
  when its Spark job is submitted).

The baseline in the ratio line is the part no sweep tool can avoid here: starting Python and Spark.
Run: ``python benchmarks/bench_first_trial.py [--executor spark-pool] [--rows 20000] [--repeats 2]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

PROBE = textwrap.dedent(
    """
    import json, sys, time
    T0 = float(sys.argv[1])
    OUT = open(sys.argv[2], "a")

    def mark(name):
        OUT.write(json.dumps([name, time.time() - T0]) + "\\n")
        OUT.flush()

    from sparksweep import cli
    mark("python + imports")
    import sparksweep.search.engine as engine
    import sparksweep.search.executors._pool as pool
    import sparksweep.search.executors._spark as spark_mod

    def after(owner, name, label):
        original = getattr(owner, name)

        def wrapped(*args, **kwargs):
            try:
                return original(*args, **kwargs)
            finally:
                mark(label)

        setattr(owner, name, wrapped)

    def first(owner, name, label):
        original = getattr(owner, name)
        seen = []

        def wrapped(*args, **kwargs):
            if not seen:
                seen.append(True)
                mark(label)
            return original(*args, **kwargs)

        setattr(owner, name, wrapped)

    after(engine.SweepTracker, "__init__", "MLflow store open")
    after(engine, "prepare_dataset", "data load")
    after(engine, "get_spark", "Spark start")
    after(engine, "_make_executor", "executor")
    after(engine, "make_searcher", "space/searcher")
    after(engine.SweepTracker, "start", "parent run")
    first(engine._Loop, "_dispatch", "first dispatch")
    original_send = pool._send
    sent = []

    def send(sock, message):
        if message[0] == "trial" and not sent:
            sent.append(True)
            mark("first trial starts")
        return original_send(sock, message)

    pool._send = send
    first(spark_mod.SparkExecutor, "_run_job", "first trial starts")
    try:
        cli.main(sys.argv[3:], standalone_mode=False)
    finally:
        mark("sweep done")
    """
)
PARTS = [
    "python + imports",
    "MLflow store open",
    "data load",
    "Spark start",
    "executor",
    "space/searcher",
    "parent run",
    "first dispatch",
    "first trial starts",
]


def _sweep_file(folder: Path, data: Path, uri: str, executor: str, n_trials: int) -> Path:
    import yaml

    spec = {
        "experiment": "first-trial",
        "data": {"path": str(data), "target": "label", "drop": ["user_id", "feature_date"]},
        "models": ["sklearn.logistic_regression"],
        "search": {"n_trials": n_trials, "parallelism": 2, "seed": 0, "executor": executor},
        "spark": {"master": "local[2]"},
        "tracking": {"uri": uri, "log_models": False},
    }
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _one(folder: Path, sweep: Path) -> dict[str, float]:
    marks = folder / f"marks-{time.time_ns()}.jsonl"
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    t0 = time.time()
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, repr(t0), str(marks), "run", str(sweep)],
        cwd=folder,
        env=env,
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    if proc.returncode != 0:
        raise SystemExit(f"the sweep failed:\n{proc.stderr.decode()[-3000:]}")
    seen: dict[str, float] = {}
    for line in marks.read_text().splitlines():
        name, at = json.loads(line)
        seen.setdefault(name, at)  # the first time each step ended
    return seen


def main() -> None:
    from sparksweep.datasets import generate_churn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executor", default="spark-pool", choices=["spark-pool", "spark"])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--n-trials", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="Runs, each against a new store; medians printed.")
    args = parser.parse_args()

    runs = []
    with tempfile.TemporaryDirectory(prefix="sparksweep-first-trial-") as tmp:
        folder = Path(tmp)
        data = folder / "users.parquet"
        generate_churn(args.rows, seed=0).to_parquet(data, index=False)
        for i in range(args.repeats):
            uri = f"sqlite:///{folder / f'mlflow-{i}.db'}"  # a new store each time, as a first sweep meets it
            runs.append(_one(folder, _sweep_file(folder, data, uri, args.executor, args.n_trials)))

    def median(name: str) -> float:
        values = sorted(r[name] for r in runs if name in r)
        return values[len(values) // 2] if values else float("nan")

    print(
        f"Time to first trial of `sparksweep run` ({args.executor}, {args.rows} rows, local[2]), median of "
        f"{args.repeats}; the steps in the order they ended"
    )
    print(f"{'step':<22}{'ended at s':>12}{'took s':>9}")
    ordered = sorted(PARTS, key=median)
    previous = 0.0
    for name in ordered:
        at = median(name)
        print(f"{name:<22}{at:>12.2f}{at - previous:>9.2f}")
        previous = max(previous, at)
    total = median("first trial starts")
    floor = median("python + imports") + (median("Spark start") - median("data load"))
    print(f"{'sweep done':<22}{median('sweep done'):>12.2f}")
    print(
        f"ratio: first trial at {total:.2f}s = {total / floor:.2f}x the unavoidable start (python + imports and "
        f"Spark start: {floor:.2f}s); sparksweep's own share before the first trial {total - floor:.2f}s"
    )


if __name__ == "__main__":
    main()
