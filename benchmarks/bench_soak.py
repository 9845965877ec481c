"""Soak: thousands of trivial trials through the ``spark-pool`` executor while trials raise and workers die.

Trial ``n`` raises when ``n % 20 == 3`` (1 in 20) and kills its own Python worker with SIGKILL when
``n % 200 == 11`` (1 in 200); every other trial returns a value at once. After the sweep, the store is read back
through MLflow: every trial the sweep reports has exactly one child run with its number, in the state it should have
(a value: FINISHED with the metric; raised: FAILED with ``error.txt`` mentioned in its tag; killed: not FINISHED),
and no run is left RUNNING. The driver's (this Python process's) resident memory, open file descriptors and threads
are sampled as trials finish (at ``--checkpoints``, by default 500 and the last trial).

Run: ``python benchmarks/bench_soak.py [--trials 2000] [--checkpoints 500 2000] [--master local[2]]``; a shorter
run: ``--trials 400 --checkpoints 100 400``. It exits 1 when a trial is lost or recorded twice.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

RAISE_EVERY, RAISE_AT = 20, 3
KILL_EVERY, KILL_AT = 200, 11


def objective(params: dict[str, float], trial: Any) -> float:
    """The soak's trial: raises, kills its worker, or returns at once, by trial number."""
    import signal

    if trial.number % KILL_EVERY == KILL_AT:
        os.kill(os.getpid(), signal.SIGKILL)
    if trial.number % RAISE_EVERY == RAISE_AT:
        raise RuntimeError(f"deliberate failure of trial {trial.number}")
    return (params["x"] - 0.3) ** 2


def expected(number: int) -> str:
    if number % KILL_EVERY == KILL_AT:
        return "killed"
    if number % RAISE_EVERY == RAISE_AT:
        return "raised"
    return "value"


def _status_field(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    return -1


def sample() -> dict[str, float]:
    """This process's resident memory (MB), open file descriptors and threads (OS threads, Python threads)."""
    return {
        "rss_mb": _status_field("VmRSS") / 1024,
        "fds": len(os.listdir("/proc/self/fd")),
        "os_threads": _status_field("Threads"),
        "py_threads": threading.active_count(),
    }


def _audit(uri: str, experiment: str, result: Any) -> tuple[list[str], int]:
    """What the store holds against what the sweep reported: a list of problems (empty when all is accounted), and
    how many trials that computed a value are not FINISHED with it in the store (lost with a worker that died)."""
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs(
            [exp.experiment_id],
            f"tags.`mlflow.parentRunId` = '{result.sweep_run_id}'",
            max_results=5000,
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            break
    problems = []
    numbers = Counter(int(r.data.tags.get("sparksweep.trial_number", -1)) for r in runs)
    reported = Counter(t.number for t in result.trials)
    twice = sorted(n for n, c in numbers.items() if c > 1)
    if twice:
        problems.append(f"{len(twice)} trial number(s) with more than one run: {twice[:10]}")
    missing = sorted(set(reported) - set(numbers))
    if missing:
        problems.append(f"{len(missing)} reported trial(s) with no run: {missing[:10]}")
    extra = sorted(set(numbers) - set(reported))
    if extra:
        problems.append(f"{len(extra)} run(s) for trials the sweep did not report: {extra[:10]}")
    by_number = {int(r.data.tags.get("sparksweep.trial_number", -1)): r for r in runs}
    wrong = []
    for n in reported:
        run = by_number.get(n)
        if run is None:
            continue
        want, status = expected(n), run.info.status
        ok = (
            (want == "value" and status == "FINISHED" and "value" in run.data.metrics)
            or (
                want == "raised"
                and status == "FAILED"
                and "deliberate failure" in run.data.tags.get("sparksweep.error", "")
            )
            or (want == "killed" and status in {"FAILED", "KILLED"})
        )
        if not ok:
            error = run.data.tags.get("sparksweep.error", "").strip().splitlines()
            wrong.append((n, want, status, error[-1][:300] if error else ""))
    if wrong:
        problems.append(f"{len(wrong)} run(s) in the wrong state (number, expected, status, error): {wrong[:10]}")
    running = [r.info.run_id for r in runs if r.info.status == "RUNNING"]
    if running:
        problems.append(f"{len(running)} run(s) left RUNNING")
    return problems, sum(1 for _, want, _, _ in wrong if want == "value")


def main() -> int:
    from sparksweep import Float, optimize
    from sparksweep._spark import get_spark
    from sparksweep.executors import SparkPoolExecutor

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--checkpoints", type=int, nargs="+", default=None, help="default: 500 (or trials/4), trials")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--algorithm", default="optuna.random")
    args = parser.parse_args()
    checkpoints = sorted(set(args.checkpoints or [min(500, args.trials // 4), args.trials]))

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    space = {"x": Float(0.0, 1.0)}
    samples: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="sparksweep-soak-") as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        spark = get_spark(args.master)
        with SparkPoolExecutor(spark, 2) as warm:  # imports and the slots' first start are not measured
            optimize(lambda p, t: 0.0, space, n_trials=4, executor=warm, tracking_uri=uri, experiment="warm-up")
        samples[0] = sample()
        finished = [0]

        def on_trial(_: Any, __: Any) -> None:
            finished[0] += 1
            if finished[0] in checkpoints:
                samples[finished[0]] = sample()

        t0 = time.perf_counter()
        with SparkPoolExecutor(spark, 2) as executor:
            result = optimize(
                objective,
                space,
                n_trials=args.trials,
                algorithm=args.algorithm,
                seed=0,
                executor=executor,
                tracking_uri=uri,
                experiment="soak",
                on_trial=on_trial,
            )
        wall = time.perf_counter() - t0
        samples.setdefault(finished[0], sample())
        samples[-1] = sample()  # after the pool is shut down
        problems, values_lost = _audit(uri, "soak", result)
        spark.stop()

    states = Counter(t.state.value for t in result.trials)
    kinds = Counter(expected(t.number) for t in result.trials)
    print(f"{len(result.trials)} trials in {wall:.1f}s ({len(result.trials) / wall:.1f}/s), stop: {result.stop_reason}")
    print(f"  states: {dict(states)}; by design: {dict(kinds)}")
    print(f"  {'after trials':>12} {'RSS MB':>8} {'fds':>5} {'OS threads':>10} {'Py threads':>10}")
    for at in sorted(k for k in samples if k >= 0):
        s = samples[at]
        label = "warm-up" if at == 0 else str(at)
        print(f"  {label:>12} {s['rss_mb']:>8.1f} {s['fds']:>5.0f} {s['os_threads']:>10.0f} {s['py_threads']:>10.0f}")
    s = samples[-1]
    print(f"  {'shut down':>12} {s['rss_mb']:>8.1f} {s['fds']:>5.0f} {s['os_threads']:>10.0f} {s['py_threads']:>10.0f}")
    print(f"  trials that computed a value but are not FINISHED with it in the store: {values_lost}")
    for p in problems:
        print(f"  LOST OR DUPLICATED: {p}")
    print("  every trial accounted for exactly once" if not problems else f"  {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
