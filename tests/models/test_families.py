"""The contract every model family passes, for every task it supports."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_regression

from sparksweep.config import DataSpec
from sparksweep.data import Dataset, prepare_dataset
from sparksweep.errors import SpecError
from sparksweep.models import FAMILIES, BaseModelFamily, get_family, register_family
from sparksweep.models._mlflow import log_fitted_model, pip_requirements
from sparksweep.scoring.batch import download_model
from sparksweep.search.space import Categorical, Float, Int
from tests.conftest import FluentStore
from tests.helpers import ConstantFamily

CASES = [(name, task) for name, fam in FAMILIES.items() if not name.startswith("test.") for task in sorted(fam.tasks)]


def _dataset(task: str) -> Dataset:
    if task == "regression":
        X, y = make_regression(n_samples=400, n_features=5, noise=5.0, random_state=0)
    else:
        X, y = make_classification(
            n_samples=400, n_features=5, n_informative=3, n_classes=2 if task == "binary" else 3, random_state=0
        )
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)]).assign(target=y)
    return prepare_dataset(df, DataSpec(path="x.parquet", target="target"), task)


def _middle_params(family: BaseModelFamily, task: str) -> dict[str, object]:
    params: dict[str, object] = {}
    for name, dist in family.default_space(task).items():
        if isinstance(dist, Float):
            params[name] = float(np.sqrt(dist.low * dist.high)) if dist.log else (dist.low + dist.high) / 2
        elif isinstance(dist, Int):
            params[name] = round(np.sqrt(dist.low * dist.high)) if dist.log else (dist.low + dist.high) // 2
        else:
            assert isinstance(dist, Categorical)
            params[name] = dist.choices[0]
    return params


@pytest.mark.parametrize(("name", "task"), CASES)
def test_family_contract(name: str, task: str, fluent_store: FluentStore) -> None:
    family = get_family(name)
    ds = _dataset(task)
    space = family.default_space(task)
    assert space, "every family searches at least one hyperparameter"
    estimator = family.build(_middle_params(family, task), task=task, n_jobs=1, seed=0)
    for key in ("n_jobs",):
        if key in estimator.get_params():
            assert estimator.get_params()[key] == 1, "a family honours the trial's thread budget"
    family.fit(estimator, ds.training)
    pred = family.predict(estimator, ds.X_test, task)
    if task == "binary":
        assert pred.shape == (len(ds.X_test),)
        assert ((pred >= 0) & (pred <= 1)).all()
    elif task == "multiclass":
        assert pred.shape == (len(ds.X_test), 3)
        np.testing.assert_allclose(pred.sum(axis=1), 1.0, rtol=1e-6)
    else:
        assert pred.shape == (len(ds.X_test),)
        assert np.corrcoef(pred, ds.y_test)[0, 1] > 0.5, "a regression model learns the signal"

    with mlflow.start_run(experiment_id=fluent_store.experiment_id):
        uri = log_fitted_model(
            family, estimator, task=task, features=ds.features, example=ds.training.X_valid, classes=ds.classes
        )
    local = Path(download_model(uri, fluent_store.uri))
    assert not list(local.rglob("*.pkl")), "models are stored in native formats, never pickled"
    model = mlflow.pyfunc.load_model(str(local))
    out = model.predict(ds.X_test)
    values = np.asarray(out, dtype=np.float64)
    if task == "multiclass":
        assert list(out.columns) == ["0", "1", "2"], "one probability column per class, named after it"
    # The logged pyfunc model predicts exactly what the family does: for binary, P(positive class).
    np.testing.assert_allclose(values, pred, rtol=1e-6, atol=1e-9)
    if task == "binary" and hasattr(estimator, "predict_proba"):
        np.testing.assert_allclose(values, estimator.predict_proba(ds.X_test)[:, 1], rtol=1e-6, atol=1e-9)
    assert model.metadata.get_input_schema().input_names() == ds.features


def test_pip_requirements_are_pinned() -> None:
    reqs = pip_requirements("lightgbm")
    assert any(r.startswith("lightgbm==") for r in reqs)
    assert any(r.startswith("mlflow==") for r in reqs)
    assert not any(r.startswith("xgboost") for r in reqs)


def test_registry_errors_and_custom_families() -> None:
    with pytest.raises(SpecError, match="choose from"):
        get_family("catboost")
    with pytest.raises(SpecError, match="BaseModelFamily instance"):
        register_family("not a family")  # type: ignore[arg-type]
    register_family(ConstantFamily(), replace=True)
    assert get_family("test.constant").tasks == frozenset({"binary"})
    with pytest.raises(SpecError, match="already registered"):
        register_family(ConstantFamily())
