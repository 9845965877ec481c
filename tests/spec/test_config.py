from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from sparksweep.bench.spec import load_bench
from sparksweep.errors import SpecError
from sparksweep.spec import SweepSpec, load_spec, validate_spec

REPO = Path(__file__).resolve().parents[2]


def _raw(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "experiment": "e",
        "data": {"path": "d.parquet", "target": "label"},
        "models": ["lightgbm"],
    }
    raw.update(changes)
    return raw


def test_example_sweep_file_is_valid() -> None:
    spec = load_spec(REPO / "examples" / "churn.yaml")
    assert spec.search.algorithm == "optuna.tpe"
    assert spec.registration is not None
    assert spec.registration.name == "churn-prediction-model"
    assert spec.data.drop == ["user_id", "feature_date"]
    assert "xgboost" in spec.models


def test_defaults_are_filled_in() -> None:
    spec = validate_spec(_raw())
    assert spec.tracking.uri == "sqlite:///mlflow.db"
    assert spec.search.n_trials == 20
    assert spec.task is None
    assert spec.registration is None


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        (_raw(colour="red"), "colour", "unknown key"),
        (_raw(search={"algoritm": "optuna.tpe"}), "search.algoritm", "unknown key"),
        (_raw(search={"algorithm": "optuna.magic"}), "search.algorithm", "optuna.tpe"),
        (_raw(models=["catboost"]), "models", "unknown model family 'catboost'"),
        (_raw(models=[]), "models", "at least 1"),
        (_raw(metric="accuracy_score"), "metric", "unknown metric"),
        (_raw(task="ranking"), "task", "binary"),
        (_raw(task="regression", metric="auc_roc"), "(top level)", "does not apply to a regression task"),
        (_raw(task="regression", models=["sklearn.logistic_regression"]), "(top level)", "does not support"),
        (_raw(search={"n_trials": 0}), "search.n_trials", "greater than or equal to 1"),
        (_raw(data={"path": "d.parquet"}), "data.target", "required key is missing"),
        (_raw(data={"path": "d.xlsx", "target": "y"}), "data.path", "unsupported file type"),
        (_raw(data={"path": "d.csv", "target": "y", "drop": ["y"]}), "data", "also listed in 'drop'"),
        (_raw(data={"path": "d.csv", "target": "y", "test_size": 1.5}), "data.test_size", "less than 1"),
        (_raw(data={"path": "d.csv", "table": "t", "target": "y"}), "data", "not both"),
        (_raw(data={"target": "y", "categorical": ["y"]}), "data", "listed in 'categorical'"),
        (_raw(data={"target": "y", "categorical": ["a"], "drop": ["a"]}), "data", "in both 'drop' and 'categorical'"),
        (_raw(data={"target": "y", "weight_column": "y"}), "data", "weight column 'y'"),
        (_raw(data={"target": "y", "class_weight": "auto"}), "data.class_weight", "balanced"),
        (_raw(metric="tests.nowhere:m"), "metric", "cannot be imported"),
        (_raw(metric="tests.helpers:ConstantFamily"), "metric", "not a sparksweep Metric"),
    ],
)
def test_invalid_values_name_the_field(raw: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(SpecError) as err:
        validate_spec(raw)
    message = str(err.value)
    assert f"  {field}:" in message, message
    assert words in message, message


def test_yaml_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("experiment: [unclosed")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n")
    with pytest.raises(SpecError, match="must be a mapping"):
        load_spec(listy)


def test_a_key_given_twice_is_an_error_not_a_silent_override(tmp_path: Path) -> None:
    spec = tmp_path / "twice.yaml"
    spec.write_text(
        "experiment: e\ndata: {path: d.csv, target: y}\nmodels: [lightgbm]\n"
        "register:\n  name: m\n  min_improvement: 0.01\n  min_improvement: 0.5\n"
    )
    with pytest.raises(SpecError, match=r"'min_improvement' is given twice .*lines 6 and 7"):
        load_spec(spec)
    bench = tmp_path / "bench.yaml"
    bench.write_text("name: b\nname: c\n")
    with pytest.raises(SpecError, match=r"bench file .*'name' is given twice"):
        load_bench(bench)


def test_overrides_are_validated() -> None:
    spec = validate_spec(_raw())
    changed = spec.with_overrides(**{"search.n_trials": 3, "spark.master": "local[1]", "tracking.uri": None})
    assert changed.search.n_trials == 3
    assert changed.spark.master == "local[1]"
    assert changed.tracking.uri == spec.tracking.uri
    with pytest.raises(SpecError, match=r"search\.algorithm"):
        spec.with_overrides(**{"search.algorithm": "nope"})


def test_yaml_round_trip() -> None:
    spec = validate_spec(_raw(register={"name": "m"}))
    import yaml

    again = SweepSpec.model_validate(yaml.safe_load(spec.to_yaml()))
    assert again == spec
    assert "register:" in spec.to_yaml()


def test_search_keys_for_budgets_pruning_and_space_overrides() -> None:
    spec = validate_spec(
        _raw(
            search={
                "pruner": "hyperband",
                "patience": 5,
                "target": 0.9,
                "trial_timeout": 30,
                "warm_start": "abc",
                "space": {"lightgbm": {"num_leaves": {"type": "int", "low": 8, "high": 64, "log": True}}},
            }
        )
    )
    assert spec.search.pruner == "hyperband"
    assert spec.search.space["lightgbm"]["num_leaves"].high == 64
    # The recorded YAML (what resume reads back) validates to the same spec.
    assert validate_spec(yaml.safe_load(spec.to_yaml())) == spec


@pytest.mark.parametrize(
    ("search", "words"),
    [
        ({"pruner": "median", "cv": 5}, "cannot be combined with cv=5"),
        ({"cv_racing": True}, "cv_racing: true races the folds"),
        ({"cv": 5, "cv_racing": "sometimes"}, "search.cv_racing"),
        ({"pruner": "asha"}, "search.pruner"),
        ({"space": {"xgboost": {"max_depth": {"type": "int", "low": 2, "high": 9}}}}, "not in 'models'"),
        ({"space": {"lightgbm": {"num_leaves": {"type": "int", "low": 8}}}}, "needs both 'low' and 'high'"),
        ({"space": {"lightgbm": {"x": {"type": "categorical", "low": 1, "choices": [1]}}}}, "choices' only"),
        ({"space": {"lightgbm": {"x": {"type": "float", "low": 0, "high": 1, "log": True}}}}, "low > 0"),
        ({"patience": 0}, "search.patience"),
    ],
)
def test_bad_search_keys_are_named(search: dict[str, Any], words: str) -> None:
    with pytest.raises(SpecError, match=re.escape(words)):
        validate_spec(_raw(search=search))
