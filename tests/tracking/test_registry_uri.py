"""The one rule for the registry URI: given, else MLFLOW_REGISTRY_URI, else the tracking URI."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparksweep.errors import SpecError
from sparksweep.tracking import is_unity_catalog, registry_uri, resolve_tracking_uri


def test_given_beats_the_environment_which_beats_the_tracking_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    assert registry_uri(None, "http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "databricks-uc")
    assert registry_uri(None, "databricks") == "databricks-uc"
    assert registry_uri("sqlite:////tmp/registry.db", "databricks") == "sqlite:////tmp/registry.db"


def test_a_relative_sqlite_registry_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert registry_uri("sqlite:///registry.db", "sqlite:///mlflow.db") == f"sqlite:///{tmp_path / 'registry.db'}"


def test_a_registry_that_is_not_a_uri_names_the_field() -> None:
    with pytest.raises(SpecError, match=r"tracking\.registry_uri 'registry\.db' is not a URI; use sqlite:///"):
        registry_uri("registry.db", "sqlite:///mlflow.db")


def test_databricks_uris_are_accepted_and_unity_catalog_recognised() -> None:
    assert resolve_tracking_uri("databricks") == "databricks"
    assert registry_uri("databricks-uc://prod-profile", "databricks") == "databricks-uc://prod-profile"
    assert is_unity_catalog("databricks-uc")
    assert is_unity_catalog("databricks-uc://prod-profile")
    assert not is_unity_catalog("databricks")
    assert not is_unity_catalog("sqlite:///r.db")
    assert not is_unity_catalog(None)
