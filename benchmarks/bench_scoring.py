"""Scoring speed end to end (read parquet, score, write parquet) with the registered champion, three ways in one run.

* ``raw``:      the model's own ``predict_proba`` in one process (pandas read, LightGBM with its default threads,
                i.e. all cores, pandas write): the baseline every ratio is against;
* ``pyfunc``:   the registered pyfunc model on pandas through ``score_pandas`` (same process, same threads);
* ``spark``:    ``score_table`` on ``local[2]`` with sparksweep's Arrow UDF (model loaded once per Python worker,
                features straight from Arrow into the booster, one model thread per task, 100k-row Arrow batches);
* ``spark_udf``: ``score_table(udf="spark_udf")``: the same job through ``mlflow.pyfunc.spark_udf``;

and, for reference, ``spark 2thr`` (two model threads per task: oversubscribed on 2 cores, to show the cap's
effect), ``spark io`` (a bare Spark parquet read + write of the same columns, no model) and, measured after the
others on a fresh ``local[1]`` session, ``spark 1core`` (how the Spark path grows from one task slot to two).
The input is written with 128k-row row groups, as Spark and most writers do, so Spark can split it across tasks.
Each way runs ``--repeats`` times after one warm-up, interleaved; the median is reported.

Run: ``python benchmarks/bench_scoring.py [--rows 1000000] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from mlflow import MlflowClient

from sparksweep.config import DataSpec
from sparksweep.data import prepare_dataset
from sparksweep.datasets import generate_churn
from sparksweep.models import get_family
from sparksweep.models._mlflow import log_fitted_model
from sparksweep.scoring.batch import load_model, score_pandas, score_table
from sparksweep.search.executors import get_spark

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
            family, estimator, task="binary", features=ds.features, example=ds.training.X_valid, classes=ds.classes
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
        spark = get_spark("local[2]", {"spark.sql.shuffle.partitions": "2"})

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

        def spark_two_threads() -> None:
            path = out("spark2")
            score_table(
                champion, input_path=str(data), output_path=path, keep=KEEP, tracking_uri=uri, spark=spark, threads=2
            )

        def spark_path() -> None:
            score_table(
                champion, input_path=str(data), output_path=out("spark"), keep=KEEP, tracking_uri=uri, spark=spark
            )

        def spark_udf() -> None:
            score_table(
                champion,
                input_path=str(data),
                output_path=out("udf"),
                keep=KEEP,
                tracking_uri=uri,
                spark=spark,
                udf="spark_udf",
            )

        def spark_io() -> None:
            spark.read.parquet(str(data)).write.mode("overwrite").parquet(out("io"))

        ways: dict[str, Callable[[], None]] = {
            "raw": raw,
            "pyfunc": pyfunc,
            "spark": spark_path,
            "spark 2thr": spark_two_threads,
            "spark_udf": spark_udf,
            "spark io": spark_io,
        }
        times: dict[str, list[float]] = {k: [] for k in ways}
        for rep in range(args.repeats + 1):
            for name, fn in ways.items():
                t0 = time.perf_counter()
                fn()
                if rep > 0:
                    times[name].append(time.perf_counter() - t0)
        expected = pd.read_parquet(tmp / "out-raw.parquet").sort_values("user_id")["prediction"].to_numpy()
        max_diff = 0.0
        for tag in ("spark", "udf", "pyfunc"):
            got = pd.read_parquet(tmp / f"out-{tag}.parquet").sort_values("user_id")["prediction"].to_numpy()
            assert len(got) == args.rows, tag
            max_diff = max(max_diff, float(abs(got - expected).max()))
        spark.stop()
        spark = get_spark("local[1]", {"spark.sql.shuffle.partitions": "1"})
        times["spark 1core"] = []
        for rep in range(args.repeats + 1):
            t0 = time.perf_counter()
            spark_path()
            if rep > 0:
                times["spark 1core"].append(time.perf_counter() - t0)
        spark.stop()

    base, base_best = statistics.median(times["raw"]), min(times["raw"])
    print(f"\nScoring {args.rows:,} rows end to end (read parquet, score, write parquet), {os.cpu_count()} cores,")
    print(f"LightGBM champion, {args.repeats} runs after a warm-up (median and best):\n")
    print(f"  {'way':<10} {'median s':>8} {'rows/s':>10} {'vs raw':>7}   {'best s':>7} {'rows/s':>10} {'vs raw':>7}")
    for name, values in times.items():
        median, best = statistics.median(values), min(values)
        print(
            f"  {name:<10} {median:>8.2f} {args.rows / median:>10,.0f} {base / median:>6.2f}x"
            f"   {best:>7.2f} {args.rows / best:>10,.0f} {base_best / best:>6.2f}x"
        )
    print(f"\n  max |prediction - raw| over spark, spark_udf and pyfunc: {max_diff:.2e}")
    one, two = statistics.median(times["spark 1core"]), statistics.median(times["spark"])
    print(f"  spark on local[2] vs local[1]: {one / two:.2f}x the rows/s")
    load = ", ".join(f"{v:.1f}" for v in load_before + os.getloadavg())
    print(f"  load average (1/5/15 min) before, after: {load} (other work on the machine skews absolute figures)")


if __name__ == "__main__":
    main()
