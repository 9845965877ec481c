"""Optuna samplers behind the :class:`BaseSearcher` interface (ask/tell on an in-memory study)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sparksweep._imports import require
from sparksweep.errors import DependencyError, SpecError
from sparksweep.scoring.metrics import Direction
from sparksweep.search.algorithms._base import BaseSearcher
from sparksweep.search.space import FAMILY_PARAM, SearchSpace
from sparksweep.search.trial import PastTrial, Proposal, TrialState

if TYPE_CHECKING:
    import optuna

__all__ = ["SAMPLERS", "OptunaSearcher"]

SAMPLERS = ("tpe", "random", "qmc", "cmaes", "gp")
"""The Optuna samplers sparksweep offers, as ``optuna.<name>``."""


def _check_cmaes(space: SearchSpace) -> None:
    if len(space.families) > 1:
        raise SpecError(
            f"optuna.cmaes searches one continuous space, but this sweep has {len(space.families)} model families "
            f"({list(space.family_names)}), a categorical choice CMA-ES cannot model; list one family in 'models' "
            "or use optuna.tpe"
        )
    family = space.family_names[0]
    categorical = [name for name, d in space.families[family].items() if type(d).__name__ == "Categorical"]
    if categorical:
        raise SpecError(
            f"optuna.cmaes cannot search categorical parameters, and family {family!r} has {categorical}; fix them "
            "with a one-choice categorical in search.space, or use optuna.tpe"
        )
    try:
        import cmaes  # noqa: F401
    except ImportError as exc:
        raise DependencyError(
            f"optuna.cmaes needs the package 'cmaes' ({exc}). Install it with: pip install cmaes"
        ) from exc


def _make_sampler(kind: str, seed: int | None, space: SearchSpace) -> optuna.samplers.BaseSampler:
    samplers = require("optuna.samplers", "Optuna search algorithms")
    experimental = require("optuna.exceptions", "Optuna").ExperimentalWarning
    sampler: optuna.samplers.BaseSampler
    with warnings.catch_warnings():  # some options are marked experimental; we rely on them on purpose
        warnings.simplefilter("ignore", category=experimental)
        if kind == "tpe":
            # multivariate + group model the conditional space (one group per family); constant_liar keeps
            # parallel trials from all sampling the same region while earlier ones are still running.
            sampler = samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True)
        elif kind == "random":
            sampler = samplers.RandomSampler(seed=seed)
        elif kind == "qmc":
            # Scrambled Sobol points; the seed fixes the scramble. Parameters of families other than the first
            # trial's are sampled independently (Optuna's QMC covers one fixed space).
            sampler = samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=seed, warn_independent_sampling=False)
        elif kind == "cmaes":
            _check_cmaes(space)
            sampler = samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
        elif kind == "gp":
            try:
                import torch  # noqa: F401
            except ImportError as exc:
                raise DependencyError(
                    f"optuna.gp (Gaussian-process Bayesian optimization) needs PyTorch ({exc}); the CPU build is "
                    "enough. Install it with: pip install torch (or: pip install 'sparksweep[gp]'), "
                    "or use optuna.tpe"
                ) from exc
            sampler = samplers.GPSampler(seed=seed, warn_independent_sampling=False)
        else:
            raise SpecError(f"unknown Optuna sampler {kind!r}; choose one of {list(SAMPLERS)}")
    return sampler


class OptunaSearcher(BaseSearcher):
    """Search with an Optuna sampler (``tpe``, ``random``, ``qmc``, ``cmaes`` or ``gp``).

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
        self._study = optuna.create_study(direction=direction.value, sampler=_make_sampler(sampler, seed, space))

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

    def add_past(self, trials: Sequence[PastTrial]) -> None:
        optuna = require("optuna", "Optuna search algorithms")
        states = {
            TrialState.COMPLETE: optuna.trial.TrialState.COMPLETE,
            TrialState.FAILED: optuna.trial.TrialState.FAIL,
            TrialState.PRUNED: optuna.trial.TrialState.PRUNED,
        }
        for past in sorted(trials, key=lambda t: t.number):
            if past.state not in states or (past.state is TrialState.COMPLETE and past.value is None):
                continue
            params = self.space.check(past.family, past.params)
            internal = {FAMILY_PARAM: past.family}
            internal.update({self.space.internal_name(past.family, k): v for k, v in params.items()})
            frozen = optuna.trial.create_trial(
                state=states[past.state],
                value=past.value if past.state is TrialState.COMPLETE else None,
                params=internal,
                distributions=self.space.optuna_distributions(past.family),
            )
            self._study.add_trial(frozen)
