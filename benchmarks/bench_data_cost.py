"""Per-trial data cost on a large table: what a trial pays to get its data, for each way of shipping it.

A family whose fit does nothing (``bench.noop``) isolates the data path: each trial runs through sparksweep's real
worker (``run_trial``, a child run in a SQLite store, no model logged), one trial at a time, on ``local[2]``. Ways
of getting the data to the trial, each measured in the same run:

* ``broadcast+cache``  sparksweep's SparkExecutor: one broadcast per sweep, loaded once per Python worker and cached
  by the preparation's fingerprint;
* ``tiny table``       the same on a 1,000-row table: the trial's cost without data, the baseline of the data cost;
* ``ship per trial``   the prepared data travels inside every task (no broadcast, no cache);
* ``re-read per trial`` every trial reads the parquet file and prepares it again (no cache);
* ``local file+cache`` the LocalExecutor: one pickle file per sweep, loaded once per pool process.

Per-trial data cost = a trial's wall time minus the tiny-table trial's. Run under the shared lock:
``flock /tmp/sparksweep-heavy.lock .venv/bin/python benchmarks/bench_data_cost.py [--rows 1000000] [--trials 5]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from sparksweep._spark import get_spark
from sparksweep.data import TrainingData, prepare_dataset, read_table
from sparksweep.datasets import generate_churn
from sparksweep.executors import BaseExecutor, LocalExecutor, SparkExecutor
from sparksweep.models import BaseModelFamily
from sparksweep.space import Distribution, Float
from sparksweep.spec import DataSpec
from sparksweep.tracking import SweepTracker
from sparksweep.trial import TrialState
from sparksweep.worker import DataHandle, TrialTask

SPEC = DataSpec(target="label", drop=["user_id", "feature_date"])


class NoopFamily(BaseModelFamily):
    """Predicts the training prior after looking at no more than the target: the fit costs nothing."""

    name: ClassVar[str] = "bench.noop"
    tasks: ClassVar[frozenset[str]] = frozenset({"binary"})
    library: ClassVar[str] = "sklearn"

    def default_space(self, task: str) -> dict[str, Distribution]:
        return {"unused": Float(0.0, 1.0)}

    def build(self, params: dict[str, Any], *, task: str, n_jobs: int, seed: int) -> Any:
        from sklearn.dummy import DummyClassifier

        return DummyClassifier(strategy="prior")

    def fit(self, estimator: Any, data: TrainingData) -> Any:
        return estimator.fit(data.X_train.iloc[:10], data.y_train[:10])


@dataclass(frozen=True)
class InlineData:
    """The prepared data inside the handle itself: pickled into every task that carries it."""

    fingerprint: str
    data: TrainingData

    def load(self) -> TrainingData:
        return self.data


@dataclass(frozen=True)
class RereadData:
    """The file's path: every load reads the parquet file and prepares it again."""

    fingerprint: str
    path: str

    def load(self) -> TrainingData:
        return prepare_dataset(read_table(self.path), SPEC).training


@dataclass(frozen=True)
class Row:
    strategy: str
    rows: int
    share: float
    walls: list[float]
    loads: list[float]


def _trials(
    executor: BaseExecutor, tracker: SweepTracker, handles: list[DataHandle], ds: Any, strategy: str, share: float
) -> Row:
    walls, loads = [], []
    for number, handle in enumerate(handles):
        run_id = tracker.start_trial(number, NoopFamily.name, {"unused": 0.5})
        task = TrialTask(
            number=number,
            run_id=run_id,
            tracking_uri=tracker.tracking_uri,
            family=NoopFamily(),
            params={},
            task="binary",
            metric="auc_roc",
            features=ds.features,
            classes=ds.classes,
            n_jobs=1,
            seed=0,
            data=handle,
            autolog=False,
            log_model=False,
        )
        t0 = time.perf_counter()
        result = executor.submit(task).result()
        walls.append(time.perf_counter() - t0)
        if result.state is not TrialState.COMPLETE:
            raise SystemExit(f"{strategy}: trial {number} failed:\n{result.error}")
        loads.append(result.metrics["data_load_time"])
    return Row(strategy, len(ds.training.X_train) + len(ds.training.X_valid), share, walls, loads)


