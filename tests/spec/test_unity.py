"""Unity Catalog's rules for a registration (three-level names, no stages, a lease name valid there), as pure rules:
no Databricks needed. And the refusal comes before any trial."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparksweep.errors import SpecError
from sparksweep.registry import lease_name
from sparksweep.spec import UC_LEASE_SUFFIX, check_unity_catalog, unity_catalog_problems, validate_spec
from sparksweep.sweep import run_sweep


def _raw(registry_uri: str | None, name: str, stage: str | None = None) -> dict[str, object]:
    register: dict[str, object] = {"name": name}
    if stage is not None:
        register["stage"] = stage
    tracking: dict[str, object] = {"uri": "sqlite:///unused.db"}
    if registry_uri is not None:
        tracking["registry_uri"] = registry_uri
    return {
        "experiment": "uc",
        "data": {"path": "unused.parquet", "target": "label"},
        "models": ["sklearn.logistic_regression"],
        "register": register,
        "tracking": tracking,
    }


@pytest.mark.parametrize("name", ["main.ml.churn", "main.ml.churn-model", "dev_cat.team_schema.model_2"])
def test_a_three_level_name_of_valid_parts_passes(name: str) -> None:
    assert unity_catalog_problems(name, None) == []
    spec = validate_spec(_raw("databricks-uc", name))
    assert spec.tracking.registry_uri == "databricks-uc"
    assert spec.registration is not None
    assert spec.registration.name == name


@pytest.mark.parametrize(
    ("name", "levels"), [("churn", "one level"), ("ml.churn", "2 levels"), ("a.b.c.d", "4 levels")]
)
def test_a_name_without_three_levels_is_refused_with_the_rule_and_an_example(name: str, levels: str) -> None:
    (problem,) = unity_catalog_problems(name, None)
    assert f"register.name {name!r}" in problem
    assert "three levels, catalog.schema.model" in problem
    assert "e.g. 'main.ml.churn_model'" in problem
    assert levels in problem
    with pytest.raises(SpecError, match=r"tracking\.registry_uri is databricks-uc \(Unity Catalog\).*three levels"):
        validate_spec(_raw("databricks-uc", name))


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("main..churn", "its schema is empty"),
        ("main.ml.ch urn", "its model name 'ch urn' contains ' '"),
        ("main.ml/x.churn", "its schema 'ml/x' contains '/'"),
        ("main.ml.churn\x01", "contains '\\x01'"),
        ("Main.ml.churn", "its catalog 'Main' has capitals (Unity Catalog stores names in lowercase): write 'main'"),
        (f"main.ml.{'m' * 256}", "its model name is 256 characters long (at most 255)"),
    ],
)
def test_each_part_must_be_a_valid_unity_catalog_name(name: str, says: str) -> None:
    problems = unity_catalog_problems(name, None)
    assert any(says in p for p in problems), problems


def test_a_model_name_leaves_room_for_the_lease() -> None:
    fits = "m" * (255 - len(UC_LEASE_SUFFIX))
    assert unity_catalog_problems(f"main.ml.{fits}", None) == []
    (problem,) = unity_catalog_problems(f"main.ml.{fits}m", None)
    assert f"use at most {len(fits)}" in problem


def test_stages_are_refused_with_the_reason() -> None:
    (problem,) = unity_catalog_problems("main.ml.churn", "Production")
    assert "register.stage is Production, and Unity Catalog has no stages" in problem
    assert "models:/<name>@champion" in problem
    assert "remove register.stage" in problem
    with pytest.raises(SpecError, match=r"register\.stage is Production"):
        validate_spec(_raw("databricks-uc", "main.ml.churn", stage="Production"))


def test_other_registries_keep_mlflow_rules() -> None:
    """One-level names and stages stay valid in a registry that is not Unity Catalog."""
    spec = validate_spec(_raw("sqlite:///registry.db", "churn", stage="Production"))
    assert spec.registration is not None
    assert spec.registration.stage == "Production"
    validate_spec(_raw(None, "churn"))
    check_unity_catalog("churn", "Production", "http://127.0.0.1:5000")  # raises nothing
    with pytest.raises(SpecError, match=r"the registry databricks-uc://prod is Unity Catalog"):
        check_unity_catalog("churn", None, "databricks-uc://prod")


def test_the_lease_is_a_valid_unity_catalog_name_there() -> None:
    assert lease_name("churn") == "churn.sparksweep-lease"
    assert lease_name("churn", "sqlite:///registry.db") == "churn.sparksweep-lease"
    marker = lease_name("main.ml.churn", "databricks-uc")
    assert marker == "main.ml.churn_sparksweep_lease"
    assert unity_catalog_problems(marker, None) == []


def test_a_unity_catalog_registry_from_the_environment_is_checked_before_any_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweep file names no registry; MLFLOW_REGISTRY_URI does: the one-level name is refused before the store,
    Spark or any trial starts."""
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "databricks-uc")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    raw = _raw(None, "churn")
    raw["tracking"] = {"uri": uri}
    with pytest.raises(SpecError, match=r"the registry databricks-uc is Unity Catalog: register\.name 'churn'"):
        run_sweep(validate_spec(raw))
    assert not (tmp_path / "mlflow.db").exists()  # not even the tracking store was opened
