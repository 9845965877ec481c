"""Trials on Spark Connect, side by side in one run: sparksweep's DataFrame-job executor on a local Spark Connect
server against MLflow's ``MlflowSparkStudy`` on the same Connect session, and against sparksweep's pool executor (and
its DataFrame-job executor) on a classic ``local[2]`` session; then what data riding inline in a trial's task costs.

Every runner gets the same objectives: a 1 s sleep (efficiency = ideal wall (trials x 1 s / 2 slots) / wall) and a
trivial arithmetic one (trials/s), each trial with a child run in a SQLite store. Each wall time counts the runner's
own per-sweep setup (building the executor, the parent run); not counted: starting the server and the sessions and
a warm-up job that imports the trial libraries in Spark's Python workers.

The last table measures the switch between data inside the task and data staged on storage
(``sparksweep.executors._staging.INLINE_LIMIT``): the wall time of one trial-shaped Connect job (a one-row
``mapInArrow``) whose function carries ``MB`` megabytes, against the same job carrying nothing. Inline data costs that
difference on every trial; staged data costs one read per Python worker and nothing per trial after it.

Run: ``python benchmarks/bench_connect.py [--n-sleep 12] [--n-trivial 30]``
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

SLOTS = 2
ROOT = Path(__file__).resolve().parents[1]


def _local_connect() -> ModuleType:
    spec = importlib.util.spec_from_file_location("local_connect", ROOT / "scripts" / "local_connect.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {ROOT / 'scripts' / 'local_connect.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["local_connect"] = module
    spec.loader.exec_module(module)
    return module


def _objectives(sleep: float) -> dict[str, tuple[Callable[[float], float], float | None]]:
    def sleeper(x: float) -> float:
        time.sleep(sleep)
        return x

    def trivial(x: float) -> float:
        return (x - 0.3) ** 2

    return {"sleep": (sleeper, sleep), "trivial": (trivial, None)}


Runner = Callable[[Callable[[float], float], int], None]


def _sparksweep(make_executor: Callable[[], Any], uri: str, label: str) -> Runner:
    from sparksweep import Float, optimize

    def run(fn: Callable[[float], float], n: int) -> None:
        executor = make_executor()
        try:
            result = optimize(
                lambda p, _t: fn(p["x"]),
                {"x": Float(0.0, 1.0)},
                n_trials=n,
                algorithm="optuna.random",
                seed=0,
                executor=executor,
                tracking_uri=uri,
                experiment=f"connect-{label}",
            )
        finally:
            executor.shutdown()
        failed = [t for t in result.trials if t.value is None]
        if failed:
            raise RuntimeError(f"sparksweep ({label}) had failed trials: {failed[0].error}")

    return run


def _mlflow_spark_study(uri: str, mode: Callable[[], contextlib.AbstractContextManager[None]]) -> Runner:
    def run(fn: Callable[[float], float], n: int) -> None:
        import optuna
        from mlflow import MlflowClient
        from mlflow.optuna.storage import MlflowStorage
        from mlflow.pyspark.optuna.study import MlflowSparkStudy

        name = f"mlflow-spark-study-{time.time_ns()}"
        experiment_id = MlflowClient(uri).create_experiment(name)
        with mode():  # it finds its session with SparkSession.active(), which reads the process's mode
            study = MlflowSparkStudy(
                name,
                MlflowStorage(experiment_id=experiment_id),
                sampler=optuna.samplers.RandomSampler(seed=0),
                mlflow_tracking_uri=uri,
            )
            study.optimize(lambda t: fn(t.suggest_float("x", 0, 1)), n_trials=n, n_jobs=SLOTS)

    return run


def _warm(spark: Any) -> None:
    """Import what trials import in each of the session's Python workers (Spark reuses them)."""

    def imports(batches: Iterator[Any]) -> Iterator[Any]:
        import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
        import optuna  # noqa: F401

        import sparksweep.worker  # noqa: F401

        yield from batches

    spark.range(0, SLOTS, 1, SLOTS).mapInArrow(imports, "id long").collect()


def _payload_job(blob: bytes, batches: Iterator[Any]) -> Iterator[Any]:
    import pyarrow as pa

    rows = sum(b.num_rows for b in batches)
    yield pa.RecordBatch.from_pydict({"n": [len(blob) + rows]})


