"""Batch scoring with a logged or registered model: on Spark, or on pandas for small data.

Output columns, by task: binary, ``prediction`` = P(positive class) as a double; multiclass, ``probabilities`` (an
array in class order) and ``prediction`` (the most probable class label); regression, ``prediction`` as a double.
Input columns are matched to the model's signature by name and type before any job starts.

On Spark, sparksweep's own models are scored by a pandas UDF that loads the model once per Python worker process,
calls it without MLflow's per-batch schema enforcement (the schema was checked once, on the driver) and caps each
task's model threads at ``spark.task.cpus``; any other pyfunc model goes through ``mlflow.pyfunc.spark_udf``.

Example:
    >>> preds = score_pandas(df, "models:/churn-model@champion")  # doctest: +SKIP
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sparksweep.data import categories_as_text
from sparksweep.errors import DataError, RegistryError
from sparksweep.scoring.schema import (
    model_input_types,
    pandas_column_types,
    require_columns,
    spark_column_types,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame
    from pyspark.sql import SparkSession

__all__ = [
    "ARROW_BATCH_ROWS",
    "ScoreReport",
    "download_model",
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

    The tracking/registry URI is passed explicitly, so no global MLflow state is read or changed.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    if Path(model_uri).exists():
        return str(model_uri)
    location = resolve_model_uri(model_uri, tracking_uri)
    target = str(dst) if dst is not None else tempfile.mkdtemp(prefix="sparksweep-model-")
    try:
        return str(
            mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=target, tracking_uri=tracking_uri)
        )
    except MlflowException as exc:
        raise RegistryError(f"could not download model {model_uri!r} from {location}: {exc.message}") from exc


def load_model(model_uri: str, tracking_uri: str | None = None) -> Any:
    """Load a model as an ``mlflow.pyfunc.PyFuncModel``; a downloaded copy is removed once it is in memory."""
    import mlflow

    if Path(model_uri).exists():
        return mlflow.pyfunc.load_model(model_uri)
    with tempfile.TemporaryDirectory(prefix="sparksweep-model-") as tmp:
        return mlflow.pyfunc.load_model(download_model(model_uri, tracking_uri, dst=tmp))


def model_features(model: Any) -> list[str]:
    """The input columns a pyfunc model's signature asks for (empty when it has no signature)."""
    return list(model_input_types(model))


@dataclass(frozen=True)
class _ModelKind:
    """What the scorer needs to know about a model: its task and classes when it is one of sparksweep's own."""

    task: str | None
    classes: list[str]

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
        return cls(str(task), [str(c) for c in getattr(inner, "classes", [])])


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
    features = categories_as_text(df)  # models take text where a table has pandas categories
    match = require_columns(required, pandas_column_types(features), model_uri)
    X = features[list(required)] if required else features
    if match.casts:
        X = X.astype({c: _numpy_type(t) for c, t in match.casts.items()})
    prediction = model.predict(X)
    out = df.copy() if keep is None else df[keep].copy()
    scored = _pandas_output(prediction, _ModelKind.of(model), out.index, prediction_col)
    return pd.concat([out, scored], axis=1)


def _numpy_type(mlflow_type: str) -> str:
    return {"long": "int64", "integer": "int32", "double": "float64", "float": "float32"}.get(mlflow_type, "object")


