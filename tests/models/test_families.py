"""The contract every model family passes, for every task it supports, on a table with a text category and gaps."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_regression

from sparksweep.data import Dataset, encode_categories, expand_dates, prepare_dataset
from sparksweep.errors import DataError, SpecError
from sparksweep.metrics import get_metric
from sparksweep.models import (
    ENTRY_POINT_GROUP,
    FAMILIES,
    BaseModelFamily,
    get_family,
    load_entry_point_families,
    log_fitted_model,
    pip_requirements,
    register_family,
)
from sparksweep.scoring import download_model
from sparksweep.space import Categorical, Float, Int
from sparksweep.spec import DataSpec
from tests.conftest import new_store
from tests.helpers import ConstantFamily

BUILT_IN = [name for name in FAMILIES if not name.startswith(("test.", "plugin."))]
CASES = [(name, task) for name in BUILT_IN for task in sorted(FAMILIES[name].tasks)]
CITIES = ["north", "south", "east", "west"]


def categorical_table(task: str, n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Five numeric features plus a text column ``city`` that carries signal, with missing numbers and cities."""
    rng = np.random.default_rng(seed)
    if task == "regression":
        X, y = make_regression(n_samples=n, n_features=5, noise=5.0, random_state=seed)
    else:
        X, y = make_classification(
            n_samples=n, n_features=5, n_informative=3, n_classes=2 if task == "binary" else 3, random_state=seed
        )
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    city = np.where(rng.random(n) < 0.6, np.array(CITIES)[np.asarray(y, dtype=np.int64) % 4], rng.choice(CITIES, n))
    df["city"] = pd.Series(city, dtype=object).where(rng.random(n) > 0.05, None)
    df.loc[rng.random(n) < 0.05, "f0"] = np.nan
    return df.assign(target=y)


def _dataset(task: str) -> Dataset:
    """The categorical table plus the dtypes a user brings beside it: a tz-aware timestamp (with gaps) and a
    nullable integer, which every family gets as numbers through the logged model."""
    table = categorical_table(task)
    rng = np.random.default_rng(1)
    target = table["target"].to_numpy(dtype=np.float64)
    rank = pd.Series(target + rng.normal(0.0, target.std() * 2, len(table))).rank().to_numpy()  # some signal
    joined = pd.Timestamp("2024-01-01", tz="Europe/Paris") + pd.to_timedelta(rank * 20, "h")
    table["joined"] = pd.Series(joined).where(rng.random(len(table)) > 0.05)
    table["visits"] = pd.array(np.where(rng.random(len(table)) < 0.05, None, rng.integers(0, 9, len(table))), "Int64")
    return prepare_dataset(table, DataSpec(target="target", categorical=["city"]), task)


def _encoded(ds: Dataset) -> pd.DataFrame:
    """The test rows as the families were trained on them (dates as their parts, categories)."""
    return encode_categories(expand_dates(ds.X_test, ds.training.dates), ds.categories)


DATASETS = {task: _dataset(task) for task in ("binary", "multiclass", "regression")}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, store_template: Path) -> Iterator[tuple[str, str]]:
    """One SQLite store for the module; the fluent URI is restored after."""
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("families")
    previous = mlflow.get_tracking_uri()
    uri = new_store(store_template, root / "mlflow.db")
    experiment_id = MlflowClient(uri).create_experiment("families", artifact_location=(root / "art").as_uri())
    mlflow.set_tracking_uri(uri)
    yield uri, experiment_id
    mlflow.set_tracking_uri(previous)


def _middle_params(family: BaseModelFamily, task: str) -> dict[str, object]:
    params: dict[str, object] = {}
    for name, dist in family.default_space(task).items():
        if isinstance(dist, Float):
            params[name] = float(np.sqrt(dist.low * dist.high)) if dist.log else (dist.low + dist.high) / 2
        elif isinstance(dist, Int):
            params[name] = round(np.sqrt(dist.low * dist.high)) if dist.log else (dist.low + dist.high) // 2
        else:
            assert isinstance(dist, Categorical)
            params[name] = dist.choices[-1]
    return params


