"""Trial throughput of sparksweep against its peers, on one local[2] Spark session, measured side by side.

The same objectives (a sleep of fixed length, a trivial arithmetic one, and a small real LightGBM fit) and the same
number of trials run through:

* sparksweep ``optimize`` on the pool executor (long-lived Spark tasks pulling trials; a child run per trial);
* sparksweep ``optimize`` on the job-per-trial executor (a child run per trial);
* hyperopt's ``SparkTrials`` (no tracking);
* MLflow's ``MlflowSparkStudy`` (``mlflow.pyspark.optuna``; its own MLflow storage);
* Optuna with ``n_jobs=2`` (threads in the driver, no Spark, no tracking);
* the floor: bare single-task Spark jobs from two driver threads (no search, no tracking).

Every runner's wall time counts its own per-sweep setup (for sparksweep: building the executor, opening the
experiment, the parent run, starting the pool's slots) and is also split: ``setup s`` is the time until its first
trial started (each trial appends its start time to a file), ``after setup`` the trials per second from then on.
Not counted for anyone: starting the Spark session, its first job, creating the MLflow store, and importing the
libraries in Spark's Python workers, MLflow's SQLAlchemy store among them (a warm-up job before each runner does
that; benchmark 3, ``bench_first_trial.py``, measures them). Not counted for sparksweep either: its check, once per
Spark application, that the executors can import it (one Spark job, done in the warm-up; its time is printed).
The warm-up ends with a full garbage collection in the driver, so no runner pays for the collection the others'
allocations have made due.

Efficiency = ideal wall (trials x trial length / 2 slots) / measured wall. Run:
``python benchmarks/bench_throughput.py [--sleep 1.0] [--n-sleep 20] [--n-trivial 40] [--n-lgbm 20]``
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

SLOTS = 2


def _objectives(sleep: float) -> dict[str, tuple[Callable[[float, float], float], float | None]]:
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(y))
    tr, va = idx[:400], idx[400:]

    def sleeper(x: float, _: float) -> float:
        time.sleep(sleep)
        return x

    def trivial(x: float, lr: float) -> float:
        return (x - 0.3) ** 2 + (lr - 0.1) ** 2

    def lgbm(x: float, lr: float) -> float:
        import lightgbm
        from sklearn.metrics import roc_auc_score

        model = lightgbm.LGBMClassifier(
            n_estimators=100, num_leaves=int(8 + x * 56), learning_rate=lr, n_jobs=1, verbose=-1
        )
        model.fit(X[tr], y[tr])
        return -float(roc_auc_score(y[va], model.predict_proba(X[va])[:, 1]))

    lgbm(0.5, 0.1)  # the process's first fit starts LightGBM's thread pool: not a trial's length
    lengths = []
    for _ in range(5):
        t0 = time.perf_counter()
        lgbm(0.5, 0.1)
        lengths.append(time.perf_counter() - t0)
    lgbm_length = statistics.median(lengths)
    return {"sleep": (sleeper, sleep), "trivial": (trivial, None), "lightgbm": (lgbm, lgbm_length)}


def _sparksweep(spark: Any, uri: str, executor_kind: str) -> Callable[[Callable[[float, float], float], int], None]:
    from sparksweep import Float, optimize
    from sparksweep.executors import SparkExecutor, SparkPoolExecutor

    def run(fn: Callable[[float, float], float], n: int) -> None:
        cls = SparkPoolExecutor if executor_kind == "pool" else SparkExecutor
        executor = cls(spark, SLOTS)
        try:
            result = optimize(
                lambda p, _t: fn(p["x"], p["lr"]),
                {"x": Float(0.0, 1.0), "lr": Float(0.01, 0.3, log=True)},
                n_trials=n,
                algorithm="optuna.random",
                seed=0,
                executor=executor,
                tracking_uri=uri,
                experiment=f"throughput-{executor_kind}",
            )
        finally:
            executor.shutdown()
        failed = [t for t in result.trials if t.value is None]
        if failed:
            raise SystemExit(f"sparksweep ({executor_kind}) had failed trials: {failed[0].error}")

    return run


def _spark_trials(spark: Any) -> Callable[[Callable[[float, float], float], int], None]:
    def run(fn: Callable[[float, float], float], n: int) -> None:
        import numpy as np
        from hyperopt import SparkTrials, fmin, hp, rand

        trials = SparkTrials(parallelism=SLOTS, spark_session=spark)
        fmin(
            lambda p: fn(p["x"], p["lr"]),
            {"x": hp.uniform("x", 0, 1), "lr": hp.loguniform("lr", np.log(0.01), np.log(0.3))},
            algo=rand.suggest,
            max_evals=n,
            trials=trials,
            show_progressbar=False,
            rstate=np.random.default_rng(0),
        )

    return run


def _mlflow_spark_study(uri: str) -> Callable[[Callable[[float, float], float], int], None]:
    def run(fn: Callable[[float, float], float], n: int) -> None:
        import optuna
        from mlflow import MlflowClient
        from mlflow.optuna.storage import MlflowStorage
        from mlflow.pyspark.optuna.study import MlflowSparkStudy

        client = MlflowClient(uri)
        name = f"mlflow-spark-study-{time.time_ns()}"
        experiment_id = client.create_experiment(name)
        study = MlflowSparkStudy(
            name,
            MlflowStorage(experiment_id=experiment_id),
            sampler=optuna.samplers.RandomSampler(seed=0),
            mlflow_tracking_uri=uri,
        )
        study.optimize(
            lambda t: fn(t.suggest_float("x", 0, 1), t.suggest_float("lr", 0.01, 0.3, log=True)),
            n_trials=n,
            n_jobs=SLOTS,
        )

    return run


def _optuna_threads(fn: Callable[[float, float], float], n: int) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(
        lambda t: fn(t.suggest_float("x", 0, 1), t.suggest_float("lr", 0.01, 0.3, log=True)), n_trials=n, n_jobs=SLOTS
    )


def _bare_spark(spark: Any) -> Callable[[Callable[[float, float], float], int], None]:
    def run(fn: Callable[[float, float], float], n: int) -> None:
        sc = spark.sparkContext

        def one(i: int) -> float:
            x = (i % 97) / 97
            return float(sc.parallelize([0], 1).map(lambda _: fn(x, 0.1)).collect()[0])

        with ThreadPoolExecutor(SLOTS) as pool:
            list(pool.map(one, range(n)))

    return run


def _stamped(fn: Callable[[float, float], float], path: str) -> Callable[[float, float], float]:
    """``fn`` that first appends the time it started to ``path`` (the runners' trials run on this machine)."""

    def stamped(x: float, lr: float) -> float:
        with open(path, "a") as fh:
            fh.write(f"{time.time()}\n")
        return fn(x, lr)

    return stamped


def _warm_workers(spark: Any) -> None:
    """Spark's first job, with every library the runners' trials import, in each Python worker (Spark reuses them)
    and in the driver."""

    def imports(_: int) -> int:
        import hyperopt  # noqa: F401
        import lightgbm  # noqa: F401
        import mlflow.store.tracking.sqlalchemy_store  # noqa: F401  (opening a SQLite store imports it: ~0.7 s)
        import optuna  # noqa: F401

        import sparksweep.worker  # noqa: F401

        return 0

    spark.sparkContext.parallelize(range(SLOTS), SLOTS).map(imports).collect()
    # and in this driver process (Optuna is imported on first use by sparksweep and by MlflowSparkStudy)
    imports(0)
    import mlflow.pyspark.optuna.study  # noqa: F401

    # The imports and the previous runner leave the driver's garbage collector a full collection due: over the
    # ~400,000 objects of this process it holds the interpreter lock ~0.35 s, in whichever runner allocates next
    # (measured in the first one's set-up). Each runner starts from a collected heap instead.
    gc.collect()


def main() -> None:
    import mlflow

    from sparksweep._spark import get_spark
    from sparksweep.executors import check_executors
    from sparksweep.tracking import prepare_store

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sleep", type=float, default=1.0)
    parser.add_argument("--n-sleep", type=int, default=20)
    parser.add_argument("--n-trivial", type=int, default=40)
    parser.add_argument("--n-lgbm", type=int, default=20)
    parser.add_argument("--only", nargs="*", help="Run only these runners (names as printed).")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sparksweep-bench-") as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        mlflow.set_tracking_uri(uri)  # this script's own process; MlflowSparkStudy reads it
        prepare_store(uri)
        spark = get_spark(f"local[{SLOTS}]")
        _warm_workers(spark)
        t_check = time.perf_counter()
        check_executors(spark, SLOTS)  # once per Spark application (the first executor built would run it)
        check_s = time.perf_counter() - t_check
        runners: dict[str, Callable[[Callable[[float, float], float], int], None]] = {
            "sparksweep (pool)": _sparksweep(spark, uri, "pool"),
            "sparksweep (job per trial)": _sparksweep(spark, uri, "jobs"),
            "hyperopt SparkTrials": _spark_trials(spark),
            "MlflowSparkStudy": _mlflow_spark_study(uri),
            "optuna n_jobs=2 (no Spark)": _optuna_threads,
            "bare Spark jobs (floor)": _bare_spark(spark),
        }
        if args.only:
            runners = {k: v for k, v in runners.items() if k in args.only}
        sizes = {"sleep": args.n_sleep, "trivial": args.n_trivial, "lightgbm": args.n_lgbm}
        rows: list[tuple[str, str, int, float, float, float, float | None]] = []
        for objective, (fn, length) in _objectives(args.sleep).items():
            n = sizes[objective]
            for i, (name, run) in enumerate(runners.items()):
                stamps = Path(tmp) / f"starts-{objective}-{i}.txt"
                _warm_workers(spark)  # a peer may have left Spark's Python workers unusable (new, cold processes)
                t0, wall_t0 = time.perf_counter(), time.time()
                run(_stamped(fn, str(stamps)), n)
                wall = time.perf_counter() - t0
                starts = [float(line) for line in stamps.read_text().split()]
                setup = min(starts) - wall_t0
                efficiency = None if length is None else (n * length / SLOTS) / wall
                rows.append((objective, name, n, wall, setup, n / wall, efficiency))
                print(f"  {objective:<9} {name:<28} {wall:7.2f}s (setup {setup:.2f}s)", flush=True)
        spark.stop()

    print(
        f"\n{'objective':<10}{'runner':<30}{'trials':>7}{'wall s':>9}{'setup s':>9}{'trials/s':>10}"
        f"{'after setup':>12}{'efficiency':>12}"
    )
    for objective, name, n, wall, setup, rate, eff in rows:
        eff_text = "-" if eff is None else f"{eff:.2f}"
        after = n / max(wall - setup, 1e-9)
        print(f"{objective:<10}{name:<30}{n:>7}{wall:>9.2f}{setup:>9.2f}{rate:>10.2f}{after:>12.2f}{eff_text:>12}")
    ours = {obj: wall for obj, name, _, wall, *_ in rows if name == "sparksweep (pool)"}
    ratios = [
        f"{obj}: {name} {wall / ours[obj]:.2f}x"
        for obj, name, _, wall, *_ in rows
        if name != "sparksweep (pool)" and obj in ours
    ]
    print(f"not counted: sparksweep's once-per-application executor check took {check_s:.2f} s (in the warm-up)")
    print("peer wall / sparksweep (pool) wall: " + "; ".join(ratios))


if __name__ == "__main__":
    main()
