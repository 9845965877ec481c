"""The import paths the README documented before the layered layout still work for one release, with a warning."""

from __future__ import annotations

import importlib
import sys

import pytest


@pytest.mark.parametrize(
    ("old", "new", "name"),
    [
        ("sparksweep.config", "sparksweep.spec", "SweepSpec"),
        ("sparksweep.scoring.metrics", "sparksweep.metrics", "Metric"),
    ],
)
def test_a_moved_module_warns_and_gives_the_same_objects(old: str, new: str, name: str) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)


@pytest.mark.parametrize("name", ["run_sweep", "resume_sweep", "optimize", "SweepResult", "get_spark", "TrialContext"])
def test_the_old_search_names_warn_and_are_the_public_ones(name: str) -> None:
    import sparksweep.search

    with pytest.warns(DeprecationWarning, match=f"sparksweep.search.{name} moved"):
        old = getattr(sparksweep.search, name)
    assert old is getattr(sparksweep, name)


def test_the_search_package_keeps_its_algorithms_without_a_warning() -> None:
    import warnings

    import sparksweep.search

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "optuna.tpe" in sparksweep.search.ALGORITHMS
        assert sparksweep.search.SearchSpace is sparksweep.SearchSpace


def test_an_unknown_search_name_is_an_attribute_error() -> None:
    import sparksweep.search

    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        sparksweep.search.nothing_here  # noqa: B018