def test_every_family_of_the_issue_is_registered() -> None:
    expected = {
        "sklearn.hist_gradient_boosting",
        "sklearn.gradient_boosting",
        "sklearn.random_forest",
        "sklearn.extra_trees",
        "sklearn.logistic_regression",
        "sklearn.linear",
        "sklearn.knn",
        "sklearn.svm",
        "xgboost",
        "lightgbm",
    }
    assert expected <= set(BUILT_IN)
    assert get_family("sklearn.linear").tasks == frozenset({"regression"})
    assert get_family("sklearn.logistic_regression").tasks == frozenset({"binary", "multiclass"})


@pytest.mark.parametrize(("name", "task"), CASES)
def test_family_contract(name: str, task: str, store: tuple[str, str]) -> None:
    family = get_family(name)
    ds = DATASETS[task]
    assert family.default_space(task), "every family searches at least one hyperparameter"
    estimator = family.build(_middle_params(family, task), task=task, n_jobs=1, seed=0)
    if "n_jobs" in estimator.get_params():
        assert estimator.get_params()["n_jobs"] in (1, None), "a family honours the trial's thread budget"
    family.check_data(ds.training)  # 256 training rows: every family accepts them
    model = family.fit(estimator, ds.training)
    pred = family.predict(model, _encoded(ds), task)
    if task == "binary":
        assert pred.shape == (len(ds.X_test),)
        assert ((pred >= 0) & (pred <= 1)).all()
        assert get_metric("auc_roc")(ds.y_test, pred) > 0.7, "a classifier learns the signal"
    elif task == "multiclass":
        assert pred.shape == (len(ds.X_test), 3)
        np.testing.assert_allclose(pred.sum(axis=1), 1.0, rtol=1e-6)
        assert get_metric("auc_roc_ovr")(ds.y_test, pred) > 0.7, "a classifier learns the signal"
    else:
        assert pred.shape == (len(ds.X_test),)
        assert np.corrcoef(pred, ds.y_test)[0, 1] > 0.5, "a regression model learns the signal"

    uri, experiment_id = store
    with mlflow.start_run(experiment_id=experiment_id):
        model_uri = log_fitted_model(
            family,
            model,
            task=task,
            features=ds.features,
            data=ds.training,
            classes=ds.classes,
        )
    local = Path(download_model(model_uri, uri))
    assert not list(local.rglob("*.pkl")), "models are stored in native formats, never pickled"
    pyfunc = mlflow.pyfunc.load_model(str(local))
    schema = pyfunc.metadata.get_input_schema()
    assert schema.input_names() == ds.features
    # A categorical column is declared Any: MLflow refuses a pandas category column for a string one.
    types = {c.name: str(c.type) for c in schema.inputs}
    assert types["city"] == "Any", "scoring takes text or categories"
    assert types["joined"] == types["visits"] == "Any", "MLflow refuses tz-aware timestamps and Int64 when typed"
    # The logged pyfunc model takes the raw table (text cities, gaps, the timestamp and the Int64 column as the
    # table gave them) and predicts exactly what the family does on its encoded rows.
    assert ds.X_test["city"].map(type).isin([str, type(None)]).all()
    assert str(ds.X_test["joined"].dtype).endswith("Europe/Paris]")
    out = pyfunc.predict(ds.X_test.assign(visits=ds.X_test["visits"].astype("Int64")))
    np.testing.assert_allclose(np.asarray(out, dtype=np.float64), pred, rtol=1e-6, atol=1e-9)
    if task == "multiclass":
        assert list(out.columns) == ["0", "1", "2"], "one probability column per class, named after it"
    # A city never seen in training and a missing city are scored, like a missing value.
    odd = ds.X_test.head(3).assign(city=["atlantis", None, "north"])
    assert np.isfinite(np.asarray(pyfunc.predict(odd), dtype=np.float64)).all()
    as_categories = ds.X_test.assign(city=ds.X_test["city"].astype("category"))
    np.testing.assert_allclose(np.asarray(pyfunc.predict(as_categories), dtype=np.float64), pred, rtol=1e-6, atol=1e-9)


