"""Logging a fitted model to MLflow as a self-contained pyfunc model, cheaply.

Pip requirements are computed from installed versions once per process (no subprocess), which is what makes a model
cost tens of milliseconds instead of seconds of requirement inference.

The model is written with MLflow's public pieces, not ``mlflow.pyfunc.log_model``: :func:`mlflow.pyfunc.save_model`
into a temporary folder, then ``create_logged_model`` / ``log_outputs`` / ``log_model_artifacts`` /
``finalize_logged_model`` on the client. The stored model is the same (``models:/m-<id>``, linked to the run as its
output, the run's params copied onto it), but ``log_model`` also re-reads the run twice and every metric's history
to link the metrics to the model, and loads the model back to predict its input example ("serving input
validation", ~80 ms, with no switch for pyfunc models): on small models that was three quarters of its cost. The
caller links its metrics to the model by logging them with ``model_id`` (as the trial worker does), and the model is
loaded and scored anyway before it can become a champion.
"""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparksweep.errors import TrackingError

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.entities import Run

    from sparksweep.data import TrainingData
    from sparksweep.models._base import BaseModelFamily

__all__ = ["PYFUNC_MODEL_FILE", "log_ensemble_model", "log_fitted_model", "pip_requirements"]

PYFUNC_MODEL_FILE = Path(__file__).with_name("pyfunc_model.py")

_LIBRARY_PACKAGES = {"sklearn": ["scikit-learn", "skops"], "xgboost": ["xgboost"], "lightgbm": ["lightgbm"]}


