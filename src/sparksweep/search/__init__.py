"""Search: spaces, algorithms, the sweep engine, executors, tracking and champion selection.

The engine, executors and champion selection are loaded on first use: model families import the space DSL from
here, and the engine imports the model families.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sparksweep.search.space import Categorical, Float, Int, SearchSpace
from sparksweep.search.trial import Proposal, TrialResult, TrialState

if TYPE_CHECKING:
    from sparksweep.search.algorithms import ALGORITHMS, BaseSearcher, make_searcher
    from sparksweep.search.champion import ChampionDecision, register_champion
    from sparksweep.search.engine import SweepProgress, SweepResult, resume_sweep, run_sweep
    from sparksweep.search.ensemble import Ensemble
    from sparksweep.search.executors import BaseExecutor, LocalExecutor, SparkExecutor, get_spark
    from sparksweep.search.finalists import Finalist
    from sparksweep.search.objective import optimize
    from sparksweep.search.worker import TrialContext

__all__ = [
    "ALGORITHMS",
    "BaseExecutor",
    "BaseSearcher",
    "Categorical",
    "ChampionDecision",
    "Ensemble",
    "Finalist",
    "Float",
    "Int",
    "LocalExecutor",
    "Proposal",
    "SearchSpace",
    "SparkExecutor",
    "SweepProgress",
    "SweepResult",
    "TrialContext",
    "TrialResult",
    "TrialState",
    "get_spark",
    "make_searcher",
    "optimize",
    "register_champion",
    "resume_sweep",
    "run_sweep",
]

_LAZY = {
    "ALGORITHMS": "sparksweep.search.algorithms",
    "BaseSearcher": "sparksweep.search.algorithms",
    "make_searcher": "sparksweep.search.algorithms",
    "ChampionDecision": "sparksweep.search.champion",
    "register_champion": "sparksweep.search.champion",
    "SweepProgress": "sparksweep.search.engine",
    "Ensemble": "sparksweep.search.ensemble",
    "Finalist": "sparksweep.search.finalists",
    "SweepResult": "sparksweep.search.engine",
    "run_sweep": "sparksweep.search.engine",
    "resume_sweep": "sparksweep.search.engine",
    "optimize": "sparksweep.search.objective",
    "TrialContext": "sparksweep.search.worker",
    "BaseExecutor": "sparksweep.search.executors",
    "LocalExecutor": "sparksweep.search.executors",
    "SparkExecutor": "sparksweep.search.executors",
    "get_spark": "sparksweep.search.executors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sparksweep.search' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
