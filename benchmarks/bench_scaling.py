"""Scaling: driver memory and per-trial engine overhead at 100, 1,000 and 5,000 trials of a trivial objective.

Each size is one ``optimize`` run (a child run per trial in a SQLite store) on the pool executor of one local[2]
Spark session. The driver's time is split, per trial, by wrapping the engine's own calls (nothing in sparksweep is
changed for this):

* searcher: the search algorithm's ``ask`` + ``tell`` (its cost grows with the history it models);
* engine: everything else the sweep loop does in the driver thread (tasks, dispatch, results, budgets, progress),
  i.e. the loop's busy time minus the searcher's; this share should stay flat as the sweep grows;
* waiting: the loop idle until a trial returns (the workers' time, not the driver's).

Driver RSS is this Python process's resident memory after each sweep (the JVM is a separate process).
Run: ``python benchmarks/bench_scaling.py [--sizes 100 1000 5000] [--algorithm optuna.random]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class _Clock:
    """Per-trial driver time, split between the searcher, waiting for workers and the rest of the loop."""

    def __init__(self) -> None:
        self.searcher = 0.0
        self.waiting = 0.0

    def timed(self, fn: Callable[..., Any], into: str) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - t0
                if into == "searcher":
                    self.searcher += elapsed
                else:
                    self.waiting += elapsed

        return wrapped


def main() -> None:
    import sparksweep.sweep._loop as engine
    from sparksweep import Float, optimize
    from sparksweep._spark import get_spark
    from sparksweep.executors import SparkPoolExecutor
    from sparksweep.search import BaseSearcher
    from sparksweep.tracking import prepare_store

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--algorithm", default="optuna.random", help="optuna.random or optuna.tpe (slower)")
    args = parser.parse_args()

    clock = _Clock()
    engine.wait = clock.timed(engine.wait, "waiting")  # type: ignore[attr-defined]
    for cls in _searcher_classes(BaseSearcher):
        if "ask" not in vars(cls):
            continue
        cls.ask = clock.timed(cls.ask, "searcher")  # type: ignore[method-assign]
        cls.tell = clock.timed(cls.tell, "searcher")  # type: ignore[method-assign]

    def objective(params: dict[str, float], _: Any) -> float:
        return (params["x"] - 0.3) ** 2 + (params["lr"] - 0.1) ** 2

    space = {"x": Float(0.0, 1.0), "lr": Float(0.01, 0.3, log=True)}
    rows = []
    with tempfile.TemporaryDirectory(prefix="sparksweep-scaling-") as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        prepare_store(uri)
        spark = get_spark("local[2]")
        spark.sparkContext.parallelize(range(2), 2).map(lambda x: x).collect()  # Spark's first job, not counted
        warm = SparkPoolExecutor(spark, 2)
        try:  # the first sweep of the process (imports, the slots' first start) is not one of the sizes
            optimize(objective, space, n_trials=4, executor=warm, tracking_uri=uri, experiment="warm-up")
        finally:
            warm.shutdown()
        rss0 = _rss_mb()
        for n in args.sizes:
            clock.searcher = 0.0
            clock.waiting = 0.0
            executor = SparkPoolExecutor(spark, 2)
            # Per finished trial (from one on_trial to the next): the searcher's time, and the loop's time outside
            # waiting and the searcher. The loop asks ahead (up to twice the slots in flight), so the searcher's
            # time is taken per interval rather than by pairing each ask with a tell.
            per_trial_search: list[float] = []
            engine_ms: list[float] = []
            marks = [time.perf_counter(), 0.0, 0.0]

            def on_trial(
                _: Any,
                __: Any,
                searched: list[float] = per_trial_search,
                engine_ms: list[float] = engine_ms,
                marks: list[float] = marks,
            ) -> None:
                now = time.perf_counter()
                search = clock.searcher - marks[2]
                searched.append(search)
                engine_ms.append(1000 * (now - marks[0] - (clock.waiting - marks[1]) - search))
                marks[:] = [now, clock.waiting, clock.searcher]

            t0 = time.perf_counter()
            try:
                optimize(
                    objective,
                    space,
                    n_trials=n,
                    algorithm=args.algorithm,
                    seed=0,
                    executor=executor,
                    tracking_uri=uri,
                    experiment=f"scaling-{n}",
                    on_trial=on_trial,
                )
            finally:
                executor.shutdown()
            wall = time.perf_counter() - t0
            k = max(1, min(100, n // 10))
            rows.append(
                (
                    n,
                    wall,
                    n / wall,
                    1000 * statistics.mean(per_trial_search[:k]),
                    1000 * statistics.mean(per_trial_search[-k:]),
                    statistics.median(engine_ms[:k]),
                    statistics.median(engine_ms[-k:]),
                    1000 * clock.waiting / n,
                    _rss_mb(),
                )
            )
            print(f"  {n} trials: {wall:.1f}s", flush=True)
        spark.stop()

    print(f"\nScaling of a trivial objective ({args.algorithm}, pool executor, local[2], SQLite store); ms per trial")
    print(
        f"{'trials':>7}{'wall s':>8}{'trials/s':>9}{'searcher first':>15}{'searcher last':>14}"
        f"{'engine first':>13}{'engine last':>12}{'waiting':>9}{'RSS MB':>8}"
    )
    for n, wall, rate, s_first, s_last, e_first, e_last, waiting, rss in rows:
        print(
            f"{n:>7}{wall:>8.1f}{rate:>9.1f}{s_first:>15.2f}{s_last:>14.2f}{e_first:>13.2f}{e_last:>12.2f}"
            f"{waiting:>9.2f}{rss:>8.0f}"
        )
    small, big = rows[0], rows[-1]
    print(
        f"ratio {big[0]} vs {small[0]} trials: engine ms/trial (last {min(100, big[0] // 10)}) "
        f"{big[6] / small[6]:.2f}x, searcher ms/trial {big[4] / small[4]:.2f}x, driver RSS "
        f"+{big[8] - rss0:.0f} MB over the warm-up's {rss0:.0f} MB"
    )


def _searcher_classes(base: type) -> list[type]:
    """Every loaded search algorithm class (Optuna's and Hyperopt's), so their ask/tell can be timed."""
    import sparksweep.search._hyperopt
    import sparksweep.search._optuna  # noqa: F401

    found, todo = [], list(base.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


if __name__ == "__main__":
    main()