def test_sample_weights_reach_every_family_that_takes_them() -> None:
    table = categorical_table("binary", n=300, seed=3)
    spec = DataSpec(target="target", categorical=["city"])
    plain = prepare_dataset(table, spec, "binary")
    heavy = table.assign(w=np.where(table["target"] == 1, 50.0, 1.0))
    weighted = prepare_dataset(heavy, spec.model_copy(update={"weight_column": "w"}), "binary")
    assert "w" not in weighted.features
    X = encode_categories(plain.X_test, plain.categories)
    for name in BUILT_IN:
        family = get_family(name)
        if "binary" not in family.tasks:
            continue
        if not family.supports_sample_weight:
            with pytest.raises(DataError, match="cannot use sample weights"):
                family.check_data(weighted.training)
            continue
        params = _middle_params(family, "binary")
        preds = [
            family.predict(family.fit(family.build(params, task="binary", n_jobs=1, seed=0), d.training), X, "binary")
            for d in (plain, weighted)
        ]
        means = [p.mean() for p in preds]
        assert means[1] > means[0] + 0.03, f"{name}: 50x weight on the positive class raises its share {means}"


def test_svm_refuses_large_data_before_any_trial() -> None:
    big = categorical_table("binary", n=16_000, seed=1)
    ds = prepare_dataset(big, DataSpec(target="target", categorical=["city"]), "binary")
    with pytest.raises(DataError) as err:
        get_family("sklearn.svm").check_data(ds.training)
    message = str(err.value)
    assert "10,240 rows" in message
    assert "limit of 10,000" in message
    assert "sklearn.logistic_regression" in message
    assert "lightgbm" in message
    get_family("lightgbm").check_data(ds.training)


def test_gradient_boosting_stops_on_the_validation_split() -> None:
    family = get_family("sklearn.gradient_boosting")
    ds = DATASETS["binary"]
    model = family.fit(
        family.build({"learning_rate": 0.3, "max_depth": 6}, task="binary", n_jobs=1, seed=0), ds.training
    )
    booster = model.named_steps["model"]
    assert booster.n_estimators_ < 500, "a fast learner on 256 rows stops long before the cap"
    assert len(booster.estimators_) == booster.n_estimators_ == booster.n_estimators


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


def _install_plugin(root: Path, body: str, target: str) -> None:
    """A real installed distribution (a dist-info folder on sys.path) that declares a family entry point."""
    (root / "sweep_plugin_mod.py").write_text(textwrap.dedent(body))
    info = root / "sweep_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sweep-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nplugin_ridge = sweep_plugin_mod:{target}\n")


PLUGIN = """
    from sparksweep.models import BaseModelFamily
    from sparksweep.space import Float

    class PluginRidge(BaseModelFamily):
        name, tasks, library = "plugin.ridge", frozenset({"regression"}), "sklearn"

        def default_space(self, task):
            return {"alpha": Float(0.01, 10.0, log=True)}

        def build(self, params, *, task, n_jobs, seed):
            from sklearn.linear_model import Ridge
            return Ridge(**params)

    NOT_A_FAMILY = 42
"""


def test_a_family_from_a_package_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install_plugin(tmp_path, PLUGIN, "PluginRidge")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(FAMILIES, "plugin.ridge", raising=False)
    monkeypatch.setattr("sparksweep.models.FAMILIES", FAMILIES)
    try:
        family = get_family("plugin.ridge")  # found through the entry point on first use
        assert type(family).__name__ == "PluginRidge"
        ds = DATASETS["regression"]
        model = family.fit(family.build({"alpha": 1.0}, task="regression", n_jobs=1, seed=0), ds.training)
        pred = family.predict(model, _encoded(ds), "regression")
        assert np.corrcoef(pred, ds.y_test)[0, 1] > 0.5, "the default preprocessing encodes the text column"
    finally:
        FAMILIES.pop("plugin.ridge", None)
        sys.modules.pop("sweep_plugin_mod", None)


def test_a_broken_entry_point_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install_plugin(tmp_path, PLUGIN, "NOT_A_FAMILY")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(SpecError, match=r"entry point 'plugin_ridge'.*sweep-plugin.*not a BaseModelFamily"):
            load_entry_point_families()
    finally:
        sys.modules.pop("sweep_plugin_mod", None)
