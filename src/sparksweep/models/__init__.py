"""Model families, by the names a sweep file uses.

Built-in families are registered here; a user's own family is registered from Python with :func:`register_family`,
or by a package that names it under the ``sparksweep.families`` entry point group::

    # pyproject.toml of the package that ships the family
    [project.entry-points."sparksweep.families"]
    my_ridge = "my_package.families:RidgeFamily"

Entry points are read the first time a sweep names a family that is not registered yet. A fitted model (or a
weighted ensemble of them) is logged to MLflow as a self-contained pyfunc model with :func:`log_fitted_model` and
:func:`log_ensemble_model`.

Example:
    >>> get_family("lightgbm").tasks == frozenset({"binary", "multiclass", "regression"})
    True
"""

from __future__ import annotations

from importlib import metadata

from sparksweep.errors import SpecError
from sparksweep.models._base import BaseModelFamily, SavedModel
from sparksweep.models._mlflow import PYFUNC_MODEL_FILE, log_ensemble_model, log_fitted_model, pip_requirements
from sparksweep.models._skops import refused_types
from sparksweep.models.lightgbm import LightGBMFamily
from sparksweep.models.sklearn import (
    ExtraTreesFamily,
    GradientBoostingFamily,
    HistGradientBoostingFamily,
    KNNFamily,
    LinearFamily,
    LogisticRegressionFamily,
    RandomForestFamily,
    SVMFamily,
)
from sparksweep.models.xgboost import XGBoostFamily

__all__ = [
    "ENTRY_POINT_GROUP",
    "FAMILIES",
    "PYFUNC_MODEL_FILE",
    "BaseModelFamily",
    "SavedModel",
    "get_family",
    "load_entry_point_families",
    "log_ensemble_model",
    "log_fitted_model",
    "pip_requirements",
    "refused_types",
    "register_family",
]

ENTRY_POINT_GROUP = "sparksweep.families"

FAMILIES: dict[str, BaseModelFamily] = {
    f.name: f
    for f in [
        HistGradientBoostingFamily(),
        GradientBoostingFamily(),
        RandomForestFamily(),
        ExtraTreesFamily(),
        LogisticRegressionFamily(),
        LinearFamily(),
        KNNFamily(),
        SVMFamily(),
        XGBoostFamily(),
        LightGBMFamily(),
    ]
}
"""Every registered model family, by name."""


def load_entry_point_families() -> list[str]:
    """Register the families that installed packages declare under the ``sparksweep.families`` entry point group.

    An entry point names a :class:`BaseModelFamily` subclass (instantiated without arguments) or an instance.
    Families already registered under the same name are kept. Returns the names newly registered.
    """
    added: list[str] = []
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        where = f"entry point {entry.name!r} = {entry.value!r} (package {entry.dist.name if entry.dist else '?'})"
        try:
            loaded = entry.load()
        except Exception as exc:
            raise SpecError(
                f"could not load the model family of {where}: {type(exc).__name__}: {exc}. "
                "Fix or reinstall that package"
            ) from exc
        family = loaded() if isinstance(loaded, type) and issubclass(loaded, BaseModelFamily) else loaded
        if not isinstance(family, BaseModelFamily):
            raise SpecError(
                f"{where} gives a {type(loaded).__name__}, not a BaseModelFamily subclass or instance; "
                "point it at the family class"
            )
        if family.name not in FAMILIES:
            FAMILIES[family.name] = family
            added.append(family.name)
    return added


def get_family(name: str) -> BaseModelFamily:
    """The family registered as ``name`` (looking in installed packages' entry points when it is not yet);
    :class:`SpecError` with the known names otherwise."""
    if name not in FAMILIES:
        load_entry_point_families()
    try:
        return FAMILIES[name]
    except KeyError:
        raise SpecError(
            f"unknown model family {name!r}; choose from {sorted(FAMILIES)}, or register your own with "
            f"sparksweep.register_family or the {ENTRY_POINT_GROUP!r} entry point"
        ) from None


def register_family(family: BaseModelFamily, *, replace: bool = False) -> None:
    """Make a custom family available to sweeps under ``family.name``.

    Custom families must be importable in the Spark workers too (install the module where the executors run).
    """
    if not isinstance(family, BaseModelFamily):
        raise SpecError(f"register_family expects a BaseModelFamily instance, got {type(family).__name__}")
    if family.name in FAMILIES and not replace:
        raise SpecError(f"a model family named {family.name!r} is already registered; pass replace=True to override")
    FAMILIES[family.name] = family
