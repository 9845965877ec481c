"""Batch scoring with a logged or registered model: on Spark, or on pandas for small data.

Output columns, by task: binary, ``prediction`` = P(positive class) as a double; multiclass, ``probabilities`` (an
array in class order) and ``prediction`` (the most probable class label); regression, ``prediction`` as a double.
Input columns are matched to the model's signature by name and type before any job starts.

On Spark, sparksweep's own models are scored by an Arrow UDF (``udf="arrow"``, see :mod:`sparksweep.scoring._udf`)
that loads the model once per Python worker process, calls it without MLflow's per-batch schema enforcement (the
schema was checked once, on the driver) and caps each task's model threads at ``spark.task.cpus``;
``udf="spark_udf"`` (and any model that is not sparksweep's own) goes through ``mlflow.pyfunc.spark_udf``.
``score_table`` from a parquet path to a parquet path skips the UDF: Spark runs one task per slot, and each task
reads its share of the row groups with pyarrow, scores it and writes its own part file (see
:mod:`sparksweep.scoring._files`), so no row crosses between the JVM and Python. Downloaded model copies are removed
once the model is loaded or shipped, and ``score_table`` removes what ``spark_udf`` left on the driver when its job is
done.

Example:
    >>> preds = score_pandas(df, "models:/churn-model@champion")  # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from sparksweep.data import categories_as_text
from sparksweep.errors import DataError, RegistryError
from sparksweep.scoring.schema import (
    arrow_column_types,
    model_input_types,
    pandas_column_types,
    require_columns,
    spark_column_types,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame
    from pyspark.sql import SparkSession

    from sparksweep.scoring._driver import ScoringModel
    from sparksweep.scoring._files import FileJob, ParquetSource
    from sparksweep.scoring._udf import ShippedModel

__all__ = [
    "ARROW_BATCH_ROWS",
    "ScoreReport",
    "Udf",
    "download_model",
    "downloaded_model",
    "load_model",
    "model_features",
    "read_input",
    "resolve_model_uri",
    "score_pandas",
    "score_spark",
    "score_table",
]

ARROW_BATCH_ROWS = 100_000
"""Rows per Arrow batch while scoring (Spark's default, 10,000, costs ~10% in per-batch overhead here)."""
Udf = Literal["arrow", "spark_udf"]
"""How Spark scores a DataFrame: sparksweep's Arrow UDF (its own models) or ``mlflow.pyfunc.spark_udf`` (any pyfunc
model)."""
_UDFS = ("arrow", "spark_udf")
_NUMERIC_TYPES = frozenset({"long", "integer", "double", "float", "boolean"})
_SPARK_SQL_TYPES = {"long": "bigint", "integer": "int", "double": "double", "float": "float", "boolean": "boolean"}


def resolve_model_uri(model_uri: str, tracking_uri: str | None = None) -> str:
    """The artifact location behind a ``models:/`` or ``runs:/`` URI, looked up in the given store.

    MLflow resolves such URIs through its global tracking URI even when another one is passed, so sparksweep
    resolves them itself: ``models:/m-<id>`` (a logged model), ``models:/<name>@<alias>``, ``models:/<name>/<version>``
    and ``runs:/<run_id>/<path>``. Anything else is returned unchanged.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        if model_uri.startswith("runs:/"):
            run_id, _, path = model_uri.removeprefix("runs:/").partition("/")
            return f"{client.get_run(run_id).info.artifact_uri.rstrip('/')}/{path}"
        if not model_uri.startswith("models:/"):
            return model_uri
        ref = model_uri.removeprefix("models:/").strip("/")
        if ref.startswith("m-") and "/" not in ref and "@" not in ref:
            return str(client.get_logged_model(ref).artifact_location)
        if "@" in ref:
            name, alias = ref.split("@", 1)
            version = client.get_model_version_by_alias(name, alias)
        else:
            name, _, number = ref.partition("/")
            if not number.isdigit():
                raise RegistryError(
                    f"model URI {model_uri!r} names no version or alias; use models:/{name}@champion "
                    f"or models:/{name}/<version>"
                )
            version = client.get_model_version(name, number)
    except MlflowException as exc:
        raise RegistryError(
            f"could not find model {model_uri!r} in {tracking_uri or 'the default tracking store'}: {exc.message}. "
            "Check the model name and alias (e.g. models:/<name>@champion) and the tracking URI"
        ) from exc
    if version.model_id:
        return resolve_model_uri(f"models:/{version.model_id}", tracking_uri)
    return resolve_model_uri(str(version.source), tracking_uri)


def download_model(model_uri: str, tracking_uri: str | None = None, dst: str | Path | None = None) -> str:
    """Copy a model (``models:/name@alias``, ``models:/m-<id>``, ``runs:/...`` or a path) to a local folder.

    The copy goes to ``dst``, or, without it, to a temporary folder removed when this process exits (use
    :func:`downloaded_model` to remove it as soon as it is no longer needed). A local path is returned unchanged.
    The tracking/registry URI is passed explicitly, so no global MLflow state is read or changed.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    if Path(model_uri).exists():
        return str(model_uri)
    location = resolve_model_uri(model_uri, tracking_uri)
    if dst is None:
        dst = tempfile.mkdtemp(prefix="sparksweep-model-")
        atexit.register(shutil.rmtree, dst, ignore_errors=True)
    try:
        return str(
            mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=str(dst), tracking_uri=tracking_uri)
        )
    except MlflowException as exc:
        raise RegistryError(f"could not download model {model_uri!r} from {location}: {exc.message}") from exc


