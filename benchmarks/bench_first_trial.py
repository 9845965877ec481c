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

Each repeat runs the sweep twice, in the engine's two set-up modes: ``serial`` (Spark, the JVM and the executor's
check start after the store opens and the data loads, one step after another, as before) and ``background`` (they
start in a thread of their own meanwhile: the default). The ratio line compares the two.

``--timeout SECONDS`` measures the other end of a sweep: a sweep of real model families (random forest, LightGBM)
with ``search.timeout`` and a refitted, registered champion, and how far past its budget (counted from the sweep's
start) it ends, in parts: the trials cancelled, the loop returned, the executor shut down, the champion registered.
``serial`` there also means the engine as before: the timeout counted from the first trial's dispatch, the cancelled
trials waited for until their tasks report back, the executor shut down before the champion is registered (only
Spark's 200 ms kill timeout for a cancelled task's Python worker, set when the session starts, is in both modes).

Run: ``python benchmarks/bench_first_trial.py [--executor spark-pool] [--rows 20000] [--repeats 2] [--timeout 20]``
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
from typing import Any

PROBE = textwrap.dedent(
    """
    import json, sys, time
    T0 = float(sys.argv[1])
    OUT = open(sys.argv[2], "a")
    MODE = sys.argv[3]

    def mark(name):
        OUT.write(json.dumps([name, time.time() - T0]) + "\\n")
        OUT.flush()

    from sparksweep import cli
    mark("python + imports")
    import sparksweep.sweep._api as api
    import sparksweep.sweep._budget as budget
    import sparksweep.sweep._loop as loop
    import sparksweep.sweep._plan as plan
    import sparksweep.sweep._study as study
    import sparksweep.executors._pool as pool
    import sparksweep.executors._pool._wire as wire
    import sparksweep.executors._spark as spark_mod

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

    if MODE == "serial":  # the engine as it was: set-up one step after another, the timeout from the loop's start,
        # cancelled trials waited for, the executor shut down before the champion is registered
        study.BACKGROUND_START = False
        budget.STOP_GRACE = 1e9
        loop_init = loop.Loop.__init__

        def init(self, *args, **kwargs):
            kwargs["started"] = time.monotonic()
            loop_init(self, *args, **kwargs)

        loop.Loop.__init__ = init

        class Shutdown:
            def __init__(self, runner):
                runner.shutdown()

            def wait(self, error=None):
                pass

        study.ExecutorShutdown = Shutdown
    first(api, "_sweep", "sweep start")
    first(loop.Loop, "_cancel_running", "trials cancelled")
    after(loop.Loop, "run", "loop returned")
    after(pool.SparkPoolExecutor, "shutdown", "executor shut down")
    after(spark_mod.SparkExecutor, "shutdown", "executor shut down")
    after(study, "conclude", "champion registered")
    after(study.SweepTracker, "__init__", "MLflow store open")
    after(plan, "prepare_dataset", "data load")
    after(api, "get_spark", "Spark start")
    after(api, "_new_executor", "executor")
    after(plan, "make_searcher", "space/searcher")
    after(study.SweepTracker, "start", "parent run")
    first(loop.Loop, "_dispatch", "first dispatch")
    original_send = wire.Channel.send
    sent = []

    def send(channel, message):
        if message[0] == "trial" and not sent:
            sent.append(True)
            mark("first trial starts")
        return original_send(channel, message)

    wire.Channel.send = send
    first(spark_mod.SparkExecutor, "_run_job", "first trial starts")
    try:
        cli.main(sys.argv[4:], standalone_mode=False)
    finally:
        mark("sweep done")
    """
)
PARTS = [
    "python + imports",
    "sweep start",
    "MLflow store open",
    "data load",
    "Spark start",
    "executor",
    "space/searcher",
    "parent run",
    "first dispatch",
    "first trial starts",
]


STOP_PARTS = ["trials cancelled", "loop returned", "executor shut down", "champion registered", "sweep done"]
MODES = ("serial", "background")