def _fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    n = args.trials

    with tempfile.TemporaryDirectory(prefix="sparksweep-bench-") as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        tracker = SweepTracker(uri, "bench-data")  # the store exists before Spark and the workers start
        tracker.start(run_name="bench-data", params={}, spec_yaml="")
        path = str(Path(tmp) / "users.parquet")
        t0 = time.perf_counter()
        generate_churn(args.rows, seed=0).to_parquet(path, index=False)
        t_generate = time.perf_counter() - t0
        t0 = time.perf_counter()
        big = prepare_dataset(read_table(path), SPEC)
        t_prepare = time.perf_counter() - t0
        tiny = prepare_dataset(generate_churn(1_000, seed=0), SPEC)

        spark = get_spark("local[2]", {"spark.ui.enabled": "false"})
        rows: list[Row] = []
        spark_exec = SparkExecutor(spark, parallelism=1)
        try:
            # Warm up: Python workers, imports, MLflow in the workers (not counted).
            warm = spark_exec.share(tiny.training)
            _trials(spark_exec, tracker, [warm] * 2, tiny, "warm-up", 0.0)
            t0 = time.perf_counter()
            handle = spark_exec.share(tiny.training)
            rows.append(_trials(spark_exec, tracker, [handle] * n, tiny, "tiny table", time.perf_counter() - t0))
            t0 = time.perf_counter()
            handle = spark_exec.share(big.training)
            rows.append(_trials(spark_exec, tracker, [handle] * n, big, "broadcast+cache", time.perf_counter() - t0))
            inline = [InlineData(_fresh("inline"), big.training) for _ in range(n)]
            rows.append(_trials(spark_exec, tracker, list(inline), big, "ship per trial", 0.0))
            reread = [RereadData(_fresh("reread"), path) for _ in range(n)]
            rows.append(_trials(spark_exec, tracker, list(reread), big, "re-read per trial", 0.0))
        finally:
            spark_exec.shutdown()
            spark.stop()
        local = LocalExecutor(parallelism=1)
        try:
            _trials(local, tracker, [local.share(tiny.training)] * 2, tiny, "warm-up", 0.0)
            t0 = time.perf_counter()
            handle = local.share(tiny.training)
            rows.append(_trials(local, tracker, [handle] * n, tiny, "local tiny table", time.perf_counter() - t0))
            t0 = time.perf_counter()
            handle = local.share(big.training)
            rows.append(_trials(local, tracker, [handle] * n, big, "local file+cache", time.perf_counter() - t0))
        finally:
            local.shutdown()
        tracker.finish()

    print(
        f"Per-trial data cost, {args.rows:,}-row table ({len(big.features)} features; train+valid "
        f"{rows[1].rows:,} rows), {n} trials one at a time on local[2], seconds"
    )
    print(f"  driver, once per sweep: write parquet {t_generate:.2f}, read + validate + split {t_prepare:.2f}")
    print(
        f"{'strategy':<20}{'share':>7}{'trial 1':>9}{'later (median)':>16}{'load 1':>8}{'later load':>11}"
        f"{'data cost/trial':>16}{'wall vs broadcast':>18}"
    )
    reference = statistics.mean(rows[1].walls)
    for row in rows:
        base = statistics.median((rows[-2] if row.strategy.startswith("local") else rows[0]).walls)
        later = statistics.median(row.walls[1:]) if len(row.walls) > 1 else row.walls[0]
        later_load = statistics.median(row.loads[1:]) if len(row.loads) > 1 else row.loads[0]
        cost = "" if "tiny" in row.strategy else f"{statistics.mean(row.walls) - base:.2f}"
        ratio = "" if "tiny" in row.strategy else f"{statistics.mean(row.walls) / reference:.2f}x"
        print(
            f"{row.strategy:<20}{row.share:>7.2f}{row.walls[0]:>9.2f}{later:>16.2f}{row.loads[0]:>8.2f}"
            f"{later_load:>11.3f}{cost:>16}{ratio:>18}"
        )
    print(
        "data cost/trial = mean trial wall time minus the same executor's tiny-table median; 'wall vs broadcast' = "
        "mean trial wall time / broadcast+cache's. The first trial in each Python worker loads the data; later "
        "ones find it cached."
    )


if __name__ == "__main__":
    main()