@contextlib.contextmanager
def downloaded_model(model_uri: str, tracking_uri: str | None = None) -> Iterator[str]:
    """A local copy of a model for the ``with`` block; the copy is removed when the block ends (a local path is
    used in place and kept).

    Example:
        >>> with downloaded_model("models:/churn@champion", uri) as path:  # doctest: +SKIP
        ...     model = mlflow.pyfunc.load_model(path)
    """
    if Path(model_uri).exists():
        yield str(model_uri)
        return
    with tempfile.TemporaryDirectory(prefix="sparksweep-model-") as tmp:
        yield download_model(model_uri, tracking_uri, dst=tmp)


def load_model(model_uri: str, tracking_uri: str | None = None) -> Any:
    """Load a model as an ``mlflow.pyfunc.PyFuncModel``; a downloaded copy is removed once it is in memory."""
    import mlflow

    with downloaded_model(model_uri, tracking_uri) as local:
        return mlflow.pyfunc.load_model(local)


def model_features(model: Any) -> list[str]:
    """The input columns a pyfunc model's signature asks for (empty when it has no signature)."""
    return list(model_input_types(model))


@dataclass(frozen=True)
class _ModelKind:
    """What the scorer needs to know about a model: its task and classes when it is one of sparksweep's own, and
    the wrapper itself when it has ``predict_array`` (models logged by older versions lack it)."""

    task: str | None
    classes: list[str]
    inner: Any = field(default=None, compare=False)

    @classmethod
    def of(cls, model: Any) -> _ModelKind:
        from mlflow.exceptions import MlflowException

        try:
            inner = model.unwrap_python_model()
        except MlflowException:  # not a PythonModel: a model of another flavor
            return cls(None, [])
        task = getattr(inner, "task", None)
        if type(inner).__name__ != "SparkSweepModel" or task not in ("binary", "multiclass", "regression"):
            return cls(None, [])
        fast = inner if callable(getattr(inner, "predict_array", None)) else None
        return cls(str(task), [str(c) for c in getattr(inner, "classes", [])], fast)

    def takes_matrix(self, input_types: dict[str, str]) -> bool:
        """Whether batches may go to the model as one float64 matrix (every input numeric, and the model takes it)."""
        numeric = bool(input_types) and all(t in _NUMERIC_TYPES for t in input_types.values())
        return numeric and self.inner is not None and bool(getattr(self.inner, "takes_matrix", False))


