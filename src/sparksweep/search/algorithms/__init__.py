"""Search algorithms: Optuna samplers and Hyperopt algorithms behind one ask/tell interface.

Example:
    >>> from sparksweep.search.space import Float, SearchSpace
    >>> from sparksweep.scoring.metrics import Direction
    >>> s = make_searcher("hyperopt.tpe", SearchSpace({"f": {"x": Float(0, 1)}}), Direction.MAXIMIZE, seed=0)
    >>> s.name
    'hyperopt.tpe'
"""

from __future__ import annotations

from collections.abc import Callable

from sparksweep.errors import SpecError
from sparksweep.scoring.metrics import Direction
from sparksweep.search.algorithms._base import BaseSearcher
from sparksweep.search.algorithms._hyperopt import ALGOS, HyperoptSearcher
from sparksweep.search.algorithms._optuna import SAMPLERS, OptunaSearcher
from sparksweep.search.space import SearchSpace

__all__ = ["ALGORITHMS", "BaseSearcher", "HyperoptSearcher", "OptunaSearcher", "make_searcher"]

_Factory = Callable[[SearchSpace, Direction, "int | None"], BaseSearcher]


def _optuna(sampler: str) -> _Factory:
    return lambda space, direction, seed: OptunaSearcher(space, direction, seed, sampler=sampler)


def _hyperopt(algo: str) -> _Factory:
    return lambda space, direction, seed: HyperoptSearcher(space, direction, seed, algo=algo)


ALGORITHMS: dict[str, _Factory] = {
    **{f"optuna.{name}": _optuna(name) for name in SAMPLERS},
    **{f"hyperopt.{name}": _hyperopt(name) for name in ALGOS},
}
"""Search algorithms by the name a sweep file uses."""


def make_searcher(name: str, space: SearchSpace, direction: Direction, seed: int | None = None) -> BaseSearcher:
    """Build the search algorithm ``name`` over ``space``."""
    try:
        factory = ALGORITHMS[name]
    except KeyError:
        raise SpecError(f"unknown search algorithm {name!r}; choose one of {sorted(ALGORITHMS)}") from None
    return factory(space, direction, seed)