def _inline_costs(spark: Any, sizes_mb: list[float], repeats: int = 5) -> list[tuple[float, float]]:
    """(MB, median wall s of one one-row job carrying that many MB in its function)."""
    import os

    rows = []
    for mb in sizes_mb:
        blob = os.urandom(int(mb * 1024 * 1024))
        job = functools.partial(_payload_job, blob)
        try:
            spark.range(0, 1, 1, 1).mapInArrow(job, "n long").collect()  # once unmeasured
        except Exception as exc:  # the server's heap is the limit (local[2]: 1 GB)
            print(f"  {mb} MB inline did not run: {str(exc).splitlines()[0][:120]}", flush=True)
            break
        walls = []
        try:
            for _ in range(repeats):
                t0 = time.perf_counter()
                spark.range(0, 1, 1, 1).mapInArrow(job, "n long").collect()
                walls.append(time.perf_counter() - t0)
        except Exception as exc:  # the server's heap, again
            print(f"  {mb} MB inline failed on a repeat: {str(exc).splitlines()[0][:120]}", flush=True)
            break
        rows.append((mb, statistics.median(walls)))
    return rows


def _run_all(
    runners: dict[str, tuple[Runner, Any]], objectives: dict[str, Any], sizes: dict[str, int]
) -> list[tuple[str, str, int, float, str]]:
    rows = []
    for objective, (fn, length) in objectives.items():
        n = sizes[objective]
        for name, (run, session) in runners.items():
            _warm(session)
            t0 = time.perf_counter()
            try:
                run(fn, n)
            except Exception as exc:  # a peer that cannot run on this session: say so in the table
                rows.append((objective, name, n, float("nan"), f"did not run: {str(exc).splitlines()[0][:90]}"))
                print(f"  {objective:<8} {name:<34} did not run: {exc!r:.300}", flush=True)
                continue
            wall = time.perf_counter() - t0
            note = f"efficiency {(n * length / SLOTS) / wall:.2f}" if length else f"{n / wall:.1f} trials/s"
            rows.append((objective, name, n, wall, note))
            print(f"  {objective:<8} {name:<34} {wall:7.2f}s  {note}", flush=True)
    return rows


def main() -> None:
    import os

    import mlflow

    from sparksweep._spark import get_spark
    from sparksweep.executors import FramesExecutor, SparkPoolExecutor
    from sparksweep.tracking import prepare_store

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sleep", type=float, default=1.0)
    parser.add_argument("--n-sleep", type=int, default=12)
    parser.add_argument("--n-trivial", type=int, default=30)
    parser.add_argument("--inline-mb", type=float, nargs="*", default=[0.0, 1.0, 4.0, 16.0, 32.0])
    args = parser.parse_args()

    local_connect = _local_connect()
    os.environ["PYSPARK_PYTHON"] = sys.executable
    with tempfile.TemporaryDirectory(prefix="sparksweep-bench-connect-") as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        prepare_store(uri)
        mlflow.set_tracking_uri(uri)  # MlflowSparkStudy's storage reads the process's tracking URI
        t0 = time.perf_counter()
        server = local_connect.start(Path(tmp) / "server", f"local[{SLOTS}]")
        print(f"Spark Connect server up in {time.perf_counter() - t0:.1f}s at {server.url}", flush=True)
        try:
            classic = get_spark(f"local[{SLOTS}]")
            remote = local_connect.remote_session(server.url)
            connect_mode = local_connect.connect_mode
            runners: dict[str, tuple[Runner, Any]] = {
                "sparksweep frames (Connect)": (
                    _sparksweep(lambda: FramesExecutor(remote, SLOTS), uri, "frames-connect"),
                    remote,
                ),
                "MlflowSparkStudy (Connect)": (_mlflow_spark_study(uri, connect_mode), remote),
                "sparksweep pool (classic)": (
                    _sparksweep(lambda: SparkPoolExecutor(classic, SLOTS), uri, "pool-classic"),
                    classic,
                ),
                "sparksweep frames (classic)": (
                    _sparksweep(lambda: FramesExecutor(classic, SLOTS), uri, "frames-classic"),
                    classic,
                ),
                "MlflowSparkStudy (classic)": (_mlflow_spark_study(uri, contextlib.nullcontext), classic),
            }
            sizes = {"sleep": args.n_sleep, "trivial": args.n_trivial}
            rows = _run_all(runners, _objectives(args.sleep), sizes)
            inline = _inline_costs(remote, args.inline_mb)
            remote.stop()
            classic.stop()
        finally:
            local_connect.stop(Path(tmp) / "server")

    print(f"\n{'objective':<10}{'runner':<32}{'trials':>7}{'wall s':>9}  result")
    for objective, name, n, wall, note in rows:
        print(f"{objective:<10}{name:<32}{n:>7}{wall:>9.2f}  {note}")
    base = inline[0][1]
    print(f"\n{'MB inline':>10}{'job wall s':>12}{'extra per trial s':>19}   (one-row Connect job; 0 MB = the floor)")
    for mb, wall in inline:
        print(f"{mb:>10.1f}{wall:>12.3f}{wall - base:>19.3f}")


if __name__ == "__main__":
    main()
