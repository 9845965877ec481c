"""Managing a registered model's champion by hand: show its aliases and versions, promote a version (through the
gate, or forced), roll back to ``@previous``, and read the promotion history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sparksweep.errors import RegistryError
from sparksweep.registry._aliases import (
    CHAMPION,
    PREVIOUS,
    alias_version,
    crown,
    legacy_stage,
    now,
    set_stage,
    version_model_uri,
)
from sparksweep.registry._decision import ChampionDecision, decision_from_gate, gate_candidate, predict
from sparksweep.registry._gate import GateResult
from sparksweep.registry._history import PromotionEvent, read_history, record_event
from sparksweep.registry._lease import registry_lease
from sparksweep.scoring import load_model

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from sparksweep.data import Dataset
    from sparksweep.metrics import Metric
    from sparksweep.spec import RegisterSpec

__all__ = ["ChampionView", "champion_history", "promote_version", "rollback_champion", "show_champion"]


def promote_version(
    client: MlflowClient,
    name: str,
    version: str,
    *,
    tracking_uri: str,
    registry_uri: str | None = None,
    dataset: Dataset | None = None,
    metric: Metric | None = None,
    registration: RegisterSpec | None = None,
    force: bool = False,
) -> ChampionDecision:
    """Promote an existing ``version`` by hand: through the same gate (on ``dataset``'s test rows, with
    ``metric`` and ``registration``'s rules) unless ``force``. ``client``'s registry is ``registry_uri`` (None: the
    tracking store ``tracking_uri``, where the models are read from).

    Example:
        >>> promote_version(client, "churn", "3", tracking_uri=uri, force=True)  # doctest: +SKIP
    """
    from sparksweep.spec import RegisterSpec, check_unity_catalog

    chosen = client.get_model_version(name, version)  # a clear MLflow error when it does not exist
    rules = (registration or RegisterSpec(name=name)).model_copy(update={"force": force})
    if registry_uri is not None:
        check_unity_catalog(name, rules.stage, registry_uri)
    with registry_lease(client, name, registry_uri=registry_uri):
        current = alias_version(client, name, CHAMPION)
        if current is not None and str(current.version) == str(version):
            raise RegistryError(f"version {version} of {name!r} is already the champion; nothing to promote")
        if force and (dataset is None or metric is None):
            gate = GateResult(passed=False, reason="promoted by hand without a gate", candidate_score=float("nan"))
            schema_changed = False
            metric_name = metric.name if metric is not None else ""
        else:
            if dataset is None or metric is None:
                raise RegistryError(
                    f"promoting {name!r} version {version} by hand goes through the gate, which needs the test rows: "
                    "give the sweep file (--sweep-file) whose data and metric to use, or --force to skip the gate"
                )
            candidate = predict(load_model(version_model_uri(chosen), tracking_uri), dataset.X_test)
            gate, schema_changed = gate_candidate(name, current, candidate, dataset, metric, rules, tracking_uri)
            metric_name = metric.name
        decision = decision_from_gate(
            gate,
            name=name,
            version=str(version),
            current=current,
            metric=metric_name,
            force=force,
            schema_changed=schema_changed,
            rejected_alias=None,
        )
        if decision.promoted:
            for key, value in decision.tags().items():
                client.set_model_version_tag(name, str(version), key, value)
            event = PromotionEvent(
                version=str(version),
                replaced=decision.champion_version,
                action="force" if decision.forced else "manual",
                metric=metric_name or None,
                score=None if np.isnan(gate.candidate_score) else gate.candidate_score,
                replaced_score=gate.champion_score,
                reason=decision.reason,
            )
            crown(client, name, str(version), current, event, rules.stage)
    return decision


def rollback_champion(client: MlflowClient, name: str, *, registry_uri: str | None = None) -> PromotionEvent:
    """Give ``@champion`` back to the ``@previous`` version; the version before that (from the history) becomes
    ``@previous``, or the alias is removed when there is none.

    When the champion being replaced holds a legacy stage (``register.stage``, e.g. ``Production``), the restored
    version is moved to that stage too (and the replaced one archived), so clients reading
    ``models:/<name>/Production`` follow the rollback. ``registry_uri`` is ``client``'s registry (None: its
    tracking store).

    Example:
        >>> rollback_champion(client, "churn").version  # doctest: +SKIP
        '2'
    """
    with registry_lease(client, name, registry_uri=registry_uri):
        previous = alias_version(client, name, PREVIOUS)
        if previous is None:
            raise RegistryError(f"{name!r} has no @previous version to roll back to; see `sparksweep champion history`")
        current = alias_version(client, name, CHAMPION)
        restored = str(previous.version)
        client.set_registered_model_alias(name, CHAMPION, restored)
        before = [e for e in read_history(client, name) if e.version == restored and e.replaced]
        earlier = before[-1].replaced if before else None
        if earlier is not None and earlier != restored and (current is None or earlier != str(current.version)):
            client.set_registered_model_alias(name, PREVIOUS, earlier)
        else:
            client.delete_registered_model_alias(name, PREVIOUS)
        if current is not None:
            client.set_model_version_tag(name, str(current.version), "sparksweep.rolled_back_at", now())
        stage = legacy_stage(current) if current is not None else None
        if stage is not None:
            set_stage(client, name, restored, stage)
        event = PromotionEvent(
            version=restored,
            replaced=None if current is None else str(current.version),
            action="rollback",
            reason=f"rolled back from v{current.version if current is not None else '?'} to v{restored}"
            + (f"; stage {stage} moved to v{restored}" if stage is not None else ""),
        )
        return record_event(client, name, event)


@dataclass(frozen=True)
class ChampionView:
    """A registered model's versions as sparksweep sees them: aliases, scores and lineage."""

    name: str
    aliases: dict[str, str]
    versions: list[ModelVersion]

    def version(self, alias: str) -> ModelVersion | None:
        number = self.aliases.get(alias)
        return next((v for v in self.versions if str(v.version) == number), None)


def show_champion(client: MlflowClient, name: str) -> ChampionView:
    """The aliases and versions of ``name`` (newest first)."""
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(name)
    except MlflowException as exc:
        raise RegistryError(f"no registered model named {name!r} in this registry: {exc.message}") from exc
    # Sorted here: Unity Catalog's registry refuses order_by in a search of versions.
    versions = sorted(client.search_model_versions(f"name = '{name}'"), key=lambda v: -int(v.version))
    return ChampionView(name=name, aliases={k: str(v) for k, v in model.aliases.items()}, versions=versions)


def champion_history(client: MlflowClient, name: str) -> list[PromotionEvent]:
    """Every change of ``@champion`` of ``name``, oldest first."""
    return read_history(client, name)
