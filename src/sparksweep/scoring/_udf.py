"""sparksweep's own Spark scoring UDF: an Arrow UDF over the feature columns, with the model loaded once per Python
worker process.

What makes it fast (benchmarks/bench_scoring.py measures it against the raw model and ``mlflow.pyfunc.spark_udf``):

* the feature columns travel as Arrow arrays and, for a LightGBM model with numeric features only, go straight into
  a float64 matrix for the booster: no pandas frame, no MLflow schema enforcement per batch (the signature was
  checked once, on the driver);
* the model is unpacked and loaded once per Python worker (Spark reuses its Python workers across tasks,
  ``spark.python.worker.reuse``), cached by the digest of its files;
* each task's model threads are capped (default ``spark.task.cpus``), so concurrent tasks do not oversubscribe the
  cores; the key columns stay in the JVM.

The model's files travel to the executors as a zip held in a Spark broadcast: nothing is written on the driver, and
a worker unpacks them into a temporary folder that is removed as soon as the model is in memory.

Example:
    >>> shipped = ship_model(spark, "/path/to/model")  # doctest: +SKIP
    >>> df.select("user_id", scoring_udf(shipped, "binary", [], features, 1, True)(*features))  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import tempfile
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark import Broadcast
    from pyspark.sql import SparkSession

__all__ = ["ShippedModel", "arrow_output", "predict_columns", "scoring_udf", "ship_model", "worker_model"]

_CACHED_MODELS = 4
"""Models kept per Python worker process (a long-lived worker may score with several models in turn)."""
_models: OrderedDict[str, Any] = OrderedDict()
"""digest -> the loaded python model, in this (worker) process; a cache of immutable models, not run state."""


@dataclass(frozen=True)
class ShippedModel:
    """A model's files zipped into a Spark broadcast, named by their digest."""

    digest: str
    payload: Broadcast[bytes]

    def release(self) -> None:
        """Drop the broadcast from the driver and the executors (once no job needs it any more)."""
        self.payload.destroy()


def zip_model(local: str | Path) -> bytes:
    """The files of a model folder as zip bytes (in memory)."""
    buffer = io.BytesIO()
    root = Path(local)
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            archive.write(file, file.relative_to(root).as_posix())
    return buffer.getvalue()


def ship_model(spark: SparkSession, local: str | Path) -> ShippedModel:
    """Zip the model folder ``local`` into a broadcast; the folder may be removed as soon as this returns."""
    payload = zip_model(local)
    digest = hashlib.sha256(payload).hexdigest()
    return ShippedModel(digest=digest, payload=spark.sparkContext.broadcast(payload))


def load_zipped_model(payload: bytes) -> Any:
    """Load a zipped pyfunc model and return its python model; the unpacked files are removed once it is loaded."""
    import mlflow

    with tempfile.TemporaryDirectory(prefix="sparksweep-model-") as tmp:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            archive.extractall(tmp)
        return mlflow.pyfunc.load_model(tmp).unwrap_python_model()


def worker_model(shipped: ShippedModel) -> Any:
    """The python model of ``shipped``, loaded at most once per process (runs in the Python workers)."""
    model = _models.get(shipped.digest)
    if model is None:
        model = load_zipped_model(shipped.payload.value)
        _models[shipped.digest] = model
        while len(_models) > _CACHED_MODELS:
            _models.popitem(last=False)
    else:
        _models.move_to_end(shipped.digest)
    return model


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
