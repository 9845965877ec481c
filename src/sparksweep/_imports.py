"""Lazy imports of heavy optional libraries, with an install hint when they are missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from sparksweep.errors import DependencyError

__all__ = ["require"]

_PIP_NAMES = {
    "pyspark": "pyspark",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "sklearn": "scikit-learn",
    "optuna": "optuna",
    "hyperopt": "hyperopt",
    "mlflow": "mlflow",
    "skops": "skops",
}


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` or raise :class:`DependencyError` saying which feature needs it and how to install it.

    Example:
        >>> np = require("numpy", "metrics")
        >>> np.__name__
        'numpy'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        pip_name = _PIP_NAMES.get(top, top)
        raise DependencyError(
            f"{feature} needs the Python package {pip_name!r}, which could not be imported ({exc}). "
            f"Install it with: pip install {pip_name}"
        ) from exc
