"""The aliases of a registered model (``champion``, ``previous``, ``challenger``): reading them, crowning a new
champion (the one it replaces keeps ``previous``) and the legacy stage that may follow it."""

from __future__ import annotations

import time
import warnings
from typing import TYPE_CHECKING

from sparksweep.registry._history import PromotionEvent, record_event

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "PREVIOUS",
    "alias_version",
    "crown",
    "ensure_registered_model",
    "legacy_stage",
    "now",
    "set_stage",
    "version_model_uri",
]

CHAMPION = "champion"
PREVIOUS = "previous"
CHALLENGER = "challenger"


def alias_version(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version of ``name`` that holds ``alias``, or None when no version does (or the model does not exist)."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


def version_model_uri(version: ModelVersion) -> str:
    """Where ``version``'s model is, for loading it from the tracking store: its logged model (``models:/m-<id>``),
    else the source it was registered from. The registry was asked for the version already; the model itself is
    read from the tracking store, whichever registry holds the version.

    Example:
        >>> version_model_uri(client.get_model_version("churn", "3"))  # doctest: +SKIP
        'models:/m-4f2a...'
    """
    return f"models:/{version.model_id}" if version.model_id else str(version.source)


def ensure_registered_model(client: MlflowClient, name: str) -> None:
    """Create the registered model ``name`` unless it exists."""
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name, description="Registered by sparksweep; see the `champion` alias.")
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise


def set_stage(client: MlflowClient, name: str, version: str, stage: str) -> None:
    """Move ``version`` to the legacy ``stage`` (archiving the version that held it)."""
    with warnings.catch_warnings():
        # MLflow deprecates stages; the user asked for one explicitly (register.stage), so only that warning goes.
        warnings.filterwarnings("ignore", message=".*Model registry stages will be removed", category=FutureWarning)
        client.transition_model_version_stage(name, version, stage, archive_existing_versions=True)


def legacy_stage(version: ModelVersion) -> str | None:
    """The legacy stage a version holds (``Staging`` or ``Production``), or None."""
    stage = str(version.current_stage or "")
    return stage if stage in ("Staging", "Production") else None


def crown(
    client: MlflowClient,
    name: str,
    version: str,
    replaced: ModelVersion | None,
    event: PromotionEvent,
    stage: str | None,
) -> None:
    """Make ``version`` the champion; the one it replaces keeps ``previous``; record the change."""
    if replaced is not None and str(replaced.version) != version:
        client.set_registered_model_alias(name, PREVIOUS, str(replaced.version))
    client.set_registered_model_alias(name, CHAMPION, version)
    challenger = alias_version(client, name, CHALLENGER)
    if challenger is not None and str(challenger.version) == version:
        client.delete_registered_model_alias(name, CHALLENGER)
    client.set_model_version_tag(name, version, "sparksweep.promoted_at", now())
    record_event(client, name, event)
    if stage is not None:
        set_stage(client, name, version, stage)


def now() -> str:
    """The time now, UTC, as the registry's tags write it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
