"""Registering a candidate: its test predictions -> the gate against the current ``@champion`` -> a new version
with its lineage -> the aliases (``champion``, or ``challenger`` when it loses) and the promotion history.

Every read-decide-write on the aliases happens inside :func:`registry_lease`, so sweeps finishing together are
serialized: the second one gates against the champion the first one left.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

from sparksweep.registry._aliases import CHALLENGER, CHAMPION, alias_version, crown, ensure_registered_model, now
from sparksweep.registry._decision import ChampionDecision, decision_from_gate, gate_candidate, predict
from sparksweep.registry._history import PromotionEvent
from sparksweep.registry._lease import registry_lease
from sparksweep.scoring import load_model, resolve_model_uri
from sparksweep.spec import check_unity_catalog

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from sparksweep.data import Dataset
    from sparksweep.metrics import Metric
    from sparksweep.registry._candidate import Candidate
    from sparksweep.registry._gate import GateResult
    from sparksweep.spec import RegisterSpec

__all__ = ["register_champion"]


def register_champion(
    *,
    client: MlflowClient,
    tracking_uri: str,
    registry_uri: str | None = None,
    registration: RegisterSpec,
    candidate: Candidate,
    dataset: Dataset,
    metric: Metric,
    sweep_run_id: str,
) -> ChampionDecision:
    """Register ``candidate``'s model as a new version of ``registration.name``, and make it ``@champion`` only if it
    passes the gate against the current champion on the same test rows (or ``registration.force``); otherwise it
    becomes ``@challenger``.

    ``client`` reads and writes runs in ``tracking_uri`` and versions in ``registry_uri`` (None: the tracking store),
    e.g. ``MlflowClient(tracking_uri=..., registry_uri=...)``; the candidate's model is read from the tracking store.
    The decision, both scores, the bootstrap interval and the reason are tags on the new version and on the sweep's
    parent run ``sweep_run_id``. A sweep refits its best trial (``register.refit``) before it calls this, through
    ``sparksweep.sweep``'s ``conclude``.

    Example:
        >>> decision = register_champion(  # doctest: +SKIP
        ...     client=client, tracking_uri=uri, registry_uri=registry, registration=spec.registration,
        ...     candidate=Candidate.from_trial(result.best), dataset=ds, metric=metric, sweep_run_id=run_id)
    """
    name = registration.name
    if registry_uri is not None:  # Unity Catalog's rules, for callers that did not check them before the sweep
        check_unity_catalog(name, registration.stage, registry_uri)
    predictions = predict(load_model(candidate.model_uri, tracking_uri), dataset.X_test)
    # The source is the logged model's own location, resolved in this store (MLflow would resolve a models:/ URI
    # through its global tracking URI, which may point elsewhere).
    source = resolve_model_uri(candidate.model_uri, tracking_uri)
    ensure_registered_model(client, name)
    with registry_lease(client, name, registry_uri=registry_uri):
        current = alias_version(client, name, CHAMPION)
        gate, schema_changed = gate_candidate(name, current, predictions, dataset, metric, registration, tracking_uri)
        decision = decision_from_gate(
            gate,
            name=name,
            version="",
            current=current,
            metric=metric.name,
            force=registration.force,
            schema_changed=schema_changed,
            rejected_alias=CHALLENGER,
            refit=candidate.refit,
        )
        registered, run_id, source = _registered_model(client, candidate, decision.promoted, source, tracking_uri)
        version = client.create_model_version(
            name,
            source=source,
            run_id=run_id,
            tags={**_lineage(candidate, dataset, metric, gate, sweep_run_id, registered), **decision.tags()},
            model_id=registered.removeprefix("models:/"),
        )
        decision = dataclasses.replace(decision, version=str(version.version))
        if decision.promoted:
            event = PromotionEvent(
                version=decision.version,
                replaced=decision.champion_version,
                action="force" if decision.forced else "promote",
                metric=metric.name,
                score=gate.candidate_score,
                replaced_score=gate.champion_score,
                reason=decision.reason,
                sweep_run_id=sweep_run_id,
            )
            crown(client, name, decision.version, current, event, registration.stage)
        else:
            client.set_registered_model_alias(name, CHALLENGER, decision.version)
    _record_on_parent(client, sweep_run_id, decision)
    return decision


def _registered_model(
    client: MlflowClient, candidate: Candidate, promoted: bool, source: str, tracking_uri: str
) -> tuple[str, str, str]:
    """The model the new version registers (its ``models:/`` URI, run and source): the candidate's, or, for a promoted
    candidate with ``register.refit: all``, the same model fitted on every row."""
    if not promoted or candidate.every_row is None:
        return candidate.model_uri, candidate.run_id, source
    logged = client.get_logged_model(candidate.every_row.removeprefix("models:/"))  # in the tracking store
    run_id = logged.source_run_id or candidate.run_id
    return candidate.every_row, run_id, resolve_model_uri(candidate.every_row, tracking_uri)


def _lineage(
    candidate: Candidate,
    dataset: Dataset,
    metric: Metric,
    gate: GateResult,
    sweep_run_id: str,
    registered: str,
) -> dict[str, str]:
    """The new version's lineage tags: the sweep, the trial, the data, the family and both scores (for a model
    refitted on every row, the scores are those of the model the gate judged, named by ``sparksweep.gated_model``)."""
    every_row = registered != candidate.model_uri
    rows = {"sparksweep.gated_model": candidate.model_uri} if every_row else {}
    return {
        **rows,
        "sparksweep.sweep_run_id": sweep_run_id,
        "sparksweep.trial_run_id": candidate.trial_run_id,
        "sparksweep.data_fingerprint": dataset.fingerprint,
        "sparksweep.model_family": candidate.family,
        "sparksweep.refit": "all" if every_row else str(candidate.refit).lower(),
        f"sparksweep.valid.{metric.name}": repr(candidate.valid_score),
        f"sparksweep.test.{metric.name}": repr(gate.candidate_score),
        "sparksweep.registered_at": now(),
        **candidate.tags,
    }


def _record_on_parent(client: MlflowClient, run_id: str, decision: ChampionDecision) -> None:
    from mlflow.entities import Metric as MlflowMetric
    from mlflow.entities import RunTag

    stamp = int(time.time() * 1000)
    tags = {**decision.tags(), "sparksweep.registered_version": decision.version}
    if decision.promoted:
        tags["sparksweep.champion_version"] = decision.version
    metrics = [MlflowMetric(f"test_{decision.metric}", decision.candidate_score, stamp, 0)]
    if decision.champion_score is not None:
        metrics.append(MlflowMetric(f"champion_test_{decision.metric}", decision.champion_score, stamp, 0))
    client.log_batch(run_id, metrics=metrics, tags=[RunTag(k, v) for k, v in tags.items()])
