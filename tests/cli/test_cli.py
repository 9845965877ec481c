"""`sparksweep champion show|promote|rollback|history` against a real SQLite registry, and refit."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from mlflow import MlflowClient

from sparksweep.cli import main
from sparksweep.errors import RegistryError
from sparksweep.metrics import get_metric
from sparksweep.models import get_family
from sparksweep.spec import RegisterSpec
from sparksweep.sweep._conclude import conclude
from sparksweep.sweep._refit import refit_data
from tests.conftest import FluentStore
from tests.registry._fixtures import DROP, churn_dataset, log_trial

NAME = "churn-cli"


def test_champion_commands(fluent_store: FluentStore, churn: pd.DataFrame, tmp_path: Path) -> None:
    uri = fluent_store.uri
    client = MlflowClient(uri, uri)
    dataset = churn_dataset(churn)
    for family in ("test.constant", "sklearn.logistic_regression"):
        logged = log_trial(uri, fluent_store.experiment_id, dataset, family)
        conclude(
            client=client,
            tracking_uri=uri,
            registration=RegisterSpec(name=NAME),
            best=logged.trial,
            dataset=dataset,
            metric=get_metric("auc_roc"),
            sweep_run_id=logged.sweep_run_id,
        )
    runner = CliRunner()
    shown = runner.invoke(main, ["champion", "show", NAME, "--tracking-uri", uri])
    assert shown.exit_code == 0, shown.output
    assert "@champion = v2, @previous = v1" in shown.output
    assert "sklearn.logistic_regression" in shown.output
    history = runner.invoke(main, ["champion", "history", NAME, "--tracking-uri", uri])
    assert history.exit_code == 0, history.output
    rows = [line.split() for line in history.output.splitlines()[1:]]
    assert [(r[2], r[3], r[4]) for r in rows] == [("promote", "1", "-"), ("promote", "2", "1")]
    refused = runner.invoke(main, ["champion", "promote", NAME, "1", "--tracking-uri", uri])
    assert refused.exit_code == 2
    assert "--sweep-file" in refused.output
    back = runner.invoke(main, ["champion", "rollback", NAME, "--tracking-uri", uri])
    assert back.exit_code == 0, back.output
    assert "@champion is v1 again (was v2)" in back.output
    forced = runner.invoke(main, ["champion", "promote", NAME, "2", "--force", "--tracking-uri", uri])
    assert forced.exit_code == 0, forced.output
    assert "now @champion (forced)" in forced.output
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == "2"
    # Through the gate on a sweep file's test rows: the logistic regression (v2) beats the constant (v1).
    assert runner.invoke(main, ["champion", "rollback", NAME, "--tracking-uri", uri]).exit_code == 0
    churn.to_parquet(tmp_path / "churn.parquet", index=False)
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(
        yaml.safe_dump(
            {
                "experiment": "cli-gate",
                "data": {"path": str(tmp_path / "churn.parquet"), "target": "label", "drop": DROP},
                "metric": "auc_roc",
                "models": ["sklearn.logistic_regression"],
                "register": {"name": NAME},
            }
        )
    )
    gated = runner.invoke(
        main, ["champion", "promote", NAME, "2", "--sweep-file", str(sweep_file), "--tracking-uri", uri]
    )
    assert gated.exit_code == 0, gated.output
    assert "version 2: now @champion" in gated.output
    assert "(forced)" not in gated.output
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == "2"
    missing = runner.invoke(main, ["champion", "show", "nope", "--tracking-uri", uri])
    assert missing.exit_code == 2
    assert "no registered model named 'nope'" in missing.output


def test_refit_registers_a_model_fitted_on_train_and_valid(fluent_store: FluentStore, churn: pd.DataFrame) -> None:
    uri = fluent_store.uri
    client = MlflowClient(uri, uri)
    dataset = churn_dataset(churn)
    logged = log_trial(uri, fluent_store.experiment_id, dataset, "sklearn.logistic_regression")
    decision = conclude(
        client=client,
        tracking_uri=uri,
        registration=RegisterSpec(name=NAME, refit=True),
        best=logged.trial,
        dataset=dataset,
        metric=get_metric("auc_roc"),
        sweep_run_id=logged.sweep_run_id,
    )
    assert decision.refit
    version = client.get_model_version(NAME, decision.version)
    refit_run = client.get_run(version.run_id)
    assert refit_run.data.tags["sparksweep.kind"] == "refit"
    assert refit_run.data.tags["mlflow.parentRunId"] == logged.sweep_run_id
    assert refit_run.data.tags["sparksweep.refit_of"] == logged.trial.run_id
    assert version.tags["sparksweep.refit"] == "true"
    assert version.tags["sparksweep.trial_run_id"] == logged.trial.run_id
    # The registered model is the family's whole fitted model (here: scaling + logistic regression), so it scores
    # the test rows as the same family fitted by hand on train + valid does.
    family = get_family("sklearn.logistic_regression")
    both = dataclasses.replace(
        dataset.training,
        X_train=pd.concat([dataset.training.X_train, dataset.training.X_valid], ignore_index=True),
        y_train=np.concatenate([dataset.training.y_train, dataset.training.y_valid]),
    )
    by_hand = family.fit(family.build({}, task="binary", n_jobs=1, seed=0), both)
    expected = get_metric("auc_roc")(dataset.y_test, family.predict(by_hand, dataset.X_test, "binary"))
    assert decision.candidate_score == pytest.approx(expected, abs=1e-6)


def test_refit_registers_a_champion_even_when_trials_logged_no_model(
    fluent_store: FluentStore, churn: pd.DataFrame
) -> None:
    uri = fluent_store.uri
    client = MlflowClient(uri, uri)
    dataset = churn_dataset(churn)
    logged = log_trial(uri, fluent_store.experiment_id, dataset, "sklearn.logistic_regression")
    no_model = dataclasses.replace(logged.trial, model_uri=None)  # a sweep with tracking.log_models: false
    common = {
        "client": client,
        "tracking_uri": uri,
        "best": no_model,
        "dataset": dataset,
        "metric": get_metric("auc_roc"),
        "sweep_run_id": logged.sweep_run_id,
    }
    with pytest.raises(RegistryError, match=r"register\.refit: true"):
        conclude(registration=RegisterSpec(name=NAME), **common)
    decision = conclude(registration=RegisterSpec(name=NAME, refit=True), **common)
    assert decision.refit
    assert decision.promoted
    version = client.get_model_version(NAME, decision.version)
    assert client.get_run(version.run_id).data.tags["sparksweep.kind"] == "refit"


def test_refit_data_keeps_a_stopping_set_only_for_families_that_stop_early(churn: pd.DataFrame) -> None:
    data = churn_dataset(churn).training
    n = len(data.y_train) + len(data.y_valid)
    whole = refit_data(data, stops_early=False, seed=0)
    assert len(whole.X_train) == len(whole.y_train) == n
    stopping = refit_data(data, stops_early=True, seed=0)
    assert len(stopping.y_train) + len(stopping.y_valid) == n
    assert len(stopping.y_valid) == pytest.approx(0.2 * n, abs=1)
    # Every row is used once, in one of the two parts.
    rows = pd.concat([stopping.X_train, stopping.X_valid], ignore_index=True)
    original = pd.concat([data.X_train, data.X_valid], ignore_index=True)
    pd.testing.assert_frame_equal(
        rows.sort_values(list(rows.columns)).reset_index(drop=True),
        original.sort_values(list(original.columns)).reset_index(drop=True),
    )
    assert stopping.categories == data.categories


def test_refit_of_a_trial_without_recorded_rounds_stops_early_on_a_share_of_the_rows(
    fluent_store: FluentStore, churn: pd.DataFrame
) -> None:
    uri = fluent_store.uri
    client = MlflowClient(uri, uri)
    dataset = churn_dataset(churn)
    logged = log_trial(uri, fluent_store.experiment_id, dataset, "lightgbm")  # an older sweep's: no n_rounds
    common = {
        "client": client,
        "tracking_uri": uri,
        "dataset": dataset,
        "metric": get_metric("auc_roc"),
        "sweep_run_id": logged.sweep_run_id,
        "registration": RegisterSpec(name="rounds", refit=True, force=True),
    }
    old = conclude(best=logged.trial, **common)
    refit_run = client.get_run(client.get_model_version("rounds", old.version).run_id)
    assert "n_rounds" not in refit_run.data.metrics
    with_rounds = dataclasses.replace(logged.trial, metrics={"n_rounds": 12.4})
    new = conclude(best=with_rounds, **common)
    refit_run = client.get_run(client.get_model_version("rounds", new.version).run_id)
    assert refit_run.data.metrics["n_rounds"] == 12
    # The registered model is LightGBM's 12 rounds fitted on every row of train + valid.
    family = get_family("lightgbm")
    both = dataclasses.replace(
        dataset.training,
        X_train=pd.concat([dataset.training.X_train, dataset.training.X_valid], ignore_index=True),
        y_train=np.concatenate([dataset.training.y_train, dataset.training.y_valid]),
    )
    by_hand = family.fit_rounds(family.build({}, task="binary", n_jobs=1, seed=0), both, 12)
    expected = get_metric("auc_roc")(dataset.y_test, family.predict(by_hand, dataset.X_test, "binary"))
    assert new.candidate_score == pytest.approx(expected, abs=1e-6)
    assert new.candidate_score != pytest.approx(old.candidate_score, abs=1e-9)