def _pandas_output(prediction: Any, kind: _ModelKind, index: Any, prediction_col: str) -> pd.DataFrame:
    values = np.asarray(prediction, dtype=np.float64)
    if values.ndim == 2:
        labels = np.asarray(kind.classes if len(kind.classes) == values.shape[1] else range(values.shape[1]), dtype=str)
        return pd.DataFrame(
            {"probabilities": list(values), prediction_col: labels[values.argmax(axis=1)]},
            index=index,
        )
    return pd.DataFrame({prediction_col: values}, index=index)


def score_pandas(
    df: pd.DataFrame,
    model_uri: str,
    *,
    tracking_uri: str | None = None,
    prediction_col: str = "prediction",
    keep: list[str] | None = None,
    model: Any = None,
) -> pd.DataFrame:
    """Score a pandas DataFrame; returns the ``keep`` columns (all columns when None) plus the prediction column(s).

    The columns are checked against the model's signature once; sparksweep's own models are then called directly
    (a LightGBM model with numeric features gets one float64 matrix), other models through ``predict``.

    Args:
        df: The rows to score; the model's feature columns are matched by name and type.
        model_uri: ``models:/<name>@champion``, ``models:/m-<id>``, ``runs:/...`` or a local path.
        tracking_uri: The store that resolves ``models:/`` URIs.
        prediction_col: Name of the prediction column.
        keep: Columns carried through (e.g. ``["user_id"]``).
        model: An already loaded pyfunc model for ``model_uri`` (skips the download).

    Example:
        >>> score_pandas(users, "models:/churn@champion", keep=["user_id"])  # doctest: +SKIP
    """
    model = model if model is not None else load_model(model_uri, tracking_uri)
    required = model_input_types(model)
    kind = _ModelKind.of(model)
    if kind.takes_matrix(required):
        require_columns(required, pandas_column_types(df[[c for c in required if c in df.columns]]), model_uri)
        prediction = kind.inner.predict_array(df[list(required)].to_numpy(np.float64, na_value=np.nan))
    else:
        features = categories_as_text(df)  # models take text where a table has pandas categories
        match = require_columns(required, pandas_column_types(features), model_uri)
        X = features[list(required)] if required else features
        if match.casts:
            X = X.astype({c: _numpy_type(t) for c, t in match.casts.items()})
        prediction = kind.inner.predict_array(X) if kind.inner is not None else model.predict(X)
    out = df.copy() if keep is None else df[keep].copy()
    scored = _pandas_output(prediction, kind, out.index, prediction_col)
    return pd.concat([out, scored], axis=1)


def _numpy_type(mlflow_type: str) -> str:
    return {"long": "int64", "integer": "int32", "double": "float64", "float": "float32"}.get(mlflow_type, "object")


@dataclass
class _Scoring:
    """A lazily scored Spark DataFrame and what to clean up once the jobs that read it are done: the broadcast
    holding sparksweep's model, or the files ``spark_udf`` left on the driver."""

    frame: SparkDataFrame
    shipped: ShippedModel | None = None
    leftovers: list[Path] = field(default_factory=list)

    def release(self) -> None:
        if self.shipped is not None:
            self.shipped.release()
        _remove_files(self.leftovers)


