"""sparksweep's own Spark scoring UDF: an Arrow UDF over the feature columns, with the model loaded once per Python
worker process.

What makes it fast (benchmarks/bench_scoring.py measures it against the raw model and ``mlflow.pyfunc.spark_udf``):

* the feature columns travel as Arrow arrays and, for a LightGBM model with numeric features only, go straight into
  a float64 matrix for the booster: no pandas frame, no MLflow schema enforcement per batch (the signature was
  checked once, on the driver);
* the model is unpacked and loaded once per Python worker (Spark reuses its Python workers across tasks,
  ``spark.python.worker.reuse``), cached by the sha256 of its files (:mod:`sparksweep.scoring._ship`: how it gets
  there, a broadcast on a classic session, the UDF's closure or a staged file on Spark Connect);
* each task's model threads are capped (default ``spark.task.cpus``), so concurrent tasks do not oversubscribe the
  cores; the key columns stay in the JVM.

Example:
    >>> shipped = ship_model(spark, "/path/to/model")  # sparksweep.scoring._ship  # doctest: +SKIP
    >>> df.select("user_id", scoring_udf(shipped, "binary", [], features, 1, True)(*features))  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sparksweep.scoring._ship import worker_model

if TYPE_CHECKING:
    import pyarrow as pa

    from sparksweep.scoring._ship import ShippedModel

__all__ = ["arrow_output", "predict_columns", "scoring_udf"]


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


def arrow_output(values: np.ndarray, classes: np.ndarray) -> pa.Array:
    """Predictions as Arrow: a double array, or for multiclass a struct of ``probabilities`` (a list of doubles in
    class order) and ``prediction`` (the most probable class label, from ``classes`` when they match)."""
    import pyarrow as pa

    if values.ndim == 1:
        return pa.array(values, type=pa.float64())
    rows, width = values.shape
    offsets = pa.array(np.arange(0, rows * width + 1, width, dtype=np.int32))
    probabilities = pa.ListArray.from_arrays(offsets, pa.array(values.ravel(), type=pa.float64()))
    picked = values.argmax(axis=1)
    labels = classes[picked] if len(classes) == width else picked.astype(str)
    return pa.StructArray.from_arrays(
        [probabilities, pa.array(labels, type=pa.string())], ["probabilities", "prediction"]
    )


def scoring_udf(
    shipped: ShippedModel, task: str, classes: list[str], features: list[str], threads: int, matrix: bool
) -> Callable[..., Any]:
    """An Arrow UDF taking the feature columns (in ``features`` order) and returning the prediction: a double for
    binary (P(positive class)) and regression, a struct of ``probabilities`` and ``prediction`` for multiclass.

    ``matrix`` sends the features to the model as one float64 matrix (all features numeric, and the model takes a
    matrix); otherwise each batch becomes a pandas frame.
    """
    from pyspark.sql import types as st
    from pyspark.sql.pandas.functions import ArrowUDFType, arrow_udf

    labels = np.asarray(classes, dtype=object)
    result_type: st.DataType = (
        st.StructType(
            [
                st.StructField("probabilities", st.ArrayType(st.DoubleType())),
                st.StructField("prediction", st.StringType()),
            ]
        )
        if task == "multiclass"
        else st.DoubleType()
    )

    def predict(batches: Iterator[Any]) -> Iterator[Any]:
        from threadpoolctl import threadpool_limits

        model = worker_model(shipped)
        # LightGBM takes its thread count per call; other libraries' OpenMP/BLAS pools are capped around the task
        with contextlib.nullcontext() if matrix else threadpool_limits(limits=threads):
            for batch in batches:
                columns = (batch,) if not isinstance(batch, tuple) else batch
                yield arrow_output(predict_columns(model, columns, features, threads, matrix), labels)

    with warnings.catch_warnings():
        # pyspark prefers type hints to an explicit UDF type; the explicit type keeps this independent of hints.
        warnings.filterwarnings("ignore", message="It is preferred to specify type hints", category=UserWarning)
        return arrow_udf(predict, result_type, ArrowUDFType.SCALAR_ITER)  # type: ignore[call-overload,no-any-return]
