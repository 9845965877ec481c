"""Scoring: the metric registry and batch scoring with spark_udf or pandas."""

from __future__ import annotations

from sparksweep.metrics import DEFAULT_METRIC, METRICS, Direction, Metric, get_metric, register_metric
from sparksweep.scoring.batch import ScoreReport, download_model, load_model, score_pandas, score_spark, score_table

__all__ = [
    "DEFAULT_METRIC",
    "METRICS",
    "Direction",
    "Metric",
    "ScoreReport",
    "download_model",
    "get_metric",
    "load_model",
    "register_metric",
    "score_pandas",
    "score_spark",
    "score_table",
]
