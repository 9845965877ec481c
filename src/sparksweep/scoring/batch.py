"""Deprecated: batch scoring moved into :mod:`sparksweep.scoring` itself (this module goes in the next release)."""

from __future__ import annotations

import warnings

from sparksweep.scoring import (
    ScoreReport,
    Udf,
    download_model,
    downloaded_model,
    load_model,
    read_input,
    resolve_model_uri,
    score_pandas,
    score_spark,
    score_table,
)
from sparksweep.scoring._models import model_features
from sparksweep.scoring._table import ARROW_BATCH_ROWS

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

warnings.warn(
    "sparksweep.scoring.batch moved into sparksweep.scoring; import from there (the old path goes in the next release)",
    DeprecationWarning,
    stacklevel=2,
)
