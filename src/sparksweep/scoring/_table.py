"""Scoring a whole table: read parquet, csv or a Spark table, score it on Spark, write parquet or a Spark table.

From a parquet path to a parquet path with one of sparksweep's own models, the UDF is skipped: Spark runs one task
per slot, and each task reads its share of the row groups with pyarrow, scores it and writes its own part file (see
:mod:`sparksweep.scoring._files`), so no row crosses between the JVM and Python. Otherwise the table goes through a
Spark UDF (:mod:`sparksweep.scoring._frame`). The model copies and archives made for the job are removed when it is
done. Both paths run on a Spark Connect session too (DataFrame jobs only; the model rides in the job, or is staged in
``staging_dir``), with the same outputs.

Example:
    >>> score_table("models:/churn@champion", input_path="in.parquet", output_path="out.parquet")  # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparksweep._spark import is_remote
from sparksweep.errors import DataError
from sparksweep.scoring._frame import Scoring, Udf, arrow_frame, check_udf, score_loaded, task_cpus
from sparksweep.scoring._models import ModelKind, downloaded_model, model_features
from sparksweep.scoring._session import default_parallelism, partitions, session_mode
from sparksweep.scoring.schema import arrow_column_types, model_input_types, require_columns

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame
    from pyspark.sql import SparkSession

    from sparksweep.scoring._driver import ScoringModel
    from sparksweep.scoring._files import FileJob, ParquetSource

__all__ = ["ARROW_BATCH_ROWS", "ScoreReport", "read_input", "score_table"]

ARROW_BATCH_ROWS = 100_000
"""Rows per Arrow batch while scoring (Spark's default, 10,000, costs ~10% in per-batch overhead here)."""


@dataclass(frozen=True)
class ScoreReport:
    """What :func:`score_table` wrote: how many rows, where, how long it took, and how it scored (``files``: parquet
    read and written by pyarrow in the Spark tasks; ``arrow`` / ``spark_udf``: a Spark UDF)."""

    rows: int
    output: str
    seconds: float
    columns: list[str]
    method: str


def read_input(spark: SparkSession, *, path: str | None = None, table: str | None = None) -> SparkDataFrame:
    """Read a parquet file or folder, a csv file (header row, inferred types) or a Spark table."""
    if (path is None) == (table is None):
        raise DataError("give exactly one input: a parquet/csv path or a Spark table name")
    if table is not None:
        if not spark.catalog.tableExists(table):
            raise DataError(f"there is no Spark table {table!r}; check the name (db.table) or give a file path")
        return spark.table(table)
    file = Path(str(path))
    if not file.exists():
        raise DataError(f"input {str(file)!r} does not exist (resolved against {Path.cwd()})")
    if file.suffix.lower() == ".csv":
        return spark.read.option("header", "true").option("inferSchema", "true").csv(str(file))
    return spark.read.parquet(str(file))


def score_table(
    model_uri: str,
    *,
    input_path: str | None = None,
    input_table: str | None = None,
    output_path: str | None = None,
    output_table: str | None = None,
    keep: list[str] | None = None,
    tracking_uri: str | None = None,
    spark: Any = None,
    batch_rows: int = ARROW_BATCH_ROWS,
    threads: int | None = None,
    udf: Udf | None = None,
    staging_dir: str | None = None,
) -> ScoreReport:
    """Read a table (parquet, csv or a Spark table), score it on Spark and write parquet or a Spark table.

    From a parquet file or folder to a parquet path, with one of sparksweep's own models and ``udf=None`` (the
    default), no row passes through the JVM: Spark runs one task per task slot, each reading its share of the row
    groups with pyarrow, scoring it and writing its own part file; the output folder is replaced once every part is
    written. Otherwise (csv, Spark tables, a partitioned folder, a path pyarrow cannot open such as ``s3a://``, another
    model flavor, or ``udf`` given) the table is read and written by Spark and scored by a UDF: ``udf="arrow"``
    (sparksweep's) or ``"spark_udf"`` (``mlflow.pyfunc.spark_udf``). Both give the same columns and values.

    ``keep`` defaults to every column that is not a model feature (ids, dates), so keys are carried through. The
    columns are checked against the model's signature before any job starts. On the UDF path the Arrow batch is
    raised to ``batch_rows`` for the job. ``threads`` caps each task's model threads (default ``spark.task.cpus``);
    the model copies and archives made for the job are removed when it is done.

    ``spark`` may be a Spark Connect session (Databricks Standard access mode and serverless): the model then rides
    inside the job, or, over :data:`~sparksweep.scoring._ship.INLINE_BYTES` zipped, is staged once in
    ``staging_dir`` (a folder every executor can read, such as a Unity Catalog volume), checked by sha256 where it
    is read, and removed when the job ends.

    Example:
        >>> score_table("models:/churn@champion", input_path="users.parquet", output_path="scores.parquet",
        ...             keep=["user_id"])  # doctest: +SKIP
    """
    if (output_path is None) == (output_table is None):
        raise DataError("give exactly one output: a parquet path or a Spark table name")
    if (input_path is None) == (input_table is None):
        raise DataError("give exactly one input: a parquet/csv path or a Spark table name")
    check_udf(udf)
    if spark is None:
        from sparksweep._spark import get_spark

        spark = get_spark()
    started = time.perf_counter()
    with session_mode(spark):  # pyspark's functions for this session's kind (see scoring._session)
        if input_path is not None and not Path(input_path).exists() and "://" not in input_path:
            raise DataError(f"input {input_path!r} does not exist (resolved against {Path.cwd()})")
        if udf is None and input_path is not None and output_path is not None:
            from sparksweep.scoring._files import parquet_source

            source = parquet_source(input_path)
            if source is not None:
                written = _score_files(spark, source, output_path, model_uri, tracking_uri, keep, threads, staging_dir)
                if written is not None:
                    return ScoreReport(written[0], output_path, time.perf_counter() - started, written[1], "files")
        scoring, kind = _udf_scoring(
            spark, model_uri, tracking_uri, input_path, input_table, keep, threads, udf or "arrow", staging_dir
        )
        rows = _write(spark, scoring, output_path, output_table, batch_rows)
        return ScoreReport(
            rows=rows,
            output=str(output_path or output_table),
            seconds=time.perf_counter() - started,
            columns=scoring.frame.columns,
            method="spark_udf" if udf == "spark_udf" or kind.task is None else "arrow",
        )


def _udf_scoring(
    spark: SparkSession,
    model_uri: str,
    tracking_uri: str | None,
    input_path: str | None,
    input_table: str | None,
    keep: list[str] | None,
    threads: int | None,
    udf: Udf,
    staging_dir: str | None,
) -> tuple[Scoring, ModelKind]:
    """The input read and scored lazily by a Spark UDF (spread over the task slots first), and what the model is.
    sparksweep's own models come from the driver's cache (:mod:`sparksweep.scoring._driver`), loaded and shipped
    once per application."""
    from sparksweep.scoring._driver import scoring_model

    df = read_input(spark, path=input_path, table=input_table)
    slots = default_parallelism(spark)
    if partitions(df) < slots:  # Spark reads a small file as one partition: spread it over the slots
        df = df.repartition(slots)
    if udf == "arrow":
        cached = scoring_model(spark, model_uri, tracking_uri, staging_dir)
        kind = ModelKind.of(cached.model)
        if kind.task is not None:
            kept = _kept(keep, df.columns, model_features(cached.model))
            frame = arrow_frame(df, cached.model, cached.shipped, model_uri, "prediction", kept, threads)
            return Scoring(frame, shipped=None if cached.cached else cached.shipped), kind
        cached.done()
    import mlflow

    with downloaded_model(model_uri, tracking_uri) as local:
        model = mlflow.pyfunc.load_model(local)
        kept = _kept(keep, df.columns, model_features(model))
        scoring = score_loaded(
            df, local, model, model_uri, "prediction", kept, None, threads, udf, staging_dir, tracking_uri
        )
    return scoring, ModelKind.of(model)


def _kept(keep: list[str] | None, columns: list[str], features: list[str]) -> list[str]:
    """The columns to keep: ``keep``, or by default every column that is not a model feature (ids, dates)."""
    return keep if keep is not None else [c for c in columns if c not in features]


def _write(
    spark: SparkSession, scoring: Scoring, output_path: str | None, output_table: str | None, batch_rows: int
) -> int:
    """Write the scored frame with ``batch_rows`` rows per Arrow batch, release what scoring it held, and return the
    rows written (counted by the write job itself, not by reading the output again)."""
    from pyspark.sql import Observation
    from pyspark.sql import functions as sf

    rows = Observation("sparksweep_scored_rows")
    observed = scoring.frame.observe(rows, sf.count(sf.lit(1)).alias("rows"))
    conf_key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(conf_key, None)
    spark.conf.set(conf_key, str(batch_rows))
    try:
        if output_path is not None:
            observed.write.mode("overwrite").parquet(output_path)
        else:
            observed.write.mode("overwrite").saveAsTable(str(output_table))
    finally:
        scoring.release()
        if before is None:
            spark.conf.unset(conf_key)
        else:
            spark.conf.set(conf_key, before)
    return int(rows.get["rows"])


def _score_files(
    spark: SparkSession,
    source: ParquetSource,
    output_path: str,
    model_uri: str,
    tracking_uri: str | None,
    keep: list[str] | None,
    threads: int | None,
    staging_dir: str | None,
) -> tuple[int, list[str]] | None:
    """Score a parquet input into a parquet folder in Spark tasks that read and write with pyarrow; returns the rows
    written and the output's columns, or None for a model that is not sparksweep's own (the UDF path scores it).
    Every check is made before the job starts."""
    from sparksweep.scoring._driver import scoring_model
    from sparksweep.scoring._files import score_files, task_count

    scoring = scoring_model(spark, model_uri, tracking_uri, staging_dir)
    try:
        kind = ModelKind.of(scoring.model)
        if kind.task is None:
            return None
        job = _file_job(scoring, kind, source, output_path, model_uri, keep, threads or task_cpus(spark))
        rows = score_files(spark, source, job, task_count(source.rows, _slots(spark)))
        return rows, list(job.schema.names)
    finally:
        scoring.done()


def _file_job(
    scoring: ScoringModel,
    kind: ModelKind,
    source: ParquetSource,
    output_path: str,
    model_uri: str,
    keep: list[str] | None,
    threads: int,
) -> FileJob:
    """The file-to-file job, once the input's columns have been checked against the model's signature, the kept
    columns against the input and the output against the input path."""
    from sparksweep.scoring._files import FileJob, check_paths, output_schema, staging_folder

    required = model_input_types(scoring.model)
    available = arrow_column_types(source.schema)
    match = require_columns(required, available, model_uri)
    kept = keep if keep is not None else [c for c in source.schema.names if c not in required]
    unknown = [c for c in kept if c not in available]
    if unknown:
        raise DataError(
            f"the columns to keep {unknown} are not in the input {source.uri!r}; it has {sorted(available)}"
        )
    schema = output_schema(source, kept, str(kind.task), "prediction")
    if len(set(schema.names)) < len(schema.names):
        raise DataError(
            f"the columns to keep {kept} clash with the output's prediction columns ({schema.names}); "
            "rename them or leave them out of keep"
        )
    check_paths(source, output_path)
    return FileJob(
        shipped=scoring.shipped,
        task=str(kind.task),
        classes=kind.classes,
        features=list(required),
        keep=kept,
        casts=match.casts,
        threads=threads,
        matrix=kind.takes_matrix(required),
        source=source.uri,
        output=output_path,
        staging=staging_folder(output_path),
        schema=schema,
    )


def _slots(spark: SparkSession) -> int:
    """The tasks the registered executors run at once (cores / ``spark.task.cpus``); before any has registered on a
    cluster, Spark's default parallelism. On Spark Connect, the default parallelism over ``spark.task.cpus``."""
    from sparksweep._spark import current_slots

    if is_remote(spark):
        return max(1, default_parallelism(spark) // task_cpus(spark))
    return current_slots(spark) or int(spark.sparkContext.defaultParallelism)
