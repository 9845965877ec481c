"""Champion selection: score the sweep's best model on the held-out test rows, gate it against the current
``@champion``, register it, and set aliases and lineage tags.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sparksweep.errors import RegistryError
from sparksweep.scoring.batch import load_model, resolve_model_uri

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from sparksweep.config import RegisterSpec
    from sparksweep.data import Dataset
    from sparksweep.scoring.metrics import Metric
    from sparksweep.search.trial import TrialResult

__all__ = ["CHALLENGER", "CHAMPION", "ChampionDecision", "evaluate_model", "register_champion"]

CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class ChampionDecision:
    """What the gate decided for a sweep's best model."""

    name: str
    version: str
    promoted: bool
    alias: str
    metric: str
    candidate_score: float
    champion_score: float | None
    champion_version: str | None
    reason: str


def evaluate_model(model: Any, dataset: Dataset, metric: Metric) -> float:
    """Score a pyfunc model on the data set's test split with ``metric``."""
    values = np.asarray(model.predict(dataset.X_test), dtype=np.float64)
    return metric(dataset.y_test, values)


def _current_champion(client: MlflowClient, name: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None  # no registered model of that name yet, or no champion alias on it


def _ensure_registered_model(client: MlflowClient, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name, description="Registered by sparksweep; see the `champion` alias.")
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise


def register_champion(
    *,
    client: MlflowClient,
    tracking_uri: str,
    registration: RegisterSpec,
    best: TrialResult,
    dataset: Dataset,
    metric: Metric,
    sweep_run_id: str,
) -> ChampionDecision:
    """Register ``best`` under ``registration.name``; give it ``@champion`` only if it beats the current champion
    on the same test rows by at least ``registration.min_improvement``, else ``@challenger``."""
    if best.model_uri is None:
        raise RegistryError(
            f"trial {best.number} (run {best.run_id}) logged no model, so there is nothing to register; "
            "keep tracking.log_models true to register a champion"
        )
    name = registration.name
    candidate_score = evaluate_model(load_model(best.model_uri, tracking_uri), dataset, metric)
    current = _current_champion(client, name)
    champion_score: float | None = None
    if current is None:
        promoted, reason = True, "no current champion"
    else:
        try:
            champion_score = evaluate_model(load_model(f"models:/{name}@{CHAMPION}", tracking_uri), dataset, metric)
        except Exception as exc:  # a champion that cannot score these rows is reported, never silently replaced
            promoted = False
            reason = f"the current champion (version {current.version}) cannot score the test rows: {exc}"
        else:
            gain = metric.direction.improvement(candidate_score, champion_score)
            promoted = gain > registration.min_improvement if registration.min_improvement > 0 else gain > 0
            reason = (
                f"{metric.name} {candidate_score:.5f} vs champion {champion_score:.5f}: "
                f"{'better' if gain > 0 else 'not better'} by {gain:+.5f} (needed > {registration.min_improvement})"
            )
    _ensure_registered_model(client, name)
    model_id = best.model_uri.removeprefix("models:/")
    tags = {
        "sparksweep.sweep_run_id": sweep_run_id,
        "sparksweep.trial_run_id": best.run_id,
        "sparksweep.data_fingerprint": dataset.fingerprint,
        "sparksweep.model_family": best.family,
        f"sparksweep.valid.{metric.name}": f"{best.value}",
        f"sparksweep.test.{metric.name}": f"{candidate_score}",
        "sparksweep.gate": "promoted" if promoted else "rejected",
        "sparksweep.gate_reason": reason,
        "sparksweep.registered_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    # The source is the logged model's own location, resolved in this store (MLflow would resolve a models:/ URI
    # through its global tracking URI, which may point elsewhere).
    source = resolve_model_uri(best.model_uri, tracking_uri)
    version = client.create_model_version(name, source=source, run_id=best.run_id, tags=tags, model_id=model_id)
    alias = CHAMPION if promoted else CHALLENGER
    client.set_registered_model_alias(name, alias, version.version)
    return ChampionDecision(
        name=name,
        version=str(version.version),
        promoted=promoted,
        alias=alias,
        metric=metric.name,
        candidate_score=candidate_score,
        champion_score=champion_score,
        champion_version=None if current is None else str(current.version),
        reason=reason,
    )
