"""The interface every search algorithm implements: propose (``ask``) and learn (``tell``)."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

from sparksweep.errors import SpecError
from sparksweep.metrics import Direction
from sparksweep.space import SearchSpace
from sparksweep.trial import Proposal, TrialResult, TrialState

__all__ = ["BaseSearcher"]


class BaseSearcher(abc.ABC):
    """A search algorithm seen by the engine.

    The engine owns dispatch, budgets and tracking; a searcher only proposes and learns, in the driver. Several
    proposals may be outstanding at once (one per trial in flight).

    Args:
        space: The conditional space to search.
        direction: Whether the metric is maximized or minimized.
        seed: Seed for reproducible proposals.
    """

    name: str = ""

    def __init__(self, space: SearchSpace, direction: Direction, seed: int | None = None) -> None:
        self.space = space
        self.direction = direction
        self.seed = seed

    @abc.abstractmethod
    def ask(self) -> Proposal:
        """Propose the next family and hyperparameters."""

    @abc.abstractmethod
    def tell(self, proposal: Proposal, value: float | None, state: TrialState) -> None:
        """Report the outcome of a proposal: its metric value when ``state`` is COMPLETE, else None."""

    @abc.abstractmethod
    def add_past(self, trials: Sequence[TrialResult]) -> None:
        """Learn from trials run before this searcher existed (a resumed sweep's, or a warm start's).

        Their parameters must fit the space (:meth:`SearchSpace.check`); killed trials are not told.
        """

    def enqueue(self, family: str, params: dict[str, Any]) -> None:
        """Propose ``family`` with ``params`` before anything of the algorithm's own (in the order enqueued); its
        result is told like any other. ``params`` must fit the space.

        Raises:
            SpecError: this algorithm cannot be given points to start from.
        """
        raise SpecError(
            f"search algorithm {self.name!r} cannot start from given points; set search.start_from_defaults: false"
        )
