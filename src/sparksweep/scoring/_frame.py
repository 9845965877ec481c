"""Scoring a Spark DataFrame lazily: the model's signature checked against the DataFrame's columns on the driver,
then sparksweep's own models scored by its ``mapInArrow`` function (see :mod:`sparksweep.scoring._udf`), which
loads the model once per Python worker process, calls it without MLflow's per-batch schema enforcement and caps each
task's model threads at ``spark.task.cpus``; ``udf="spark_udf"`` (and any model that is not sparksweep's own) goes
through ``mlflow.pyfunc.spark_udf``. On a Spark Connect session the model rides in the function's closure, or is
staged in ``staging_dir`` when it is big (:mod:`sparksweep.scoring._ship`); the outputs are the same, row for row.

Output columns, by task: binary, ``prediction`` = P(positive class) as a double; multiclass, ``probabilities`` (an
array in class order) and ``prediction`` (the most probable class label); regression, ``prediction`` as a double.

Example:
    >>> scored = score_spark(spark.table("users"), "models:/churn@champion", keep=["user_id"])  # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sparksweep._spark import is_remote
from sparksweep.errors import DataError
from sparksweep.scoring._models import ModelKind, downloaded_model, resolve_model_uri
from sparksweep.scoring._session import session_mode
from sparksweep.scoring.schema import model_input_types, require_columns, spark_column_types

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame
    from pyspark.sql import SparkSession

    from sparksweep.scoring._ship import ShippedModel

__all__ = ["Scoring", "Udf", "arrow_frame", "check_udf", "score_loaded", "score_spark", "task_cpus"]

Udf = Literal["arrow", "spark_udf"]
"""How Spark scores a DataFrame: sparksweep's Arrow UDF (its own models) or ``mlflow.pyfunc.spark_udf`` (any pyfunc
model)."""
_UDFS = ("arrow", "spark_udf")
_SPARK_SQL_TYPES = {"long": "bigint", "integer": "int", "double": "double", "float": "float", "boolean": "boolean"}


@dataclass
class Scoring:
    """A lazily scored Spark DataFrame and what to clean up once the jobs that read it are done: the broadcast or
    staged file holding sparksweep's model, or the files ``spark_udf`` left on the driver."""

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


def _generic_udf(spark: SparkSession, local: str, result_type: str, lasting: str) -> tuple[Any, list[Path]]:
    """``mlflow.pyfunc.spark_udf`` on a local model folder, and the files it leaves on the driver:
    ``SparkModelCache.add_local_model`` zips the model into the temp folder and never removes the zip.

    On Spark Connect MLflow ships no files: each Python worker loads the model from the URI it is given, so it gets
    ``lasting`` (the model's artifact location in the store, or a local model folder made absolute), not the
    download that is removed before the DataFrame is evaluated."""
    import mlflow

    if is_remote(spark):
        return mlflow.pyfunc.spark_udf(spark, lasting, result_type=result_type, env_manager="local"), []
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
    staging_dir: str | None = None,
) -> SparkDataFrame:
    """Score a Spark DataFrame lazily; returns the ``keep`` columns (all when None) plus the prediction column(s).

    The model is resolved and downloaded once on the driver, its signature is checked against ``df``'s columns
    (name and type; safe widenings are cast) before any job starts, and the downloaded copy is removed at once.
    ``udf="spark_udf"`` scores through ``mlflow.pyfunc.spark_udf`` instead of sparksweep's Arrow UDF (models that
    are not sparksweep's own always do); ``result_type`` is only used there (default ``double``), and what
    ``spark_udf`` leaves on the driver is removed when this process exits (the DataFrame may be evaluated any time
    before). ``threads`` caps each task's model threads (default ``spark.task.cpus``, so concurrent tasks do not
    oversubscribe the cores).

    On a Spark Connect session (no broadcast) the model rides inside the UDF's closure; one over
    :data:`~sparksweep.scoring._ship.INLINE_BYTES` zipped is staged in ``staging_dir``, a folder every executor can
    read (a Unity Catalog volume on Databricks), and that file is removed when this process exits.
    ``udf="spark_udf"`` on Spark Connect ships no model files: its Python workers load the model from its store
    (its artifact location; a local model folder only where the executors share this machine's disk).

    Example:
        >>> scored = score_spark(spark.table("users"), "models:/churn@champion", keep=["user_id"])  # doctest: +SKIP
    """
    import mlflow

    with session_mode(df.sparkSession), downloaded_model(model_uri, tracking_uri) as local:
        model = mlflow.pyfunc.load_model(local)
        scoring = score_loaded(
            df, local, model, model_uri, prediction_col, keep, result_type, threads, udf, staging_dir, tracking_uri
        )
    atexit.register(_remove_files, scoring.leftovers)
    if scoring.shipped is not None and scoring.shipped.holds_files:
        atexit.register(scoring.shipped.release)
    return scoring.frame


