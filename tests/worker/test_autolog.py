"""What a trial's run records about its estimator under each ``tracking.autolog`` mode, read back from a real SQLite
store: every estimator setting, the estimator's class, the boosters' training curves, the metrics linked to the
logged model, and the model itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlflow import MlflowClient

from sparksweep.data import Dataset, prepare_dataset
from sparksweep.datasets import generate_churn
from sparksweep.errors import SpecError
from sparksweep.metrics import get_metric
from sparksweep.models import get_family
from sparksweep.scoring import load_model
from sparksweep.spec import DataSpec, TrackingSpec
from sparksweep.tracking import autolog_mode, estimator_record
from sparksweep.trial import TrialResult, TrialState
from sparksweep.worker import TrialTask, run_trial
from tests.conftest import new_store
from tests.helpers import InProcessData

PARAMS = {
    "sklearn.logistic_regression": {"C": 0.5},
    "sklearn.hist_gradient_boosting": {"learning_rate": 0.2, "max_leaf_nodes": 15},
    "xgboost": {"max_depth": 3, "learning_rate": 0.3},
    "lightgbm": {"num_leaves": 15, "learning_rate": 0.3},
}


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return prepare_dataset(
        generate_churn(1200, seed=3), DataSpec(path="-", target="label", drop=["user_id", "feature_date"])
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, store_template: Path) -> tuple[str, str]:
    """One store for the module: every test makes runs of its own."""
    tmp_path = tmp_path_factory.mktemp("autolog")
    uri = new_store(store_template, tmp_path / "mlflow.db")
    experiment_id = MlflowClient(uri).create_experiment("autolog", artifact_location=(tmp_path / "art").as_uri())
    return uri, experiment_id


def _trial(store: tuple[str, str], ds: Dataset, family: str, autolog: Any, *, log_model: bool) -> TrialResult:
    uri, experiment_id = store
    client = MlflowClient(uri)
    run_id = client.create_run(experiment_id).info.run_id
    # The driver logs the family and the searched params when it creates the child run.
    for name, value in {"model_family": family, **PARAMS[family]}.items():
        client.log_param(run_id, name, str(value))
    task = TrialTask(
        number=0,
        run_id=run_id,
        tracking_uri=uri,
        family=get_family(family),
        params=PARAMS[family],
        task="binary",
        metric="auc_roc",
        features=ds.features,
        classes=ds.classes,
        n_jobs=1,
        seed=0,
        data=InProcessData(ds.fingerprint, ds.training),
        autolog=autolog,
        log_model=log_model,
    )
    result = run_trial(task)
    assert result.state is TrialState.COMPLETE, result.error
    return result


def _refit(family: str, ds: Dataset) -> Any:
    """The trial's model fitted again outside the worker (the same params and seed: the same model)."""
    fam = get_family(family)
    return fam.fit(fam.build(PARAMS[family], task="binary", n_jobs=1, seed=0), ds.training)


@pytest.mark.parametrize("family", list(PARAMS))
def test_the_default_record_holds_every_setting_the_class_the_curves_and_the_model(
    store: tuple[str, str], dataset: Dataset, family: str
) -> None:
    uri, _ = store
    client = MlflowClient(uri)
    result = _trial(store, dataset, family, "sparksweep", log_model=True)
    run = client.get_run(result.run_id)
    reference = _refit(family, dataset)
    estimator = reference.steps[-1][1] if hasattr(reference, "steps") else reference

    # Every setting of the estimator, defaults included, as text; the searched ones as the driver logged them.
    expected = {k: str(v) for k, v in estimator.get_params(deep=True).items() if k not in PARAMS[family]}
    assert {k: run.data.params[k] for k in expected} == expected
    assert {k: run.data.params[k] for k in PARAMS[family]} == {k: str(v) for k, v in PARAMS[family].items()}
    assert run.data.tags["estimator_name"] == type(estimator).__name__
    assert run.data.tags["estimator_class"] == f"{type(estimator).__module__}.{type(estimator).__qualname__}"

    # The validation metric is the model's real score on the validation rows.
    fam = get_family(family)
    score = get_metric("auc_roc")(dataset.training.y_valid, fam.predict(reference, dataset.training.X_valid, "binary"))
    assert run.data.metrics["auc_roc"] == pytest.approx(score, rel=1e-9)
    assert result.value == pytest.approx(score, rel=1e-9)
    assert not client.list_artifacts(result.run_id), "no plots or HTML in the run"

    # The boosters' training curves, round by round, as the library recorded them.
    if family == "xgboost":
        curve = estimator.evals_result_["validation_0"]["logloss"]
        _assert_curve(client, result.run_id, "validation_0-logloss", curve, best=estimator.best_iteration)
        assert run.data.metrics["best_iteration"] == estimator.best_iteration
        assert run.data.metrics["stopped_iteration"] == len(curve) - 1
    elif family == "lightgbm":
        curve = estimator.evals_result_["valid_0"]["binary_logloss"]
        _assert_curve(client, result.run_id, "valid_0-binary_logloss", curve, best=estimator.best_iteration_ - 1)
        assert run.data.metrics["best_iteration"] == estimator.best_iteration_
        assert run.data.metrics["stopped_iteration"] == len(curve)
    elif family == "sklearn.hist_gradient_boosting":
        history = client.get_metric_history(result.run_id, "validation_score")
        assert [m.value for m in sorted(history, key=lambda m: m.step)] == pytest.approx(estimator.validation_score_)
        assert run.data.metrics["stopped_iteration"] == estimator.n_iter_
    else:
        assert set(run.data.metrics) == {"auc_roc", "fit_time", "data_load_time", "compute_time"}

    # The model: linked to the run as its output, READY, with the run's params and its metrics, and it predicts
    # exactly what the family predicts.
    assert run.data.tags["sparksweep.model_uri"] == result.model_uri
    model_id = str(result.model_uri).removeprefix("models:/")
    logged = client.get_logged_model(model_id)
    assert logged.source_run_id == result.run_id
    assert str(logged.status) == "READY"
    assert logged.params["model_family"] == family
    assert {m.key: m.value for m in logged.metrics}["auc_roc"] == pytest.approx(score, rel=1e-9)
    assert [o.model_id for o in run.outputs.model_outputs] == [model_id]
    pyfunc = load_model(str(result.model_uri), uri)
    expected_pred = fam.predict(reference, dataset.X_test, "binary")
    np.testing.assert_allclose(np.asarray(pyfunc.predict(dataset.X_test), dtype=np.float64), expected_pred, rtol=1e-6)
    assert pyfunc.metadata.saved_input_example_info is not None, "the input example is kept"