def _spark_udf(df: SparkDataFrame, local: str, kind: _ModelKind, threads: int) -> Any:
    """A pandas UDF over a struct of the feature columns that loads the model once per Python worker process."""
    from mlflow.pyfunc.spark_model_cache import SparkModelCache
    from pyspark.sql import functions as sf
    from pyspark.sql import types as st

    archive = SparkModelCache.add_local_model(df.sparkSession, local)  # type: ignore[no-untyped-call]
    classes = np.asarray(kind.classes, dtype=object)
    multiclass = kind.task == "multiclass"
    result_type: st.DataType = (
        st.StructType(
            [
                st.StructField("probabilities", st.ArrayType(st.DoubleType())),
                st.StructField("prediction", st.StringType()),
            ]
        )
        if multiclass
        else st.DoubleType()
    )

    def _predictions(batches: Iterator[pd.DataFrame]) -> Iterator[np.ndarray]:
        from threadpoolctl import threadpool_limits

        model, _ = SparkModelCache.get_or_load(archive)  # type: ignore[no-untyped-call]
        python_model = model.unwrap_python_model()
        with threadpool_limits(limits=threads):
            for frame in batches:
                yield np.asarray(python_model.predict(None, frame), dtype=np.float64)

    def predict_values(batches: Iterator[pd.DataFrame]) -> Iterator[pd.Series]:
        for values in _predictions(batches):
            yield pd.Series(values)

    def predict_classes(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for proba in _predictions(batches):
            labels = classes[proba.argmax(axis=1)] if len(classes) == proba.shape[1] else proba.argmax(axis=1)
            yield pd.DataFrame({"probabilities": list(proba), "prediction": labels.astype(str)})

    predict = predict_classes if multiclass else predict_values
    return sf.pandas_udf(predict, result_type)  # type: ignore[attr-defined]


def score_spark(
    df: SparkDataFrame,
    model_uri: str,
    *,
    tracking_uri: str | None = None,
    prediction_col: str = "prediction",
    keep: list[str] | None = None,
    result_type: str | None = None,
    threads: int | None = None,
) -> SparkDataFrame:
    """Score a Spark DataFrame lazily; returns the ``keep`` columns (all when None) plus the prediction column(s).

    The model is resolved and downloaded once on the driver, its signature is checked against ``df``'s columns
    (name and type; safe widenings are cast) before any job starts. ``result_type`` is only used for models that
    are not sparksweep's own (they go through ``mlflow.pyfunc.spark_udf``; default ``double``). ``threads`` caps
    each task's model threads (default ``spark.task.cpus``, so concurrent tasks do not oversubscribe the cores).

    Example:
        >>> scored = score_spark(spark.table("users"), "models:/churn@champion", keep=["user_id"])  # doctest: +SKIP
    """
    import mlflow

    local = download_model(model_uri, tracking_uri)
    model = mlflow.pyfunc.load_model(local)
    scored = _score_loaded(df, local, model, model_uri, prediction_col, keep, result_type, threads)
    _drop_copy(local, model_uri, model)
    return scored


def _drop_copy(local: str, model_uri: str, model: Any) -> None:
    """Remove a downloaded model copy once sparksweep's UDF has archived it for the executors (the generic
    ``spark_udf`` path keeps it: MLflow may read it again when the job runs)."""
    import shutil

    if local != model_uri and _ModelKind.of(model).task is not None:
        shutil.rmtree(local, ignore_errors=True)


def _score_loaded(
    df: SparkDataFrame,
    local: str,
    model: Any,
    model_uri: str,
    prediction_col: str,
    keep: list[str] | None,
    result_type: str | None,
    threads: int | None = None,
) -> SparkDataFrame:
    import mlflow
    from pyspark.sql import functions as sf

    required = model_input_types(model) or {c: "" for c in df.columns if c not in (keep or [])}
    match = require_columns(required, spark_column_types(df.schema), model_uri) if any(required.values()) else None
    inputs = [
        sf.col(c).cast(_SPARK_SQL_TYPES[match.casts[c]]).alias(c) if match and c in match.casts else sf.col(c)
        for c in required
    ]
    kept = [sf.col(c) for c in (keep if keep is not None else df.columns)]
    kind = _ModelKind.of(model)
    if kind.task is None:
        udf = mlflow.pyfunc.spark_udf(df.sparkSession, local, result_type=result_type or "double", env_manager="local")
        plain: SparkDataFrame = df.select(*kept, udf(*inputs).alias(prediction_col))
        return plain
    if threads is None:
        threads = int(df.sparkSession.conf.get("spark.task.cpus", "1") or 1)
    scored = _spark_udf(df, local, kind, threads)(sf.struct(*inputs))
    if kind.task == "multiclass":
        probabilities = scored["probabilities"].alias("probabilities")
        out: SparkDataFrame = df.select(*kept, probabilities, scored["prediction"].alias(prediction_col))
    else:
        out = df.select(*kept, scored.alias(prediction_col))
    return out


@dataclass(frozen=True)
class ScoreReport:
    """What :func:`score_table` wrote: how many rows, where, and how long it took."""

    rows: int
    output: str
    seconds: float
    columns: list[str]


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
) -> ScoreReport:
    """Read a table (parquet, csv or a Spark table), score it on Spark and write parquet or a Spark table.

    ``keep`` defaults to every column that is not a model feature (ids, dates), so keys are carried through.
    The Arrow batch size is raised to ``batch_rows`` for the job, and an input with fewer partitions than the
    session has task slots is spread over all of them.

    Example:
        >>> score_table("models:/churn@champion", input_path="users.parquet", output_path="scores.parquet",
        ...             keep=["user_id"])  # doctest: +SKIP
    """
    if (output_path is None) == (output_table is None):
        raise DataError("give exactly one output: a parquet path or a Spark table name")
    if spark is None:
        from sparksweep.search.executors import get_spark

        spark = get_spark()
    import mlflow

    started = time.perf_counter()
    df = read_input(spark, path=input_path, table=input_table)
    local = download_model(model_uri, tracking_uri)
    model = mlflow.pyfunc.load_model(local)
    features = model_features(model)
    kept = keep if keep is not None else [c for c in df.columns if c not in features]
    slots = spark.sparkContext.defaultParallelism
    if df.rdd.getNumPartitions() < slots:
        df = df.repartition(slots)
    scored = _score_loaded(df, local, model, model_uri, "prediction", kept, None, threads)
    _drop_copy(local, model_uri, model)
    conf_key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(conf_key, None)
    spark.conf.set(conf_key, str(batch_rows))
    try:
        if output_path is not None:
            scored.write.mode("overwrite").parquet(output_path)
            written = spark.read.parquet(output_path)
        else:
            scored.write.mode("overwrite").saveAsTable(str(output_table))
            written = spark.table(output_table)
    finally:
        if before is None:
            spark.conf.unset(conf_key)
        else:
            spark.conf.set(conf_key, before)
    return ScoreReport(
        rows=written.count(),
        output=str(output_path or output_table),
        seconds=time.perf_counter() - started,
        columns=written.columns,
    )
