"""Optuna samplers behind the :class:`BaseSearcher` interface (ask/tell on an in-memory study)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from sparksweep._imports import require
from sparksweep.scoring.metrics import Direction
from sparksweep.search.algorithms._base import BaseSearcher
from sparksweep.search.space import SearchSpace
from sparksweep.search.trial import Proposal, TrialState

if TYPE_CHECKING:
    import optuna

__all__ = ["OptunaSearcher"]


def _make_sampler(kind: str, seed: int | None) -> optuna.samplers.BaseSampler:
    samplers = require("optuna.samplers", "Optuna search algorithms")
    sampler: optuna.samplers.BaseSampler
    if kind == "tpe":
        # multivariate + group model the conditional space (one group per family); constant_liar keeps
        # parallel trials from all sampling the same region while earlier ones are still running.
        with warnings.catch_warnings():  # these options are marked experimental; we rely on them on purpose
            warnings.simplefilter("ignore", category=require("optuna.exceptions", "Optuna").ExperimentalWarning)
            sampler = samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True)
    elif kind == "random":
        sampler = samplers.RandomSampler(seed=seed)
    else:
        raise ValueError(f"unknown Optuna sampler {kind!r}")
    return sampler


class OptunaSearcher(BaseSearcher):
    """Search with an Optuna sampler.

    Example:
        >>> from sparksweep.search.space import Float, SearchSpace
        >>> s = OptunaSearcher(SearchSpace({"f": {"x": Float(0, 1)}}), Direction.MINIMIZE, seed=1, sampler="random")
        >>> p = s.ask(); s.tell(p, 0.5, TrialState.COMPLETE); p.family
        'f'
    """

    def __init__(
        self, space: SearchSpace, direction: Direction, seed: int | None = None, *, sampler: str = "tpe"
    ) -> None:
        super().__init__(space, direction, seed)
        optuna = require("optuna", "Optuna search algorithms")
        self.name = f"optuna.{sampler}"
        self._study = optuna.create_study(direction=direction.value, sampler=_make_sampler(sampler, seed))

    def ask(self) -> Proposal:
        trial = self._study.ask()
        family, params = self.space.suggest_optuna(trial)
        return Proposal(family=family, params=params, token=trial)

    def tell(self, proposal: Proposal, value: float | None, state: TrialState) -> None:
        optuna = require("optuna", "Optuna search algorithms")
        trial: Any = proposal.token
        if state is TrialState.COMPLETE and value is not None:
            self._study.tell(trial, value)
        elif state is TrialState.PRUNED:
            self._study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            self._study.tell(trial, state=optuna.trial.TrialState.FAIL)
