"""Trials against a real MLflow server behind a proxy that fails chosen requests: transient errors are retried, and a
trial whose results cannot be recorded is FAILED, never COMPLETE."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mlflow import MlflowClient

from sparksweep.data import prepare_dataset
from sparksweep.datasets import generate_churn
from sparksweep.models import get_family
from sparksweep.scoring import load_model
from sparksweep.spec import DataSpec
from sparksweep.tracking import RetryPolicy
from sparksweep.trial import TrialState
from sparksweep.worker import TrialTask, run_trial
from tests.helpers import InProcessData
from tests.integration.conftest import LocalCluster
from tests.integration.flaky_proxy import FlakyProxy

pytestmark = pytest.mark.slow

FAST_RETRY = RetryPolicy(attempts=4, initial_delay=0.05, max_delay=0.2)


@pytest.fixture(scope="module")
def training() -> InProcessData:
    ds = prepare_dataset(
        generate_churn(600, seed=5), DataSpec(path="-", target="label", drop=["user_id", "feature_date"])
    )
    return InProcessData(ds.fingerprint, ds.training)


@pytest.fixture
def proxy(local_cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[FlakyProxy]:
    # One HTTP attempt per call inside MLflow, so every injected failure reaches sparksweep's own retries.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with FlakyProxy(local_cluster.tracking_uri) as flaky:
        yield flaky


def _task(uri: str, run_id: str, data: InProcessData, *, log_model: bool) -> TrialTask:
    family = get_family("sklearn.logistic_regression")
    features = list(data.data.X_train.columns)
    return TrialTask(
        number=0,
        run_id=run_id,
        tracking_uri=uri,
        family=family,
        params={"C": 1.0},
        task="binary",
        metric="auc_roc",
        features=features,
        classes=[0, 1],
        n_jobs=1,
        seed=0,
        data=data,
        autolog=False,
        log_model=log_model,
        retry=FAST_RETRY,
    )


def _new_run(server: MlflowClient, name: str) -> str:
    experiment = server.get_experiment_by_name(name)
    experiment_id = experiment.experiment_id if experiment else server.create_experiment(name)
    return str(server.create_run(experiment_id).info.run_id)


def test_transient_server_errors_are_retried_and_the_trial_completes(
    local_cluster: LocalCluster, proxy: FlakyProxy, training: InProcessData
) -> None:
    server = MlflowClient(local_cluster.tracking_uri)
    run_id = _new_run(server, "retries")
    proxy.fail("/runs/log-batch", times=2)  # the metrics batch fails twice
    proxy.fail("/mlflow-artifacts/artifacts/", times=1)  # and the first model file upload once
    proxy.fail("/runs/update", times=1)  # and the final status once

    result = run_trial(_task(proxy.url, run_id, training, log_model=True))

    assert result.state is TrialState.COMPLETE, result.error
    assert proxy.failed["/runs/log-batch"] == 2
    assert proxy.seen["/runs/log-batch"] >= 3
    assert proxy.failed["/mlflow-artifacts/artifacts/"] == 1
    assert proxy.failed["/runs/update"] == 1
    run = server.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["auc_roc"] == pytest.approx(result.value)
    assert run.data.tags["sparksweep.model_uri"] == result.model_uri
    model = load_model(str(result.model_uri), local_cluster.tracking_uri)  # the whole model reached the server
    assert len(model.predict(training.data.X_valid)) == len(training.data.X_valid)


def test_a_trial_whose_results_cannot_be_recorded_is_failed(
    local_cluster: LocalCluster, proxy: FlakyProxy, training: InProcessData
) -> None:
    server = MlflowClient(local_cluster.tracking_uri)
    run_id = _new_run(server, "retries")
    proxy.fail("/runs/log-batch")  # the metrics never get through

    result = run_trial(_task(proxy.url, run_id, training, log_model=False))

    assert result.state is TrialState.FAILED
    assert result.value is None
    assert result.recorded, "the FAILED status itself got through"
    assert "could not be recorded" in (result.error or "")
    assert proxy.seen["/runs/log-batch"] == FAST_RETRY.attempts
    run = server.get_run(run_id)
    assert run.info.status == "FAILED"
    assert "auc_roc" not in run.data.metrics
    assert "could not be recorded" in run.data.tags["sparksweep.error"]


def test_when_even_the_failure_cannot_be_recorded_the_driver_is_told(
    local_cluster: LocalCluster, proxy: FlakyProxy, training: InProcessData
) -> None:
    server = MlflowClient(local_cluster.tracking_uri)
    run_id = _new_run(server, "retries")
    proxy.fail("/runs/log-batch")
    proxy.fail("/runs/update")  # neither FINISHED nor FAILED can be written

    result = run_trial(_task(proxy.url, run_id, training, log_model=False))

    assert result.state is TrialState.FAILED
    assert not result.recorded, "the driver must mark this run failed itself"
    assert "recording the failure also failed" in (result.error or "")
    assert server.get_run(run_id).info.status == "RUNNING"
