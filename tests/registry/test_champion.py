"""The champion gate against a real SQLite registry: decisions, aliases after each, history, rollback, promote."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
from mlflow import MlflowClient

from sparksweep.errors import RegistryError
from sparksweep.metrics import get_metric
from sparksweep.registry import (
    Candidate,
    champion_history,
    promote_version,
    register_champion,
    rollback_champion,
    show_champion,
)
from sparksweep.spec import RegisterSpec
from tests.conftest import FluentStore
from tests.registry._fixtures import Logged, churn_dataset, log_trial

NAME = "churn-gate"
AUC = get_metric("auc_roc")


def _register(store: FluentStore, logged: Logged, df: pd.DataFrame, **rules: object) -> object:
    dataset = churn_dataset(df, rules.pop("drop", None))  # type: ignore[arg-type]
    return register_champion(
        client=MlflowClient(store.uri, store.uri),
        tracking_uri=store.uri,
        registration=RegisterSpec(name=NAME, **rules),  # type: ignore[arg-type]
        candidate=Candidate.from_trial(logged.trial),
        dataset=dataset,
        metric=AUC,
        sweep_run_id=logged.sweep_run_id,
    )


def _aliases(client: MlflowClient) -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model(NAME).aliases.items()}


def test_gate_decisions_aliases_history_and_rollback(fluent_store: FluentStore, churn: pd.DataFrame) -> None:
    client = MlflowClient(fluent_store.uri, fluent_store.uri)
    dataset = churn_dataset(churn)
    weak = log_trial(fluent_store.uri, fluent_store.experiment_id, dataset, "test.constant")
    strong = log_trial(fluent_store.uri, fluent_store.experiment_id, dataset, "sklearn.logistic_regression")
    forest = log_trial(fluent_store.uri, fluent_store.experiment_id, dataset, "sklearn.random_forest")

    # 1. No champion yet: the first candidate is promoted, even a weak one (no thresholds).
    first = _register(fluent_store, weak, churn)
    assert first.promoted
    assert first.version == "1"
    assert first.reason.startswith("no current champion")
    assert _aliases(client) == {"champion": "1"}

    # 2. A threshold the candidate misses blocks it although it beats the champion.
    blocked = _register(fluent_store, strong, churn, thresholds=["auc_roc >= 0.99"])
    assert not blocked.promoted
    assert "fails the threshold(s) auc_roc >= 0.99" in blocked.reason
    assert _aliases(client) == {"champion": "1", "challenger": "2"}

    # 3. Better: promoted; the old champion keeps @previous, the challenger alias stays on the loser.
    better = _register(fluent_store, strong, churn, confidence=0.95, bootstrap_samples=200)
    assert better.promoted
    assert better.champion_version == "1"
    assert better.champion_score == pytest.approx(0.5)
    assert better.interval is not None
    assert better.interval[0] > 0
    assert _aliases(client) == {"champion": "3", "previous": "1", "challenger": "2"}
    tags = client.get_model_version(NAME, "3").tags
    assert tags["sparksweep.gate"] == "promoted"
    assert tags["sparksweep.trial_run_id"] == strong.trial.run_id
    assert tags["sparksweep.sweep_run_id"] == strong.sweep_run_id
    assert tags["sparksweep.data_fingerprint"] == dataset.fingerprint
    assert float(tags["sparksweep.gate_champion_score"]) == pytest.approx(0.5)
    assert tags["sparksweep.gate_interval"].startswith("[")
    parent = client.get_run(strong.sweep_run_id).data
    assert parent.tags["sparksweep.gate"] == "promoted"
    assert parent.metrics["test_auc_roc"] == pytest.approx(better.candidate_score)
    assert parent.metrics["champion_test_auc_roc"] == pytest.approx(0.5)

    # 4. Worse: rejected and @challenger; 5. within the margin: rejected too.
    worse = _register(fluent_store, weak, churn)
    assert not worse.promoted
    assert worse.alias == "challenger"
    assert _aliases(client) == {"champion": "3", "previous": "1", "challenger": "4"}
    margin = _register(fluent_store, forest, churn, min_improvement=0.5)
    assert not margin.promoted
    assert "needed > 0 and >= 0.5" in margin.reason
    assert _aliases(client)["champion"] == "3"
    assert client.get_model_version(NAME, "5").tags["sparksweep.gate"] == "rejected"

    # History lists who replaced whom, with scores.
    history = champion_history(client, NAME)
    assert [(e.version, e.replaced, e.action) for e in history] == [("1", None, "promote"), ("3", "1", "promote")]
    assert history[1].score == pytest.approx(better.candidate_score)
    assert history[1].replaced_score == pytest.approx(0.5)

    # Rollback: back to @previous; nothing older to fall back to after that.
    event = rollback_champion(client, NAME)
    assert (event.version, event.replaced, event.action) == ("1", "3", "rollback")
    assert _aliases(client) == {"champion": "1", "challenger": "5"}
    assert "sparksweep.rolled_back_at" in client.get_model_version(NAME, "3").tags
    with pytest.raises(RegistryError, match="no @previous version"):
        rollback_champion(client, NAME)

    # A manual promotion goes through the same gate, or is forced; a legacy stage can follow it.
    with pytest.raises(RegistryError, match="--sweep-file"):
        promote_version(client, NAME, "4", tracking_uri=fluent_store.uri)
    manual = promote_version(client, NAME, "3", tracking_uri=fluent_store.uri, dataset=dataset, metric=AUC)
    assert manual.promoted
    assert _aliases(client) == {"champion": "3", "previous": "1", "challenger": "5"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # the stage deprecation warning is silenced locally
        forced = promote_version(
            client,
            NAME,
            "4",
            tracking_uri=fluent_store.uri,
            force=True,
            registration=RegisterSpec(name=NAME, stage="Production"),
        )
    assert forced.forced
    assert _aliases(client) == {"champion": "4", "previous": "3", "challenger": "5"}
    assert client.get_model_version(NAME, "4").current_stage == "Production"
    assert [e.action for e in champion_history(client, NAME)][-3:] == ["rollback", "manual", "force"]
    # Rolling back moves the legacy stage with the alias: models:/<name>/Production follows @champion.
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        back = rollback_champion(client, NAME)
    assert (back.version, back.replaced) == ("3", "4")
    assert "stage Production moved to v3" in back.reason
    assert client.get_model_version(NAME, "3").current_stage == "Production"
    assert client.get_model_version(NAME, "4").current_stage == "Archived"
    assert _aliases(client) == {"champion": "3", "previous": "1", "challenger": "5"}
    view = show_champion(client, NAME)
    assert view.version("champion") is not None
    assert [str(v.version) for v in view.versions] == ["5", "4", "3", "2", "1"]


def test_changed_schema_needs_force(fluent_store: FluentStore, churn: pd.DataFrame) -> None:
    client = MlflowClient(fluent_store.uri, fluent_store.uri)
    full = churn_dataset(churn)
    old = log_trial(fluent_store.uri, fluent_store.experiment_id, full, "sklearn.logistic_regression")
    assert _register(fluent_store, old, churn).promoted
    # The data lost a column the champion was trained on: the champion cannot be scored on the new test rows.
    drop = ["user_id", "feature_date", "rolling_7d_events"]
    narrow = churn_dataset(churn, drop)
    new = log_trial(fluent_store.uri, fluent_store.experiment_id, narrow, "sklearn.logistic_regression")
    refused = _register(fluent_store, new, churn, drop=drop)
    assert not refused.promoted
    assert refused.schema_changed
    assert "schema changed" in refused.reason
    assert "rolling_7d_events" in refused.reason
    assert "--force" in refused.reason
    assert _aliases(client) == {"champion": "1", "challenger": "2"}
    forced = _register(fluent_store, new, churn, drop=drop, force=True)
    assert forced.promoted
    assert forced.forced
    assert forced.reason.startswith("forced: schema changed")
    assert _aliases(client) == {"champion": "3", "previous": "1", "challenger": "2"}
