"""Model families, by the names a sweep file uses.

Example:
    >>> get_family("lightgbm").tasks == frozenset({"binary", "multiclass", "regression"})
    True
"""

from __future__ import annotations

from sparksweep.errors import SpecError
from sparksweep.models._base import BaseModelFamily, SavedModel
from sparksweep.models.lightgbm import LightGBMFamily
from sparksweep.models.sklearn import HistGradientBoostingFamily, LogisticRegressionFamily, RandomForestFamily
from sparksweep.models.xgboost import XGBoostFamily

__all__ = ["FAMILIES", "BaseModelFamily", "SavedModel", "get_family", "register_family"]

FAMILIES: dict[str, BaseModelFamily] = {
    f.name: f
    for f in [
        HistGradientBoostingFamily(),
        RandomForestFamily(),
        LogisticRegressionFamily(),
        XGBoostFamily(),
        LightGBMFamily(),
    ]
}
"""Every registered model family, by name."""


def get_family(name: str) -> BaseModelFamily:
    """The family registered as ``name``; :class:`SpecError` with the known names otherwise."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise SpecError(f"unknown model family {name!r}; choose from {sorted(FAMILIES)}") from None


def register_family(family: BaseModelFamily, *, replace: bool = False) -> None:
    """Make a custom family available to sweeps under ``family.name``.

    Custom families must be importable in the Spark workers too (install the module where the executors run).
    """
    if not isinstance(family, BaseModelFamily):
        raise SpecError(f"register_family expects a BaseModelFamily instance, got {type(family).__name__}")
    if family.name in FAMILIES and not replace:
        raise SpecError(f"a model family named {family.name!r} is already registered; pass replace=True to override")
    FAMILIES[family.name] = family
