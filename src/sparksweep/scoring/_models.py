"""A model to score with: its URI resolved in the given store, downloaded, loaded, and what the scorer needs to know
about it (its input columns, and its task and classes when it is one of sparksweep's own).

MLflow resolves ``models:/`` and ``runs:/`` URIs through its global tracking URI, so sparksweep resolves them itself
against the store it is given, and never reads or changes MLflow's global state.

Example:
    >>> model = load_model("models:/churn@champion", "sqlite:///mlflow.db")  # doctest: +SKIP
    >>> ModelKind.of(model).task  # doctest: +SKIP
    'binary'
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sparksweep.errors import RegistryError
from sparksweep.scoring._safe import check_model_files
from sparksweep.scoring.schema import model_input_types

__all__ = ["ModelKind", "download_model", "downloaded_model", "load_model", "model_features", "resolve_model_uri"]

_NUMERIC_TYPES = frozenset({"long", "integer", "double", "float", "boolean"})


def resolve_model_uri(model_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None) -> str:
    """The artifact location behind a ``models:/`` or ``runs:/`` URI, looked up in the given store.

    MLflow resolves such URIs through its global tracking URI even when another one is passed, so sparksweep
    resolves them itself: ``models:/m-<id>`` (a logged model), ``models:/<name>@<alias>``, ``models:/<name>/<version>``
    and ``runs:/<run_id>/<path>``. Anything else is returned unchanged. Registered names are looked up in
    ``registry_uri`` (else ``MLFLOW_REGISTRY_URI``, else the tracking store: :func:`sparksweep.tracking.registry_uri`).
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from sparksweep.tracking import registry_uri as resolve_registry_uri

    registry = resolve_registry_uri(registry_uri, tracking_uri) if tracking_uri else registry_uri
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=registry)
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

    The copy goes to ``dst``, or, without it, to a temporary folder removed when this process exits (use
    :func:`downloaded_model` to remove it as soon as it is no longer needed). A local path is returned unchanged.
    The tracking/registry URI is passed explicitly, so no global MLflow state is read or changed.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    if Path(model_uri).exists():
        return str(model_uri)
    location = resolve_model_uri(model_uri, tracking_uri)
    if dst is None:
        dst = tempfile.mkdtemp(prefix="sparksweep-model-")
        atexit.register(shutil.rmtree, dst, ignore_errors=True)
    try:
        return str(
            mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=str(dst), tracking_uri=tracking_uri)
        )
    except MlflowException as exc:
        raise RegistryError(f"could not download model {model_uri!r} from {location}: {exc.message}") from exc


@contextlib.contextmanager
def downloaded_model(model_uri: str, tracking_uri: str | None = None) -> Iterator[str]:
    """A local copy of a model for the ``with`` block; the copy is removed when the block ends (a local path is
    used in place and kept).

    Example:
        >>> with downloaded_model("models:/churn@champion", uri) as path:  # doctest: +SKIP
        ...     model = mlflow.pyfunc.load_model(path)
    """
    if Path(model_uri).exists():
        check_model_files(model_uri)  # nothing that would unpickle is loaded (scoring/_safe.py)
        yield str(model_uri)
        return
    with tempfile.TemporaryDirectory(prefix="sparksweep-model-") as tmp:
        local = download_model(model_uri, tracking_uri, dst=tmp)
        check_model_files(local)
        yield local


def load_model(model_uri: str, tracking_uri: str | None = None) -> Any:
    """Load a model as an ``mlflow.pyfunc.PyFuncModel``; a downloaded copy is removed once it is in memory."""
    import mlflow

    with downloaded_model(model_uri, tracking_uri) as local:
        return mlflow.pyfunc.load_model(local)


def model_features(model: Any) -> list[str]:
    """The input columns a pyfunc model's signature asks for (empty when it has no signature)."""
    return list(model_input_types(model))


@dataclass(frozen=True)
class ModelKind:
    """What the scorer needs to know about a model: its task and classes when it is one of sparksweep's own, and
    the wrapper itself when it has ``predict_array`` (models logged by older versions lack it)."""

    task: str | None
    classes: list[str]
    inner: Any = field(default=None, compare=False)

    @classmethod
    def of(cls, model: Any) -> ModelKind:
        from mlflow.exceptions import MlflowException

        try:
            inner = model.unwrap_python_model()
        except MlflowException:  # not a PythonModel: a model of another flavor
            return cls(None, [])
        task = getattr(inner, "task", None)
        if type(inner).__name__ != "SparkSweepModel" or task not in ("binary", "multiclass", "regression"):
            return cls(None, [])
        fast = inner if callable(getattr(inner, "predict_array", None)) else None
        return cls(str(task), [str(c) for c in getattr(inner, "classes", [])], fast)

    def takes_matrix(self, input_types: dict[str, str]) -> bool:
        """Whether batches may go to the model as one float64 matrix (every input numeric, and the model takes it)."""
        numeric = bool(input_types) and all(t in _NUMERIC_TYPES for t in input_types.values())
        return numeric and self.inner is not None and bool(getattr(self.inner, "takes_matrix", False))