def score_loaded(
    df: SparkDataFrame,
    local: str,
    model: Any,
    model_uri: str,
    prediction_col: str,
    keep: list[str] | None,
    result_type: str | None,
    threads: int | None = None,
    udf: Udf = "arrow",
    staging_dir: str | None = None,
    tracking_uri: str | None = None,
) -> Scoring:
    """Build the scored DataFrame; ``local`` (the model folder) is no longer needed when this returns."""
    from sparksweep.scoring._ship import ship_model

    check_udf(udf)
    required = model_input_types(model) or {c: "" for c in df.columns if c not in (keep or [])}
    kept = keep if keep is not None else df.columns
    kind = ModelKind.of(model)
    if kind.task is None or udf == "spark_udf":
        from pyspark.sql import functions as sf

        inputs = [c.alias(name) for c, name in zip(_inputs(df, required, model_uri), required, strict=True)]
        lasting = lasting_uri(model_uri, tracking_uri) if is_remote(df.sparkSession) else local
        generic, leftovers = _generic_udf(df.sparkSession, local, result_type or _default_result_type(kind), lasting)
        scored = generic(*inputs)
        columns = [sf.col(c) for c in kept]
        if kind.task == "multiclass":
            return Scoring(_multiclass_columns(df, columns, scored, prediction_col, kind), leftovers=leftovers)
        return Scoring(df.select(*columns, scored.alias(prediction_col)), leftovers=leftovers)
    shipped = ship_model(df.sparkSession, local, staging_dir)
    return Scoring(arrow_frame(df, model, shipped, model_uri, prediction_col, keep, threads), shipped=shipped)


def arrow_frame(
    df: SparkDataFrame,
    model: Any,
    shipped: ShippedModel,
    model_uri: str,
    prediction_col: str,
    keep: list[str] | None,
    threads: int | None,
) -> SparkDataFrame:
    """``df`` scored by sparksweep's ``mapInArrow`` (:mod:`sparksweep.scoring._udf`): the ``keep`` columns (all when
    None) and the prediction column(s) of ``model``, one of sparksweep's own, whose files ``shipped`` carries to the
    workers."""
    from pyspark.sql import functions as sf
    from pyspark.sql import types as st

    from sparksweep.scoring._udf import prediction_fields, scoring_map

    kind = ModelKind.of(model)
    required = model_input_types(model) or {c: "" for c in df.columns if c not in (keep or [])}
    kept = keep if keep is not None else df.columns
    # the features under names of their own: a kept column may be a feature too
    inputs = [c.alias(f"_sparksweep_feature_{i}") for i, c in enumerate(_inputs(df, required, model_uri))]
    selected = df.select(*[sf.col(c) for c in kept], *inputs)
    fields = [*selected.schema.fields[: len(kept)], *prediction_fields(str(kind.task), prediction_col)]
    score = scoring_map(
        shipped,
        kind.classes,
        list(required),
        len(kept),
        [f.name for f in fields],
        threads or task_cpus(df.sparkSession),
        kind.takes_matrix(required),
    )
    return selected.mapInArrow(score, st.StructType(fields))


def _inputs(df: SparkDataFrame, required: dict[str, str], model_uri: str) -> list[Any]:
    """The model's input columns of ``df``, in signature order, safe widenings cast (checked against the signature
    first, when the model has one)."""
    from pyspark.sql import functions as sf

    match = require_columns(required, spark_column_types(df.schema), model_uri) if any(required.values()) else None
    return [
        sf.col(c).cast(_SPARK_SQL_TYPES[match.casts[c]]) if match and c in match.casts else sf.col(c) for c in required
    ]


def lasting_uri(model_uri: str, tracking_uri: str | None) -> str:
    """Where the model stays while a lazily scored DataFrame may be evaluated: a local folder (made absolute), else
    its artifact location in the store (``models:/`` and ``runs:/`` resolved there)."""
    if Path(model_uri).exists():
        return str(Path(model_uri).resolve())
    return resolve_model_uri(model_uri, tracking_uri)


def check_udf(udf: str | None) -> None:
    if udf is not None and udf not in _UDFS:
        raise DataError(f"udf must be one of {', '.join(map(repr, _UDFS))} (or None in score_table), got {udf!r}")


def task_cpus(spark: SparkSession) -> int:
    return int(spark.conf.get("spark.task.cpus", "1") or 1)


def _default_result_type(kind: ModelKind) -> str:
    return "array<double>" if kind.task == "multiclass" else "double"


def _multiclass_columns(
    df: SparkDataFrame, kept: list[Any], probabilities: Any, prediction_col: str, kind: ModelKind
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