def _remove_files(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _generic_udf(spark: SparkSession, local: str, result_type: str) -> tuple[Any, list[Path]]:
    """``mlflow.pyfunc.spark_udf`` on a local model folder, and the files it leaves on the driver:
    ``SparkModelCache.add_local_model`` zips the model into the temp folder and never removes the zip."""
    import mlflow

    before = set(spark.sparkContext.listFiles)
    udf = mlflow.pyfunc.spark_udf(spark, local, result_type=result_type, env_manager="local")
    temp = Path(tempfile.gettempdir()).resolve()
    leftovers: list[Path] = []
    for uri in spark.sparkContext.listFiles:
        archive = Path(uri.removeprefix("file:").removeprefix("//"))
        if uri not in before and archive.suffix == ".zip" and archive.resolve().parent == temp:
            leftovers += [archive, archive.with_suffix("")]  # the zip, and the empty file mkstemp made for its name
    return udf, leftovers


def score_spark(
    df: SparkDataFrame,
    model_uri: str,
    *,
    tracking_uri: str | None = None,
    prediction_col: str = "prediction",
    keep: list[str] | None = None,
    result_type: str | None = None,
    threads: int | None = None,
    udf: Udf = "arrow",
) -> SparkDataFrame:
    """Score a Spark DataFrame lazily; returns the ``keep`` columns (all when None) plus the prediction column(s).

    The model is resolved and downloaded once on the driver, its signature is checked against ``df``'s columns
    (name and type; safe widenings are cast) before any job starts, and the downloaded copy is removed at once.
    ``udf="spark_udf"`` scores through ``mlflow.pyfunc.spark_udf`` instead of sparksweep's Arrow UDF (models that
    are not sparksweep's own always do); ``result_type`` is only used there (default ``double``), and what
    ``spark_udf`` leaves on the driver is removed when this process exits (the DataFrame may be evaluated any time
    before). ``threads`` caps each task's model threads (default ``spark.task.cpus``, so concurrent tasks do not
    oversubscribe the cores).

    Example:
        >>> scored = score_spark(spark.table("users"), "models:/churn@champion", keep=["user_id"])  # doctest: +SKIP
    """
    import mlflow

    with downloaded_model(model_uri, tracking_uri) as local:
        model = mlflow.pyfunc.load_model(local)
        scoring = _score_loaded(df, local, model, model_uri, prediction_col, keep, result_type, threads, udf)
    atexit.register(_remove_files, scoring.leftovers)
    return scoring.frame


def _score_loaded(
    df: SparkDataFrame,
    local: str,
    model: Any,
    model_uri: str,
    prediction_col: str,
    keep: list[str] | None,
    result_type: str | None,
    threads: int | None = None,
    udf: Udf = "arrow",
) -> _Scoring:
    """Build the scored DataFrame; ``local`` (the model folder) is no longer needed when this returns."""
    from pyspark.sql import functions as sf

    from sparksweep.scoring._udf import scoring_udf, ship_model

    _check_udf(udf)
    required = model_input_types(model) or {c: "" for c in df.columns if c not in (keep or [])}
    match = require_columns(required, spark_column_types(df.schema), model_uri) if any(required.values()) else None
    inputs = [
        sf.col(c).cast(_SPARK_SQL_TYPES[match.casts[c]]).alias(c) if match and c in match.casts else sf.col(c)
        for c in required
    ]
    kept = [sf.col(c) for c in (keep if keep is not None else df.columns)]
    kind = _ModelKind.of(model)
    if kind.task is None or udf == "spark_udf":
        generic, leftovers = _generic_udf(df.sparkSession, local, result_type or _default_result_type(kind))
        scored = generic(*inputs)
        if kind.task == "multiclass":
            return _Scoring(_multiclass_columns(df, kept, scored, prediction_col, kind), leftovers=leftovers)
        return _Scoring(df.select(*kept, scored.alias(prediction_col)), leftovers=leftovers)
    threads = threads or _task_cpus(df.sparkSession)
    shipped = ship_model(df.sparkSession, local)
    ours = scoring_udf(shipped, str(kind.task), kind.classes, list(required), threads, kind.takes_matrix(required))
    scored = ours(*inputs)
    if kind.task == "multiclass":
        probabilities = scored["probabilities"].alias("probabilities")
        out = df.select(*kept, probabilities, scored["prediction"].alias(prediction_col))
    else:
        out = df.select(*kept, scored.alias(prediction_col))
    return _Scoring(out, shipped=shipped)


def _check_udf(udf: str | None) -> None:
    if udf is not None and udf not in _UDFS:
        raise DataError(f"udf must be one of {', '.join(map(repr, _UDFS))} (or None in score_table), got {udf!r}")


def _slots(spark: SparkSession) -> int:
    """The tasks the registered executors run at once (cores / ``spark.task.cpus``); before any has registered on a
    cluster, Spark's default parallelism."""
    from sparksweep._spark import current_slots

    return current_slots(spark) or int(spark.sparkContext.defaultParallelism)


def _task_cpus(spark: SparkSession) -> int:
    return int(spark.conf.get("spark.task.cpus", "1") or 1)


def _default_result_type(kind: _ModelKind) -> str:
    return "array<double>" if kind.task == "multiclass" else "double"


def _multiclass_columns(
    df: SparkDataFrame, kept: list[Any], probabilities: Any, prediction_col: str, kind: _ModelKind
) -> SparkDataFrame:
    """``probabilities`` (spark_udf's array) and the most probable class label, the columns sparksweep's UDF gives."""
    from pyspark.sql import functions as sf

    scored = df.select(*kept, probabilities.alias("probabilities"))
    column = sf.col("probabilities")
    best = sf.array_position(column, sf.array_max(column)).cast("int")  # 1-based
    labels = sf.array(*[sf.lit(c) for c in kind.classes])
    label = sf.when(sf.size(column) == len(kind.classes), sf.element_at(labels, best)).otherwise(
        (best - 1).cast("string")
    )
    return scored.select("*", label.alias(prediction_col))


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

    Example:
        >>> score_table("models:/churn@champion", input_path="users.parquet", output_path="scores.parquet",
        ...             keep=["user_id"])  # doctest: +SKIP
    """
    if (output_path is None) == (output_table is None):
        raise DataError("give exactly one output: a parquet path or a Spark table name")
    if (input_path is None) == (input_table is None):
        raise DataError("give exactly one input: a parquet/csv path or a Spark table name")
    _check_udf(udf)
    if spark is None:
        from sparksweep._spark import get_spark

        spark = get_spark()
    import mlflow

    started = time.perf_counter()
    if input_path is not None and not Path(input_path).exists() and "://" not in input_path:
        raise DataError(f"input {input_path!r} does not exist (resolved against {Path.cwd()})")
    if udf is None and input_path is not None and output_path is not None:
        from sparksweep.scoring._files import parquet_source

        source = parquet_source(input_path)
        if source is not None:
            written = _score_files(spark, source, output_path, model_uri, tracking_uri, keep, threads)
            if written is not None:
                return ScoreReport(written[0], output_path, time.perf_counter() - started, written[1], "files")
    with downloaded_model(model_uri, tracking_uri) as local:
        model = mlflow.pyfunc.load_model(local)
        kind = _ModelKind.of(model)
        df = read_input(spark, path=input_path, table=input_table)
        slots = spark.sparkContext.defaultParallelism
        if df.rdd.getNumPartitions() < slots:  # Spark reads a small file as one partition: spread it over the slots
            df = df.repartition(slots)
        features = model_features(model)
        kept = keep if keep is not None else [c for c in df.columns if c not in features]
        scoring = _score_loaded(df, local, model, model_uri, "prediction", kept, None, threads, udf or "arrow")
    from pyspark.sql import Observation
    from pyspark.sql import functions as sf

    rows = Observation("sparksweep_scored_rows")  # counted by the write job itself, not by reading the output again
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
    return ScoreReport(
        rows=int(rows.get["rows"]),
        output=str(output_path or output_table),
        seconds=time.perf_counter() - started,
        columns=scoring.frame.columns,
        method="spark_udf" if udf == "spark_udf" or kind.task is None else "arrow",
    )


def _score_files(
    spark: SparkSession,
    source: ParquetSource,
    output_path: str,
    model_uri: str,
    tracking_uri: str | None,
    keep: list[str] | None,
    threads: int | None,
) -> tuple[int, list[str]] | None:
    """Score a parquet input into a parquet folder in Spark tasks that read and write with pyarrow; returns the rows
    written and the output's columns, or None for a model that is not sparksweep's own (the UDF path scores it).
    Every check is made before the job starts."""
    from sparksweep.scoring._driver import scoring_model
    from sparksweep.scoring._files import score_files, task_count

    scoring = scoring_model(spark, model_uri, tracking_uri)
    try:
        kind = _ModelKind.of(scoring.model)
        if kind.task is None:
            return None
        job = _file_job(scoring, kind, source, output_path, model_uri, keep, threads or _task_cpus(spark))
        rows = score_files(spark, source, job, task_count(source.rows, _slots(spark)))
        return rows, list(job.schema.names)
    finally:
        scoring.done()


def _file_job(
    scoring: ScoringModel,
    kind: _ModelKind,
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