@functools.cache
def pip_requirements(library: str) -> tuple[str, ...]:
    """Pinned requirements of a model saved by a family of ``library`` (read from the installed packages)."""
    packages = ["mlflow", "numpy", "pandas", "scikit-learn", *_LIBRARY_PACKAGES.get(library, [])]
    pins: list[str] = []
    for pkg in dict.fromkeys(packages):
        try:
            pins.append(f"{pkg}=={metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            pins.append(pkg)
    return tuple(pins)


def log_fitted_model(
    family: BaseModelFamily,
    estimator: Any,
    *,
    task: str,
    features: list[str],
    data: TrainingData,
    classes: list[Any] | None = None,
    input_example: bool = True,
    run: Run | None = None,
) -> str:
    """Log ``estimator`` into ``run`` (default: the active run) as a pyfunc model and return its ``models:/`` URI.

    ``data`` is what the estimator was trained on: its validation rows (encoded) give the signature and input
    example as the raw table a user scores (``features``: text in categorical columns, date columns whole), and
    its categories and date expansions go into the model (``meta.json``).
    """
    import mlflow

    run = run or mlflow.active_run()
    if run is None:
        raise TrackingError(
            "log_fitted_model logs into the active MLflow run and none is active; "
            "wrap the call in `with mlflow.start_run(run_id=...)` or pass run=client.get_run(run_id)"
        )
    with tempfile.TemporaryDirectory(prefix="sparksweep-model-") as tmp:
        saved = family.save(estimator, Path(tmp))
        meta_path = Path(tmp) / "meta.json"
        described = {"format": saved.format, "estimator_class": saved.estimator_class, "family": family.name}
        meta_path.write_text(json.dumps(_meta(task, features, classes, data, described)))
        encoded = data.X_valid.head(5)
        head = data.raw_rows(encoded, features)
        signature = _signature(head, family.predict(estimator, encoded, task), classes, _untyped(data))
        return _log_pyfunc(
            run,
            Path(tmp) / "mlflow-model",
            python_model=str(PYFUNC_MODEL_FILE),
            artifacts={"model": str(saved.path), "meta": str(meta_path)},
            pip_requirements=list(pip_requirements(family.library)),
            signature=signature,
            input_example=head if input_example else None,
        )


def _meta(
    task: str, features: list[str], classes: list[Any] | None, data: TrainingData, described: dict[str, Any]
) -> dict[str, Any]:
    """``meta.json``: what the pyfunc model needs to turn the raw table into what the estimator was trained on."""
    return {
        "task": task,
        "features": features,
        **described,
        "classes": None if classes is None else [str(c) for c in classes],
        "categories": data.categories,
        "dates": {column: f.as_meta() for column, f in data.dates.items()},
    }


def _untyped(data: TrainingData) -> list[str]:
    """The raw columns the signature declares ``Any`` (the model takes several dtypes for them)."""
    return [*data.categories, *data.dates, *data.nullable]


def log_ensemble_model(
    members: Sequence[tuple[BaseModelFamily, Any, float]],
    *,
    task: str,
    features: list[str],
    data: TrainingData,
    classes: list[Any] | None = None,
) -> str:
    """Log a weighted average of fitted models (``(family, fitted model, weight)``, weights summing to 1) into the
    active run as one pyfunc model, and return its ``models:/`` URI (``data`` as in :func:`log_fitted_model`).

    Each member is saved in its family's native format as the artifact ``model_<i>``; ``meta.json`` lists them with
    their weights, and the pyfunc model predicts their weighted average (probabilities for classification).
    """
    import mlflow
    import numpy as np

    run = mlflow.active_run()
    if run is None:
        raise TrackingError(
            "log_ensemble_model logs into the active MLflow run and none is active; "
            "wrap the call in `with mlflow.start_run(run_id=...)`"
        )
    if not members:
        raise ValueError("an ensemble needs at least one member; got none")
    with tempfile.TemporaryDirectory(prefix="sparksweep-model-") as tmp:
        artifacts: dict[str, str] = {}
        described = []
        encoded = data.X_valid.head(5)
        prediction: Any = 0.0
        for i, (family, estimator, weight) in enumerate(members):
            folder = Path(tmp) / f"member_{i}"
            folder.mkdir()
            saved = family.save(estimator, folder)
            artifacts[f"model_{i}"] = str(saved.path)
            described.append(
                {
                    "artifact": f"model_{i}",
                    "format": saved.format,
                    "estimator_class": saved.estimator_class,
                    "family": family.name,
                    "weight": float(weight),
                }
            )
            prediction = prediction + float(weight) * family.predict(estimator, encoded, task)
        meta_path = Path(tmp) / "meta.json"
        ensemble = {"format": "ensemble", "family": "ensemble", "members": described}
        meta_path.write_text(json.dumps(_meta(task, features, classes, data, ensemble)))
        artifacts["meta"] = str(meta_path)
        head = data.raw_rows(encoded, features)
        signature = _signature(head, np.asarray(prediction), classes, _untyped(data))
        libraries = sorted({family.library for family, _, _ in members})
        pins = list(dict.fromkeys(pin for library in libraries for pin in pip_requirements(library)))
        return _log_pyfunc(
            run,
            Path(tmp) / "mlflow-model",
            python_model=str(PYFUNC_MODEL_FILE),
            artifacts=artifacts,
            pip_requirements=pins,
            signature=signature,
            input_example=head,
        )


def _signature(head: pd.DataFrame, prediction: Any, classes: list[Any] | None, untyped: list[str]) -> Any:
    """The model signature: the raw rows ``head`` in, ``prediction`` out (a DataFrame with a column per class when it
    holds probabilities per class).

    The ``untyped`` columns are declared ``Any``, as MLflow's schema enforcement refuses dtypes the model was
    trained on: a pandas ``category`` column for a ``string`` one ("Can not safely convert category to <U0"),
    ``Int64`` or ``boolean`` for a ``double`` one, a tz-aware or text timestamp for a ``datetime`` one. The model
    itself turns text or categories alike into its fixed categories, dates into their parts and nullable numbers
    into floats.
    """
    import pandas as pd
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    output: Any = prediction
    if prediction.ndim == 2:
        names = [str(c) for c in classes] if classes else [str(i) for i in range(prediction.shape[1])]
        output = pd.DataFrame(prediction, columns=names)
    with warnings.catch_warnings():
        # MLflow hints that integer columns cannot hold missing values; the signature keeps the table's own
        # types on purpose (MLflow refuses to cast int64 input to a double column at scoring time).
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
        signature = infer_signature(head, output)
    if not untyped:
        return signature
    any_type = AnyType()  # type: ignore[no-untyped-call]
    inputs = Schema([ColSpec(any_type, s.name) if s.name in untyped else s for s in signature.inputs.inputs])
    return ModelSignature(inputs=inputs, outputs=signature.outputs, params=signature.params)


def _log_pyfunc(run: Any, local: Path, **save_kwargs: Any) -> str:
    """Save a pyfunc model at ``local`` and log it as ``run``'s output model (a ``models:/m-<id>`` URI), in four
    writes to the store; a model whose upload fails is finalized FAILED, as ``mlflow.pyfunc.log_model`` does."""
    import mlflow
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus
    from mlflow.models import Model

    client = mlflow.MlflowClient()
    run_id = run.info.run_id
    model = client.create_logged_model(
        experiment_id=run.info.experiment_id, name="model", source_run_id=run_id, params=dict(run.data.params)
    )
    try:
        mlflow_model = Model(
            artifact_path=model.artifact_location, model_uuid=model.model_id, run_id=run_id, model_id=model.model_id
        )
        mlflow.pyfunc.save_model(path=str(local), mlflow_model=mlflow_model, **save_kwargs)
        for pycache in local.rglob("__pycache__"):  # saving a model from code imports it once
            shutil.rmtree(pycache, ignore_errors=True)
        client.log_model_artifacts(model.model_id, str(local))
        client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step=0)])
    except BaseException:
        client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
        raise
    client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    return f"models:/{model.model_id}"
