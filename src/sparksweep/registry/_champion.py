"""Champion selection: gate a candidate against the current ``@champion`` on the same test rows, register it, move
the aliases (``champion``, ``previous``, ``challenger``), tag its lineage and record the promotion history.

Every read-decide-write on the aliases happens inside :func:`registry_lease`, so sweeps finishing together are
serialized: the second one gates against the champion the first one left.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sparksweep.errors import RegistryError
from sparksweep.registry._gate import GateResult, judge
from sparksweep.registry._history import PromotionEvent, read_history, record_event
from sparksweep.registry._lease import registry_lease
from sparksweep.scoring import load_model, match_columns, model_input_types, pandas_column_types, resolve_model_uri

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from sparksweep.data import Dataset
    from sparksweep.metrics import Metric
    from sparksweep.spec import RegisterSpec
    from sparksweep.trial import TrialResult

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "PREVIOUS",
    "ChampionDecision",
    "ChampionView",
    "champion_history",
    "evaluate_model",
    "promote_version",
    "register_champion",
    "rollback_champion",
    "show_champion",
]

CHAMPION = "champion"
PREVIOUS = "previous"
CHALLENGER = "challenger"
_TAG = "sparksweep."


@dataclass(frozen=True)
class ChampionDecision:
    """What the gate decided for a candidate version, with the scores and the reason behind it."""

    name: str
    version: str
    promoted: bool
    alias: str | None
    metric: str
    candidate_score: float
    champion_score: float | None
    champion_version: str | None
    reason: str
    forced: bool = False
    gain: float | None = None
    interval: tuple[float, float] | None = None
    threshold_scores: dict[str, float] = field(default_factory=dict)
    schema_changed: bool = False
    refit: bool = False

    def tags(self) -> dict[str, str]:
        """The decision as tags (for the model version and the sweep's parent run)."""
        out = {
            "sparksweep.gate": "promoted" if self.promoted else "rejected",
            "sparksweep.gate_reason": self.reason[:4900],
            "sparksweep.gate_forced": str(self.forced).lower(),
            "sparksweep.gate_metric": self.metric,
            "sparksweep.gate_candidate_score": repr(self.candidate_score),
            "sparksweep.gate_champion_version": self.champion_version or "",
            "sparksweep.gate_champion_score": "" if self.champion_score is None else repr(self.champion_score),
            "sparksweep.gate_gain": "" if self.gain is None else repr(self.gain),
            "sparksweep.gate_schema_changed": str(self.schema_changed).lower(),
        }
        if self.interval is not None:
            out["sparksweep.gate_interval"] = f"[{self.interval[0]!r}, {self.interval[1]!r}]"
        for metric, score in self.threshold_scores.items():
            out[f"sparksweep.test.{metric}"] = repr(score)
        return out


def _predict(model: Any, X: pd.DataFrame) -> npt.NDArray[np.float64]:
    return np.asarray(model.predict(X), dtype=np.float64)


def evaluate_model(model: Any, dataset: Dataset, metric: Metric) -> float:
    """Score a pyfunc model on the data set's test split with ``metric``."""
    return metric(dataset.y_test, _predict(model, dataset.X_test))


def _alias_version(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


def _ensure_registered_model(client: MlflowClient, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name, description="Registered by sparksweep; see the `champion` alias.")
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise


def _champion_predictions(
    client: MlflowClient, name: str, current: ModelVersion, dataset: Dataset, tracking_uri: str, shape: tuple[int, ...]
) -> tuple[npt.NDArray[np.float64] | None, str | None]:
    """The current champion's predictions on the test rows, or why it cannot make them (its schema changed)."""
    model = load_model(f"models:/{name}/{current.version}", tracking_uri)
    match = match_columns(model_input_types(model), pandas_column_types(dataset.X_test))
    if not match.ok:
        return None, (
            f"the champion v{current.version} was trained on other features: the test rows {match.problems()}"
        )
    try:
        predictions = _predict(model, dataset.X_test)
    except Exception as exc:  # reported in the decision; the champion stays unless the promotion is forced
        return None, f"the champion v{current.version} cannot score the test rows: {type(exc).__name__}: {exc}"
    if predictions.shape != shape:
        return None, (
            f"the champion v{current.version} predicts shape {predictions.shape} on the test rows, the candidate "
            f"{shape}: it was trained for another task or other classes"
        )
    return predictions, None


def _decide(
    client: MlflowClient,
    name: str,
    current: ModelVersion | None,
    candidate: npt.NDArray[np.float64],
    dataset: Dataset,
    metric: Metric,
    registration: RegisterSpec,
    tracking_uri: str,
) -> tuple[GateResult, bool]:
    """The gate's verdict, and whether the champion's schema no longer fits the data."""
    if current is None:
        return judge(metric, registration, dataset.y_test, candidate, None, task=dataset.task), False
    champion, problem = _champion_predictions(client, name, current, dataset, tracking_uri, candidate.shape)
    if problem is not None:
        alone = judge(metric, registration, dataset.y_test, candidate, None, task=dataset.task)
        force = "promoted because the promotion is forced" if registration.force else "promote it with --force"
        return dataclasses.replace(alone, passed=False, reason=f"schema changed: {problem}; {force}"), True
    result = judge(
        metric, registration, dataset.y_test, candidate, champion, task=dataset.task, champion_version=current.version
    )
    fingerprint = current.tags.get("sparksweep.data_fingerprint")
    if fingerprint and fingerprint != dataset.fingerprint:
        note = f" (the champion was trained on other data, fingerprint {fingerprint}: its training rows may overlap)"
        result = dataclasses.replace(result, reason=result.reason + note)
    return result, False


def _set_stage(client: MlflowClient, name: str, version: str, stage: str) -> None:
    with warnings.catch_warnings():
        # MLflow deprecates stages; the user asked for one explicitly (register.stage), so only that warning goes.
        warnings.filterwarnings("ignore", message=".*Model registry stages will be removed", category=FutureWarning)
        client.transition_model_version_stage(name, version, stage, archive_existing_versions=True)


def _legacy_stage(version: ModelVersion) -> str | None:
    """The legacy stage a version holds (``Staging`` or ``Production``), or None."""
    stage = str(version.current_stage or "")
    return stage if stage in ("Staging", "Production") else None


def _crown(
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
    challenger = _alias_version(client, name, CHALLENGER)
    if challenger is not None and str(challenger.version) == version:
        client.delete_registered_model_alias(name, CHALLENGER)
    client.set_model_version_tag(name, version, "sparksweep.promoted_at", _now())
    record_event(client, name, event)
    if stage is not None:
        _set_stage(client, name, version, stage)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _record_on_parent(client: MlflowClient, run_id: str, decision: ChampionDecision) -> None:
    from mlflow.entities import Metric as MlflowMetric
    from mlflow.entities import RunTag

    now = int(time.time() * 1000)
    tags = {**decision.tags(), "sparksweep.registered_version": decision.version}
    if decision.promoted:
        tags["sparksweep.champion_version"] = decision.version
    metrics = [MlflowMetric(f"test_{decision.metric}", decision.candidate_score, now, 0)]
    if decision.champion_score is not None:
        metrics.append(MlflowMetric(f"champion_test_{decision.metric}", decision.champion_score, now, 0))
    client.log_batch(run_id, metrics=metrics, tags=[RunTag(k, v) for k, v in tags.items()])


def register_champion(
    *,
    client: MlflowClient,
    tracking_uri: str,
    registration: RegisterSpec,
    best: TrialResult,
    dataset: Dataset,
    metric: Metric,
    sweep_run_id: str,
    ensemble: Sequence[tuple[TrialResult, float]] | None = None,
) -> ChampionDecision:
    """Register ``best`` (refit on train + valid when ``registration.refit``) as a new version of
    ``registration.name``, and make it ``@champion`` only if it passes the gate against the current champion on the
    same test rows (or ``registration.force``); otherwise it becomes ``@challenger``.

    With ``ensemble`` (finalists and their weights; needs ``registration.refit``) the candidate is their weighted
    average, each member refitted (:func:`~sparksweep.sweep._refit.refit_ensemble`), instead of ``best`` alone.

    The decision, both scores, the bootstrap interval and the reason are tags on the new version and on the sweep's
    parent run ``sweep_run_id``.

    Example:
        >>> decision = register_champion(  # doctest: +SKIP
        ...     client=client, tracking_uri=uri, registration=spec.registration, best=result.best, dataset=ds,
        ...     metric=metric, sweep_run_id=run_id)
    """
    name = registration.name
    run_id = best.run_id
    if ensemble and not registration.refit:
        raise RegistryError(
            "an ensemble is registered refitted on all the training rows, and register.refit is false; "
            "set register.refit: true, or set search.ensemble: false"
        )
    if ensemble:
        from sparksweep.sweep._refit import refit_ensemble

        model_uri = refit_ensemble(client, tracking_uri, ensemble, dataset, sweep_run_id)
        run_id = client.get_logged_model(model_uri.removeprefix("models:/")).source_run_id or run_id
    elif registration.refit:  # the refit model is registered: the trial's own model is not needed
        from sparksweep.sweep._refit import refit_best

        model_uri = refit_best(client, tracking_uri, best, dataset, sweep_run_id)
        run_id = client.get_logged_model(model_uri.removeprefix("models:/")).source_run_id or run_id
    elif best.model_uri is None:
        raise RegistryError(
            f"trial {best.number} (run {best.run_id}) logged no model, so there is nothing to register; "
            "keep tracking.log_models true, or set register.refit: true (the best trial's family and params are then "
            "fitted again on train + valid and that model is registered)"
        )
    else:
        model_uri = best.model_uri
    candidate = _predict(load_model(model_uri, tracking_uri), dataset.X_test)
    # The source is the logged model's own location, resolved in this store (MLflow would resolve a models:/ URI
    # through its global tracking URI, which may point elsewhere).
    source = resolve_model_uri(model_uri, tracking_uri)
    _ensure_registered_model(client, name)
    with registry_lease(client, name):
        current = _alias_version(client, name, CHAMPION)
        gate, schema_changed = _decide(client, name, current, candidate, dataset, metric, registration, tracking_uri)
        promoted = gate.passed or registration.force
        forced = promoted and not gate.passed
        reason = f"forced: {gate.reason}" if forced else gate.reason
        decision = ChampionDecision(
            name=name,
            version="",
            promoted=promoted,
            alias=CHAMPION if promoted else CHALLENGER,
            metric=metric.name,
            candidate_score=gate.candidate_score,
            champion_score=gate.champion_score,
            champion_version=None if current is None else str(current.version),
            reason=reason,
            forced=forced,
            gain=gate.gain,
            interval=gate.interval,
            threshold_scores=gate.threshold_scores,
            schema_changed=schema_changed,
            refit=registration.refit,
        )
        lineage = {
            "sparksweep.sweep_run_id": sweep_run_id,
            "sparksweep.trial_run_id": best.run_id,
            "sparksweep.data_fingerprint": dataset.fingerprint,
            "sparksweep.model_family": "ensemble" if ensemble else best.family,
            "sparksweep.refit": str(registration.refit).lower(),
            f"sparksweep.valid.{metric.name}": repr(best.value),
            f"sparksweep.test.{metric.name}": repr(gate.candidate_score),
            "sparksweep.registered_at": _now(),
        }
        if ensemble:
            lineage["sparksweep.ensemble"] = ", ".join(f"{t.family} {w:.2f} (run {t.run_id})" for t, w in ensemble)
        version = client.create_model_version(
            name,
            source=source,
            run_id=run_id,
            tags={**lineage, **decision.tags()},
            model_id=model_uri.removeprefix("models:/"),
        )
        decision = dataclasses.replace(decision, version=str(version.version))
        if promoted:
            event = PromotionEvent(
                version=decision.version,
                replaced=decision.champion_version,
                action="force" if forced else "promote",
                metric=metric.name,
                score=gate.candidate_score,
                replaced_score=gate.champion_score,
                reason=reason,
                sweep_run_id=sweep_run_id,
            )
            _crown(client, name, decision.version, current, event, registration.stage)
        else:
            client.set_registered_model_alias(name, CHALLENGER, decision.version)
    _record_on_parent(client, sweep_run_id, decision)
    return decision


def promote_version(
    client: MlflowClient,
    name: str,
    version: str,
    *,
    tracking_uri: str,
    dataset: Dataset | None = None,
    metric: Metric | None = None,
    registration: RegisterSpec | None = None,
    force: bool = False,
) -> ChampionDecision:
    """Promote an existing ``version`` by hand: through the same gate (on ``dataset``'s test rows, with
    ``metric`` and ``registration``'s rules) unless ``force``.

    Example:
        >>> promote_version(client, "churn", "3", tracking_uri=uri, force=True)  # doctest: +SKIP
    """
    from sparksweep.spec import RegisterSpec

    client.get_model_version(name, version)  # a clear MLflow error when it does not exist
    rules = (registration or RegisterSpec(name=name)).model_copy(update={"force": force})
    with registry_lease(client, name):
        current = _alias_version(client, name, CHAMPION)
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
            candidate = _predict(load_model(f"models:/{name}/{version}", tracking_uri), dataset.X_test)
            gate, schema_changed = _decide(client, name, current, candidate, dataset, metric, rules, tracking_uri)
            metric_name = metric.name
        promoted = gate.passed or force
        forced = promoted and not gate.passed
        decision = ChampionDecision(
            name=name,
            version=str(version),
            promoted=promoted,
            alias=CHAMPION if promoted else None,
            metric=metric_name,
            candidate_score=gate.candidate_score,
            champion_score=gate.champion_score,
            champion_version=None if current is None else str(current.version),
            reason=f"forced: {gate.reason}" if forced else gate.reason,
            forced=forced,
            gain=gate.gain,
            interval=gate.interval,
            threshold_scores=gate.threshold_scores,
            schema_changed=schema_changed,
        )
        if promoted:
            for key, value in decision.tags().items():
                client.set_model_version_tag(name, str(version), key, value)
            event = PromotionEvent(
                version=str(version),
                replaced=decision.champion_version,
                action="force" if forced else "manual",
                metric=metric_name or None,
                score=None if np.isnan(gate.candidate_score) else gate.candidate_score,
                replaced_score=gate.champion_score,
                reason=decision.reason,
            )
            _crown(client, name, str(version), current, event, rules.stage)
    return decision


def rollback_champion(client: MlflowClient, name: str) -> PromotionEvent:
    """Give ``@champion`` back to the ``@previous`` version; the version before that (from the history) becomes
    ``@previous``, or the alias is removed when there is none.

    When the champion being replaced holds a legacy stage (``register.stage``, e.g. ``Production``), the restored
    version is moved to that stage too (and the replaced one archived), so clients reading
    ``models:/<name>/Production`` follow the rollback.

    Example:
        >>> rollback_champion(client, "churn").version  # doctest: +SKIP
        '2'
    """
    with registry_lease(client, name):
        previous = _alias_version(client, name, PREVIOUS)
        if previous is None:
            raise RegistryError(f"{name!r} has no @previous version to roll back to; see `sparksweep champion history`")
        current = _alias_version(client, name, CHAMPION)
        restored = str(previous.version)
        client.set_registered_model_alias(name, CHAMPION, restored)
        before = [e for e in read_history(client, name) if e.version == restored and e.replaced]
        earlier = before[-1].replaced if before else None
        if earlier is not None and earlier != restored and (current is None or earlier != str(current.version)):
            client.set_registered_model_alias(name, PREVIOUS, earlier)
        else:
            client.delete_registered_model_alias(name, PREVIOUS)
        if current is not None:
            client.set_model_version_tag(name, str(current.version), "sparksweep.rolled_back_at", _now())
        stage = _legacy_stage(current) if current is not None else None
        if stage is not None:
            _set_stage(client, name, restored, stage)
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
    versions = client.search_model_versions(f"name = '{name}'", order_by=["version_number DESC"])
    return ChampionView(name=name, aliases={k: str(v) for k, v in model.aliases.items()}, versions=list(versions))


def champion_history(client: MlflowClient, name: str) -> list[PromotionEvent]:
    """Every change of ``@champion`` of ``name``, oldest first."""
    return read_history(client, name)