def _sweep_file(folder: Path, data: Path, uri: str, executor: str, n_trials: int, timeout: float | None) -> Path:
    import yaml

    spec: dict[str, Any] = {
        "experiment": "first-trial",
        "data": {"path": str(data), "target": "label", "drop": ["user_id", "feature_date"]},
        "models": ["sklearn.logistic_regression"],
        "search": {"n_trials": n_trials, "parallelism": 2, "seed": 0, "executor": executor},
        "spark": {"master": "local[2]"},
        "tracking": {"uri": uri, "log_models": False},
    }
    if timeout is not None:  # trials of a few seconds, surely in flight when the budget runs out
        spec["models"] = ["sklearn.random_forest", "lightgbm"]
        spec["search"].update(n_trials=10_000, timeout=timeout)
        spec["tracking"]["autolog"] = False
        spec["register"] = {"name": "first-trial", "refit": True, "force": True}
    path = folder / f"sweep-{time.time_ns()}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _one(folder: Path, sweep: Path, mode: str) -> dict[str, float]:
    marks = folder / f"marks-{time.time_ns()}.jsonl"
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    t0 = time.time()
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, repr(t0), str(marks), mode, "run", str(sweep)],
        cwd=folder,
        env=env,
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    exited = time.time() - t0
    if proc.returncode != 0:
        raise SystemExit(f"the sweep failed:\n{proc.stderr.decode()[-3000:]}")
    seen: dict[str, float] = {"process exit": exited}
    for line in marks.read_text().splitlines():
        name, at = json.loads(line)
        if name == "executor shut down":
            seen[name] = at  # the outermost shutdown (the pool's calls the job executor's) ends last
        else:
            seen.setdefault(name, at)  # the first time each step ended
    return seen


def _median(runs: list[dict[str, float]], name: str) -> float:
    values = sorted(r[name] for r in runs if name in r)
    return values[len(values) // 2] if values else float("nan")


def _first_trial_table(runs: dict[str, list[dict[str, float]]]) -> None:
    print(f"{'step (ended at, s)':<22}" + "".join(f"{m:>12}" for m in MODES) + f"{'took (bg)':>11}")
    ordered = sorted(PARTS, key=lambda name: _median(runs["background"], name))
    previous = 0.0
    for name in ordered:
        at = _median(runs["background"], name)
        print(f"{name:<22}" + "".join(f"{_median(runs[m], name):>12.2f}" for m in MODES) + f"{at - previous:>11.2f}")
        previous = max(previous, at)
    print(f"{'sweep done':<22}" + "".join(f"{_median(runs[m], 'sweep done'):>12.2f}" for m in MODES))
    first = {m: _median(runs[m], "first trial starts") for m in MODES}
    b = runs["background"]
    floor = _median(b, "python + imports") + (_median(b, "Spark start") - _median(b, "sweep start"))
    print(
        f"ratio: first trial at {first['background']:.2f}s with Spark started in the background vs "
        f"{first['serial']:.2f}s serial = {first['background'] / first['serial']:.2f}x; "
        f"{first['background'] / floor:.2f}x the unavoidable start (python + imports and Spark start: {floor:.2f}s)"
    )


def _stop_table(runs: dict[str, list[dict[str, float]]], timeout: float) -> None:
    print(f"{'step (s past the budget)':<26}" + "".join(f"{m:>12}" for m in MODES))
    deadline = {m: _median(runs[m], "sweep start") + timeout for m in MODES}
    for name in [*STOP_PARTS, "process exit"]:
        print(f"{name:<26}" + "".join(f"{_median(runs[m], name) - deadline[m]:>+12.2f}" for m in MODES))
    over = {m: _median(runs[m], "sweep done") - deadline[m] for m in MODES}
    print(
        f"ratio: a {timeout:g}s sweep ends {over['background']:+.2f}s past its budget (was {over['serial']:+.2f}s): "
        f"wall {timeout + over['background']:.1f}s vs {timeout + over['serial']:.1f}s = "
        f"{(timeout + over['background']) / (timeout + over['serial']):.2f}x"
    )


def main() -> None:
    from sparksweep.datasets import generate_churn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executor", default="spark-pool", choices=["spark-pool", "spark"])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--n-trials", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="Runs per mode, each against a new store; medians.")
    parser.add_argument("--timeout", type=float, default=None, help="Measure a timed sweep's overshoot instead.")
    args = parser.parse_args()

    runs: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
    with tempfile.TemporaryDirectory(prefix="sparksweep-first-trial-") as tmp:
        folder = Path(tmp)
        data = folder / "users.parquet"
        generate_churn(args.rows, seed=0).to_parquet(data, index=False)
        for i in range(args.repeats):
            for mode in MODES:  # interleaved, so a busy moment of the machine hits both
                uri = f"sqlite:///{folder / f'mlflow-{mode}-{i}.db'}"  # a new store each time, as a first sweep meets
                sweep = _sweep_file(folder, data, uri, args.executor, args.n_trials, args.timeout)
                runs[mode].append(_one(folder, sweep, mode))

    print(
        f"`sparksweep run` ({args.executor}, {args.rows} rows, local[2]), median of {args.repeats} per mode; "
        "serial: set-up one step after another; background: Spark starts while the store opens and the data loads"
    )
    _first_trial_table(runs)
    if args.timeout is not None:
        print(f"\nsearch.timeout {args.timeout:g}s: where the sweep's end falls against its budget")
        _stop_table(runs, args.timeout)


if __name__ == "__main__":
    main()
