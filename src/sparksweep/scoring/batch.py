"""Batch scoring with a logged or registered model: ``mlflow.pyfunc.spark_udf`` on Spark, or pandas for small data.

Example:
    >>> preds = score_pandas(df, "models:/churn-model@champion")  # doctest: +SKIP
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sparksweep.data import categories_as_text
from sparksweep.errors import DataError, RegistryError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame

__all__ = ["download_model", "load_model", "model_features", "resolve_model_uri", "score_pandas", "score_spark"]


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
    """Load a model as an ``mlflow.pyfunc.PyFuncModel``."""
    import mlflow

    return mlflow.pyfunc.load_model(download_model(model_uri, tracking_uri))


def model_features(model: Any) -> list[str]:
    """The input columns a pyfunc model's signature asks for (empty when it has no signature)."""
    schema = model.metadata.get_input_schema()
    return [] if schema is None else list(schema.input_names())


def _check_columns(columns: list[str], required: list[str], model_uri: str) -> None:
    missing = [c for c in required if c not in columns]
    if missing:
        raise DataError(
            f"the input lacks columns {missing} that model {model_uri!r} needs; "
            f"it has {columns}. Score a table with the model's feature columns"
        )


def score_pandas(
    df: pd.DataFrame,
    model_uri: str,
    *,
    tracking_uri: str | None = None,
    prediction_col: str = "prediction",
    keep: list[str] | None = None,
) -> pd.DataFrame:
    """Score a pandas DataFrame; returns the ``keep`` columns (all columns when None) plus the prediction."""
    model = load_model(model_uri, tracking_uri)
    _check_columns(list(df.columns), model_features(model), model_uri)
    prediction = model.predict(categories_as_text(df))  # models take text where a table has pandas categories
    out = df.copy() if keep is None else df[keep].copy()
    values = np.asarray(prediction)
    out[prediction_col] = list(values) if values.ndim == 2 else values
    return out


def score_spark(
    df: SparkDataFrame,
    model_uri: str,
    *,
    tracking_uri: str | None = None,
    prediction_col: str = "prediction",
    keep: list[str] | None = None,
    result_type: str = "double",
) -> SparkDataFrame:
    """Score a Spark DataFrame with ``mlflow.pyfunc.spark_udf``.

    For a sparksweep binary classifier the prediction column is the positive-class probability as a double.
    The model is resolved and downloaded once on the driver, and the UDF runs in the executors' own Python
    (``env_manager="local"``).
    """
    import mlflow
    from pyspark.sql import functions as sf

    local = download_model(model_uri, tracking_uri)
    model = mlflow.pyfunc.load_model(local)
    features = model_features(model) or [c for c in df.columns if c not in (keep or [])]
    _check_columns(df.columns, features, model_uri)
    udf = mlflow.pyfunc.spark_udf(df.sparkSession, local, result_type=result_type, env_manager="local")
    kept = keep if keep is not None else df.columns
    return df.select(*[sf.col(c) for c in kept], udf(*[sf.col(c) for c in features]).alias(prediction_col))
