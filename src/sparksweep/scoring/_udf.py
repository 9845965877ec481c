"""sparksweep's own Spark scoring function: a ``mapInArrow`` over the kept and feature columns, with the model loaded
once per Python worker process.

What makes it fast (benchmarks/bench_scoring.py measures it against the raw model and ``mlflow.pyfunc.spark_udf``;
``--profile`` times the table path's phases):

* whole Arrow batches go to Python and come back as they are plus the prediction columns (``mapInArrow``): no
  scalar UDF's row queue in the JVM, whose rows are joined back to the results (~15% of the table path);
* for a LightGBM model with numeric features only, the feature columns go straight from Arrow into a float64 matrix
  for the booster; otherwise only the feature columns become a pandas frame. No MLflow schema enforcement per batch
  (the signature was checked once, on the driver);
* the model is unpacked and loaded once per Python worker (Spark reuses its Python workers across tasks,
  ``spark.python.worker.reuse``), cached by the sha256 of its files (:mod:`sparksweep.scoring._ship`: how it gets
  there, a broadcast on a classic session, the function's closure or a staged file on Spark Connect);
* each task's model threads are capped (default ``spark.task.cpus``), so concurrent tasks do not oversubscribe the
  cores.

Example:
    >>> shipped = ship_model(spark, "/path/to/model")  # sparksweep.scoring._ship  # doctest: +SKIP
    >>> score = scoring_map(shipped, [], features, 1, ["user_id", "prediction"], 1, True)  # doctest: +SKIP
    >>> df.select("user_id", *features).mapInArrow(score, "user_id long, prediction double")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sparksweep.scoring._ship import worker_model

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql.types import StructField

    from sparksweep.scoring._ship import ShippedModel

__all__ = ["feature_matrix", "predict_columns", "prediction_arrays", "prediction_fields", "scoring_map"]


def feature_matrix(columns: Sequence[pa.Array]) -> np.ndarray:
    """Numeric (or boolean) Arrow columns as one float64 matrix, column-major (LightGBM takes it without a copy);
    nulls become NaN, the booster's missing value."""
    import pyarrow.compute as pc

    rows = len(columns[0]) if columns else 0
    out = np.empty((len(columns), rows), dtype=np.float64)
    for i, column in enumerate(columns):
        out[i] = pc.cast(column, "float64", safe=False).to_numpy(zero_copy_only=False)
    return out.T


def predict_columns(
    model: Any, columns: Sequence[pa.Array], features: list[str], threads: int, matrix: bool
) -> np.ndarray:
    """The python model's predictions (float64, ``[n]`` or ``[n, classes]``) for the feature columns, given in
    ``features`` order: one float64 matrix when ``matrix``, otherwise a pandas frame."""
    import pyarrow as pa

    if matrix:
        return np.asarray(model.predict_array(feature_matrix(columns), threads), dtype=np.float64)
    frame = pa.Table.from_arrays(list(columns), names=features).to_pandas()
    if hasattr(model, "predict_array"):
        return np.asarray(model.predict_array(frame, threads), dtype=np.float64)
    # a model logged by an older sparksweep, whose wrapper has only predict()
    return np.asarray(model.predict(None, frame), dtype=np.float64)


def prediction_arrays(values: np.ndarray, classes: np.ndarray) -> list[pa.Array]:
    """Predictions as Arrow columns: one double array, or for multiclass ``probabilities`` (a list of doubles in
    class order) and ``prediction`` (the most probable class label, from ``classes`` when they match)."""
    import pyarrow as pa

    if values.ndim == 1:
        return [pa.array(values, type=pa.float64())]
    rows, width = values.shape
    offsets = pa.array(np.arange(0, rows * width + 1, width, dtype=np.int32))
    probabilities = pa.ListArray.from_arrays(offsets, pa.array(values.ravel(), type=pa.float64()))
    picked = values.argmax(axis=1)
    labels = classes[picked] if len(classes) == width else picked.astype(str)
    return [probabilities, pa.array(labels, type=pa.string())]


def prediction_fields(task: str, prediction_col: str) -> list[StructField]:
    """The Spark fields :func:`prediction_arrays` fills: ``prediction_col`` (a double, or for multiclass the label)
    after ``probabilities`` (an array of doubles) for multiclass."""
    from pyspark.sql import types as st

    if task == "multiclass":
        return [
            st.StructField("probabilities", st.ArrayType(st.DoubleType())),
            st.StructField(prediction_col, st.StringType()),
        ]
    return [st.StructField(prediction_col, st.DoubleType())]


def scoring_map(
    shipped: ShippedModel,
    classes: list[str],
    features: list[str],
    kept: int,
    names: list[str],
    threads: int,
    matrix: bool,
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A ``mapInArrow`` function over batches holding the ``kept`` columns first, then the feature columns (in
    ``features`` order): each batch comes back as the kept columns, untouched, and the prediction columns
    (:func:`prediction_arrays`), named ``names``.

    ``matrix`` sends the features to the model as one float64 matrix (all features numeric, and the model takes a
    matrix); otherwise only the feature columns become a pandas frame.
    """
    labels = np.asarray(classes, dtype=object)

    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa
        from threadpoolctl import threadpool_limits

        model = worker_model(shipped)
        # LightGBM takes its thread count per call; other libraries' OpenMP/BLAS pools are capped around the task
        with contextlib.nullcontext() if matrix else threadpool_limits(limits=threads):
            for batch in batches:
                columns = batch.columns
                values = predict_columns(model, columns[kept:], features, threads, matrix)
                yield pa.RecordBatch.from_arrays([*columns[:kept], *prediction_arrays(values, labels)], names=names)

    return score
