"""Scoring with a logged or registered model: a Spark DataFrame or table through a Spark UDF (or, parquet to parquet,
pyarrow inside the Spark tasks), or pandas for small data; the model's signature is checked before any job starts.

The modules, in the order a scoring call goes through them: ``_models`` (resolve a model URI in the given store,
download, load, what kind of model it is), ``schema`` (columns matched to the signature), ``_pandas``
(:func:`score_pandas`), ``_frame`` (:func:`score_spark`), ``_table`` (:func:`score_table`), ``_driver`` (the
driver's cache of loaded and shipped models), ``_udf`` (the Arrow UDF and the model's trip to the executors) and
``_files`` (parquet to parquet in the tasks). The metric names are re-exported from :mod:`sparksweep.metrics`.

Example:
    >>> preds = score_pandas(df, "models:/churn@champion", keep=["user_id"])  # doctest: +SKIP
"""

from __future__ import annotations

from sparksweep.metrics import DEFAULT_METRIC, METRICS, Direction, Metric, get_metric, register_metric
from sparksweep.scoring._frame import Udf, score_spark
from sparksweep.scoring._models import download_model, downloaded_model, load_model, resolve_model_uri
from sparksweep.scoring._pandas import score_pandas
from sparksweep.scoring._table import ScoreReport, read_input, score_table
from sparksweep.scoring.schema import ColumnMatch, match_columns, model_input_types, pandas_column_types

__all__ = [
    "DEFAULT_METRIC",
    "METRICS",
    "ColumnMatch",
    "Direction",
    "Metric",
    "ScoreReport",
    "Udf",
    "download_model",
    "downloaded_model",
    "get_metric",
    "load_model",
    "match_columns",
    "model_input_types",
    "pandas_column_types",
    "read_input",
    "register_metric",
    "resolve_model_uri",
    "score_pandas",
    "score_spark",
    "score_table",
]
