"""The sweep specification: what a user writes in a sweep file, validated with errors that name the field.

One module per section of the file (``_search``, ``_register``, ``_tracking``; ``data`` is
:class:`sparksweep.data.DataSpec`), the whole file in ``_sweep``, the strict YAML loader in ``_yaml``, and Unity
Catalog's rules for a registration in ``_unity``.

Example:
    >>> spec = SweepSpec.model_validate({
    ...     "experiment": "churn",
    ...     "data": {"path": "data/users.parquet", "target": "label"},
    ...     "models": ["lightgbm"],
    ... })
    >>> spec.search.algorithm
    'optuna.tpe'
"""

from __future__ import annotations

from sparksweep.data import DataSpec
from sparksweep.spec._checks import check_family_params
from sparksweep.spec._register import RegisterSpec, Threshold
from sparksweep.spec._search import PRUNERS, ParamSpec, SearchSpec
from sparksweep.spec._sweep import SparkSpec, SweepSpec, Task, load_spec, validate_spec
from sparksweep.spec._tracking import TrackingSpec
from sparksweep.spec._unity import UC_LEASE_SUFFIX, check_unity_catalog, unity_catalog_problems
from sparksweep.spec._yaml import read_yaml
from sparksweep.tracking import DEFAULT_TRACKING_URI

__all__ = [
    "DEFAULT_TRACKING_URI",
    "PRUNERS",
    "UC_LEASE_SUFFIX",
    "DataSpec",
    "ParamSpec",
    "RegisterSpec",
    "SearchSpec",
    "SparkSpec",
    "SweepSpec",
    "Task",
    "Threshold",
    "TrackingSpec",
    "check_family_params",
    "check_unity_catalog",
    "load_spec",
    "read_yaml",
    "unity_catalog_problems",
    "validate_spec",
]
