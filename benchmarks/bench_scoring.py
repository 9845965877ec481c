"""Scoring speed end to end (read parquet, score, write parquet) with the registered champion, every way in one run.

* ``raw``:      the model's own ``predict_proba`` in one process (pandas read, LightGBM with its default threads,
                i.e. all cores, pandas write): the baseline every ratio is against;
* ``pyfunc``:   the registered pyfunc model on pandas through ``score_pandas`` (same process, same threads);
* ``spark``:    ``score_table`` on ``local[2]``, its default for parquet in and out: one Spark task per slot, each
                reading its share of the row groups with pyarrow, scoring with one model thread and writing its own
                part file (no row crosses between the JVM and Python);
* ``spark arrow``: ``score_table(udf="arrow")``: Spark reads and writes the parquet, sparksweep's Arrow UDF scores
                (``mapInArrow``, model loaded once per Python worker, features straight from Arrow into the booster,
                one model thread per task, 100k-row Arrow batches);
* ``spark_udf``: ``score_table(udf="spark_udf")``: the same job through ``mlflow.pyfunc.spark_udf``;
* ``table arrow`` and ``table udf``: the table path, ``score_table(input_table=..., output_table=...)`` from a Spark
                table (the same rows, saved with ``saveAsTable``) into a Spark table, through the Arrow UDF and
                through ``spark_udf``;

and, for reference, ``spark io`` (a bare Spark parquet read + write of the key columns, no model) and, measured
after the others on a fresh ``local[1]`` session, ``spark 1core`` and ``arrow 1core`` (how the Spark paths grow from
one task slot to two); with ``--cluster``, ``cluster 1x1`` and ``cluster 2x1``: the default path on a standalone
cluster (``scripts/local_cluster.py``, two 1-core workers) with one executor and with two. The input is written with
128k-row row groups, as Spark and most writers do, so Spark can split it across tasks. Each way runs ``--repeats``
times after one warm-up, interleaved; median and best are reported. Every way's output is checked against ``raw``
(same rows, same predictions).

With ``--profile``, the table path's phases as ways of their own in the same run: the table read alone (``read``,
written to Spark's ``noop`` format), read and written back with a constant prediction (``read+write``), the rows
through a Python identity ``mapInArrow`` (``+python``, then ``+python+write``), the model's scoring without the
write (``+score``), and the model's ``predict`` alone in one process (``predict``).

Run: ``python benchmarks/bench_scoring.py [--rows 1000000] [--repeats 3] [--cluster] [--profile]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from mlflow import MlflowClient

from sparksweep._spark import get_spark, task_slots
from sparksweep.data import prepare_dataset
from sparksweep.datasets import generate_churn
from sparksweep.models import get_family, log_fitted_model
from sparksweep.scoring import Udf, load_model, score_pandas, score_table
from sparksweep.spec import DataSpec

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "local_cluster.py"
KEEP = ["user_id", "feature_date"]
NAME = "bench-churn"


def _train_and_register(uri: str, tmp: Path) -> tuple[object, list[str]]:
    import mlflow

    train = generate_churn(100_000, seed=1)
    ds = prepare_dataset(train, DataSpec(path="-", target="label", drop=KEEP), "binary")
    family = get_family("lightgbm")
    estimator = family.fit(family.build({}, task="binary", n_jobs=-1, seed=0), ds.training)
    client = MlflowClient(uri, uri)
    experiment = client.create_experiment("bench", artifact_location=(tmp / "artifacts").as_uri())
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run(experiment_id=experiment) as run:
        model_uri = log_fitted_model(
            family, estimator, task="binary", features=ds.features, data=ds.training, classes=ds.classes
        )
    client.create_registered_model(NAME)
    source = str(client.get_logged_model(model_uri.removeprefix("models:/")).artifact_location)
    version = client.create_model_version(NAME, source, run_id=run.info.run_id)
    client.set_registered_model_alias(NAME, "champion", version.version)
    return estimator, ds.features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="also score on a standalone cluster of two 1-core workers (scripts/local_cluster.py), 1 executor vs 2",
    )
    parser.add_argument("--profile", action="store_true", help="also time the table path's phases (see above)")
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ["PYSPARK_PYTHON"] = sys.executable

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-scoring-") as tmp_dir:
        tmp = Path(tmp_dir)
        uri = f"sqlite:///{tmp / 'mlflow.db'}"
        estimator, features = _train_and_register(uri, tmp)
        champion = f"models:/{NAME}@champion"
        data = tmp / "users.parquet"
        pq.write_table(
            __import__("pyarrow").Table.from_pandas(generate_churn(args.rows, seed=2).drop(columns=["label"])),
            data,
            row_group_size=128 * 1024,
        )
        model = load_model(champion, uri)
        spark = get_spark(
            "local[2]", {"spark.sql.shuffle.partitions": "2", "spark.sql.warehouse.dir": str(tmp / "warehouse")}
        )
        spark.read.parquet(str(data)).write.saveAsTable("users")

        def out(tag: str) -> str:
            path = tmp / f"out-{tag}.parquet"
            shutil.rmtree(path, ignore_errors=True)
            path.unlink(missing_ok=True)
            return str(path)

        def raw() -> None:
            df = pd.read_parquet(data)
            proba = estimator.predict_proba(df[features])[:, 1]  # type: ignore[attr-defined]
            df[KEEP].assign(prediction=proba).to_parquet(out("raw"), index=False)

        def pyfunc() -> None:
            df = pd.read_parquet(data)
            score_pandas(df, champion, model=model, keep=KEEP).to_parquet(out("pyfunc"), index=False)

        def spark_way(tag: str, udf: Udf | None) -> Callable[[], None]:
            def run() -> None:
                report = score_table(
                    champion,
                    input_path=str(data),
                    output_path=out(tag),
                    keep=KEEP,
                    tracking_uri=uri,
                    spark=spark,
                    udf=udf,
                )
                methods[tag] = report.method

            return run

        def table_way(tag: str, udf: Udf) -> Callable[[], None]:
            def run() -> None:
                score_table(
                    champion,
                    input_table="users",
                    output_table=f"out_{tag}",
                    keep=KEEP,
                    tracking_uri=uri,
                    spark=spark,
                    udf=udf,
                )

            return run

        def spark_io() -> None:
            spark.read.parquet(str(data)).select(*KEEP).write.mode("overwrite").parquet(out("io"))

        methods: dict[str, str] = {}
        ways: dict[str, Callable[[], None]] = {
            "raw": raw,
            "pyfunc": pyfunc,
            "spark": spark_way("spark", None),
            "spark arrow": spark_way("arrow", "arrow"),
            "spark_udf": spark_way("udf", "spark_udf"),
            "spark io": spark_io,
            "table arrow": table_way("arrow", "arrow"),
            "table udf": table_way("udf", "spark_udf"),
        }
        if args.profile:
            ways.update(_phases(spark, estimator, data, features, champion, uri))
        times: dict[str, list[float]] = {k: [] for k in ways}
        for rep in range(args.repeats + 1):
            for name, fn in ways.items():
                t0 = time.perf_counter()
                fn()
                if rep > 0:
                    times[name].append(time.perf_counter() - t0)
        expected = pd.read_parquet(tmp / "out-raw.parquet").sort_values("user_id")
        max_diff = 0.0
        outputs = {tag: lambda tag=tag: pd.read_parquet(tmp / f"out-{tag}.parquet") for tag in ("pyfunc", "spark")}
        outputs |= {
            f"spark {tag}": lambda tag=tag: pd.read_parquet(tmp / f"out-{tag}.parquet") for tag in ("arrow", "udf")
        }
        outputs |= {f"table {tag}": lambda tag=tag: spark.table(f"out_{tag}").toPandas() for tag in ("arrow", "udf")}
        for tag, read in outputs.items():
            got = read().sort_values("user_id")
            if len(got) != args.rows or not (got["user_id"].to_numpy() == expected["user_id"].to_numpy()).all():
                raise SystemExit(f"{tag}: the output does not hold every input row once")
            if list(got.columns) != [*KEEP, "prediction"]:
                raise SystemExit(f"{tag}: columns {list(got.columns)}, expected {[*KEEP, 'prediction']}")
            max_diff = max(max_diff, float(abs(got["prediction"].to_numpy() - expected["prediction"].to_numpy()).max()))
        if max_diff > 1e-9:
            raise SystemExit(f"predictions differ from raw by up to {max_diff:.2e}")
        spark.stop()
        spark = get_spark("local[1]", {"spark.sql.shuffle.partitions": "1"})
        one_core = {"spark 1core": spark_way("spark", None), "arrow 1core": spark_way("arrow", "arrow")}
        times.update({k: [] for k in one_core})
        for rep in range(args.repeats + 1):
            for name, fn in one_core.items():
                t0 = time.perf_counter()
                fn()
                if rep > 0:
                    times[name].append(time.perf_counter() - t0)
        spark.stop()
        if args.cluster:
            cluster_dir = tmp / "cluster"
            try:
                up = subprocess.run(
                    [sys.executable, str(SCRIPT), "up", "--dir", str(cluster_dir), "--json", "--no-mlflow"],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if up.returncode != 0:
                    raise SystemExit(f"the cluster did not start:\n{up.stderr}")
                master = json.loads(up.stdout)["spark_master"]
                for executors in (1, 2):
                    spark = get_spark(master, {"spark.cores.max": str(executors), "spark.executor.cores": "1"})
                    task_slots(spark)  # executors registered before the clock starts
                    name = f"cluster {executors}x1"
                    times[name] = []
                    run = spark_way("spark", None)
                    for rep in range(args.repeats + 1):
                        t0 = time.perf_counter()
                        run()
                        if rep > 0:
                            times[name].append(time.perf_counter() - t0)
                    spark.stop()
            finally:
                subprocess.run([sys.executable, str(SCRIPT), "down", "--dir", str(cluster_dir)], check=False)

    base, base_best = statistics.median(times["raw"]), min(times["raw"])
    print(f"\nScoring {args.rows:,} rows end to end (read parquet, score, write parquet), {os.cpu_count()} cores,")
    print(f"LightGBM champion, {args.repeats} runs after a warm-up (median and best):\n")
    print(f"  {'way':<12} {'median s':>8} {'rows/s':>10} {'vs raw':>7}   {'best s':>7} {'rows/s':>10} {'vs raw':>7}")
    for name, values in times.items():
        median, best = statistics.median(values), min(values)
        print(
            f"  {name:<12} {median:>8.2f} {args.rows / median:>10,.0f} {base / median:>6.2f}x"
            f"   {best:>7.2f} {args.rows / best:>10,.0f} {base_best / best:>6.2f}x"
        )
    print(f"\n  score_table chose: {', '.join(f'{k} -> {v}' for k, v in methods.items())}")
    print(f"  max |prediction - raw| over pyfunc, spark, spark arrow, spark_udf and table: {max_diff:.2e}")
    table = base / statistics.median(times["table arrow"])
    print(f"  the table path (Spark table in, Arrow UDF, Spark table out) vs raw: {table:.2f}x the rows/s")
    for way, single in (("spark", "spark 1core"), ("spark arrow", "arrow 1core")):
        one, two = statistics.median(times[single]), statistics.median(times[way])
        print(f"  {way} on local[2] vs local[1]: {one / two:.2f}x the rows/s")
    if args.cluster:
        one, two = statistics.median(times["cluster 1x1"]), statistics.median(times["cluster 2x1"])
        print(f"  spark on the standalone cluster, 2 one-core executors vs 1: {one / two:.2f}x the rows/s")
    load = ", ".join(f"{v:.1f}" for v in load_before + os.getloadavg())
    print(f"  load average (1/5/15 min) before, after: {load} (other work on the machine skews absolute figures)")


def _phases(
    spark: Any, estimator: Any, data: Path, features: list[str], champion: str, uri: str
) -> dict[str, Callable[[], None]]:
    """The table path cut into phases (see the module's docstring), each a way of its own."""
    import pyarrow as pa
    from pyspark.sql import functions as sf

    from sparksweep.scoring import score_spark

    schema = spark.table("users").select(*KEEP, sf.lit(0.0).alias("prediction")).schema

    def identity(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            zeros = pa.array(np.zeros(batch.num_rows))
            yield pa.RecordBatch.from_arrays([*batch.columns[: len(KEEP)], zeros], names=schema.names)

    def through_python() -> Any:
        return spark.table("users").select(*KEEP, *features).mapInArrow(identity, schema)

    def noop(frame: Any) -> None:
        frame.write.format("noop").mode("overwrite").save()

    def predict() -> None:
        estimator.predict_proba(pd.read_parquet(data, columns=features))

    return {
        "read": lambda: noop(spark.table("users")),
        "read+write": lambda: (
            spark.table("users")
            .select(*KEEP, sf.lit(0.0).alias("prediction"))
            .write.mode("overwrite")
            .saveAsTable("out_io")
        ),
        "+python": lambda: noop(through_python()),
        "+python+write": lambda: through_python().write.mode("overwrite").saveAsTable("out_py"),
        "+score": lambda: noop(score_spark(spark.table("users"), champion, tracking_uri=uri, keep=KEEP)),
        "predict": predict,
    }


if __name__ == "__main__":
    main()
