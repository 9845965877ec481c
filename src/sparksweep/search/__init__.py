"""Search algorithms: Optuna samplers and Hyperopt algorithms behind one ask/tell interface.

Example:
    >>> from sparksweep.space import Float, SearchSpace
    >>> from sparksweep.metrics import Direction
    >>> s = make_searcher("hyperopt.tpe", SearchSpace({"f": {"x": Float(0, 1)}}), Direction.MAXIMIZE, seed=0)
    >>> s.name
    'hyperopt.tpe'
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

from sparksweep.errors import SpecError
from sparksweep.metrics import Direction
from sparksweep.search._base import BaseSearcher
from sparksweep.search._hyperopt import ALGOS, HyperoptSearcher
from sparksweep.search._optuna import SAMPLERS, OptunaSearcher
from sparksweep.space import Categorical, Float, Int, SearchSpace
from sparksweep.trial import Proposal, TrialResult, TrialState

__all__ = [
    "ALGORITHMS",
    "BaseSearcher",
    "Categorical",
    "Float",
    "HyperoptSearcher",
    "Int",
    "OptunaSearcher",
    "Proposal",
    "SearchSpace",
    "TrialResult",
    "TrialState",
    "make_searcher",
]

_Factory = Callable[[SearchSpace, Direction, "int | None", "int | None"], BaseSearcher]


def _optuna(sampler: str) -> _Factory:
    return lambda space, direction, seed, startup: OptunaSearcher(
        space, direction, seed, sampler=sampler, startup=startup
    )


def _hyperopt(algo: str) -> _Factory:
    return lambda space, direction, seed, startup: HyperoptSearcher(space, direction, seed, algo=algo, startup=startup)


ALGORITHMS: dict[str, _Factory] = {
    **{f"optuna.{name}": _optuna(name) for name in SAMPLERS},
    **{f"hyperopt.{name}": _hyperopt(name) for name in ALGOS},
}
"""Search algorithms by the name a sweep file uses."""


def make_searcher(
    name: str, space: SearchSpace, direction: Direction, seed: int | None = None, *, startup: int | None = None
) -> BaseSearcher:
    """Build the search algorithm ``name`` over ``space``.

    ``startup``: how many finished trials TPE (Optuna's or Hyperopt's) waits for before it models them, instead of
    its default of 10 random ones; a sweep that starts from each family's defaults passes their number, so TPE
    learns from them at once (other algorithms ignore it).
    """
    try:
        factory = ALGORITHMS[name]
    except KeyError:
        raise SpecError(f"unknown search algorithm {name!r}; choose one of {sorted(ALGORITHMS)}") from None
    if startup is not None and startup < 1:
        raise SpecError(f"startup={startup}: TPE needs at least one finished trial to model; pass 1 or more, or None")
    return factory(space, direction, seed, startup)


_MOVED = {
    "ChampionDecision": "sparksweep.registry",
    "register_champion": "sparksweep.registry",
    "SweepProgress": "sparksweep.sweep",
    "SweepResult": "sparksweep.sweep",
    "run_sweep": "sparksweep.sweep",
    "resume_sweep": "sparksweep.sweep",
    "optimize": "sparksweep.sweep",
    "Ensemble": "sparksweep.sweep",
    "Finalist": "sparksweep.sweep",
    "TrialContext": "sparksweep.worker",
    "BaseExecutor": "sparksweep.executors",
    "LocalExecutor": "sparksweep.executors",
    "SparkExecutor": "sparksweep.executors",
    "get_spark": "sparksweep",
}
"""Names ``sparksweep.search`` held before the package was laid out in layers; kept for one release."""


def __getattr__(name: str) -> Any:
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module 'sparksweep.search' has no attribute {name!r}")
    warnings.warn(
        f"sparksweep.search.{name} moved: import it from {module} (sparksweep.search keeps only the search "
        "algorithms; the old name goes in the next release)",
        DeprecationWarning,
        stacklevel=2,
    )
    # By name, so the search layer does not depend on the layers above it.
    return getattr(importlib.import_module(module), name)