def _assert_curve(client: MlflowClient, run_id: str, name: str, curve: list[float], *, best: int) -> None:
    """The curve at steps 0..n-1, then the best round's value once more at step n (as MLflow's autolog does)."""
    history = sorted(client.get_metric_history(run_id, name), key=lambda m: m.step)
    assert [m.step for m in history] == list(range(len(curve) + 1))
    assert [m.value for m in history[:-1]] == pytest.approx(curve)
    assert history[-1].value == pytest.approx(curve[best])
    assert 0 <= best < len(curve) - 1, "training stopped early, after the best round"


def test_off_records_the_settings_only(store: tuple[str, str], dataset: Dataset) -> None:
    uri, _ = store
    result = _trial(store, dataset, "lightgbm", False, log_model=False)
    run = MlflowClient(uri).get_run(result.run_id)
    assert run.data.params["boosting_type"] == "gbdt"
    assert run.data.params["n_estimators"] == "1000"
    assert "estimator_name" not in run.data.tags
    # The sweep's own metrics stay: the score, the timings, and the rounds early stopping kept (the refit's).
    assert set(run.data.metrics) == {"auc_roc", "fit_time", "data_load_time", "compute_time", "n_rounds"}
    assert result.model_uri is None


def test_mlflow_mode_runs_mlflows_autolog_and_switches_back_off(store: tuple[str, str], dataset: Dataset) -> None:
    uri, _ = store
    client = MlflowClient(uri)
    full = _trial(store, dataset, "sklearn.logistic_regression", "mlflow", log_model=False)
    run = client.get_run(full.run_id)
    # MLflow's sklearn autolog scored the training rows and drew its plots: the costs the default avoids.
    assert "training_roc_auc" in run.data.metrics
    assert "training_roc_curve.png" in {a.path for a in client.list_artifacts(full.run_id)}
    assert run.data.params["model__C"] == "0.5"
    assert run.data.metrics["auc_roc"] == pytest.approx(full.value)

    # The next trial in this process, with the default, is not autologged by MLflow any more.
    light = _trial(store, dataset, "sklearn.logistic_regression", "sparksweep", log_model=False)
    run = client.get_run(light.run_id)
    assert not any(k.startswith("training_") for k in run.data.metrics)
    assert "model__C" not in run.data.params
    assert run.data.tags["estimator_name"] == "LogisticRegression"
    assert light.value == pytest.approx(full.value, rel=1e-9), "the same model either way"


def test_autolog_settings_map_true_and_false_and_name_the_choices() -> None:
    assert TrackingSpec().autolog == "sparksweep"
    assert TrackingSpec(autolog=True).autolog == "sparksweep"
    assert TrackingSpec(autolog=False).autolog == "off"
    assert TrackingSpec(autolog="mlflow").autolog == "mlflow"
    with pytest.raises(SpecError, match="sparksweep, mlflow, off"):
        autolog_mode("full")


def test_searched_params_are_left_to_the_driver_and_mlflow_mode_records_nothing_more() -> None:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=0.25)
    assert "C" not in estimator_record(model, mode="sparksweep", searched={"C": 0.25}).params
    assert estimator_record(model, mode="sparksweep", searched={}).params["C"] == "0.25"
    assert estimator_record(model, mode="mlflow", searched={}).params == {}
    assert estimator_record(model, mode="off", searched={}).tags == {}
