"""sparksweep: hyperparameter sweeps across model families, run in parallel on Spark and recorded in MLflow.

Example:
    >>> import sparksweep
    >>> spec = sparksweep.load_spec("examples/churn.yaml")  # doctest: +SKIP
    >>> result = sparksweep.run_sweep(spec)  # doctest: +SKIP
    >>> result.champion.version  # doctest: +SKIP
"""

from __future__ import annotations

from sparksweep._spark import get_spark
from sparksweep._version import __version__
from sparksweep.datasets import generate_churn
from sparksweep.errors import (
    DataError,
    DataWarning,
    DependencyError,
    RegistryError,
    SparkSweepError,
    SpecError,
    TrialError,
)
from sparksweep.models import BaseModelFamily, get_family, register_family
from sparksweep.registry import ChampionDecision
from sparksweep.scoring import get_metric, load_model, score_pandas, score_spark, score_table
from sparksweep.space import Categorical, Float, Int, SearchSpace
from sparksweep.spec import SweepSpec, load_spec
from sparksweep.sweep import SweepResult, optimize, refit_trial, resume_sweep, run_sweep
from sparksweep.trial import TrialResult, TrialState
from sparksweep.worker import TrialContext

__all__ = [
    "BaseModelFamily",
    "Categorical",
    "ChampionDecision",
    "DataError",
    "DataWarning",
    "DependencyError",
    "Float",
    "Int",
    "RegistryError",
    "SearchSpace",
    "SparkSweepError",
    "SpecError",
    "SweepResult",
    "SweepSpec",
    "TrialContext",
    "TrialError",
    "TrialResult",
    "TrialState",
    "__version__",
    "generate_churn",
    "get_family",
    "get_metric",
    "get_spark",
    "load_model",
    "load_spec",
    "optimize",
    "refit_trial",
    "register_family",
    "resume_sweep",
    "run_sweep",
    "score_pandas",
    "score_spark",
    "score_table",
]
