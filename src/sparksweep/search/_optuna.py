"""Optuna samplers behind the :class:`BaseSearcher` interface (ask/tell on an in-memory study)."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sparksweep._imports import require
from sparksweep.errors import DependencyError, SpecError
from sparksweep.metrics import Direction
from sparksweep.search._base import BaseSearcher
from sparksweep.space import FAMILY_PARAM, SearchSpace
from sparksweep.trial import Proposal, TrialResult, TrialState

if TYPE_CHECKING:
    import optuna

__all__ = ["SAMPLERS", "OptunaSearcher"]

SAMPLERS = ("tpe", "random", "qmc", "cmaes", "gp")
"""The Optuna samplers sparksweep offers, as ``optuna.<name>``."""

_GP_STARTUP = 5
"""Random trials before a Gaussian process models a family's parameters (Optuna's default is 10)."""


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


def _check_torch() -> None:
    try:
        importlib.import_module("torch")  # not `import torch`: mypy would type-check all of PyTorch (~20 s)
    except ImportError as exc:
        raise DependencyError(
            f"optuna.gp (Gaussian-process Bayesian optimization) needs PyTorch ({exc}); its CPU build is enough. "
            "Install it with: pip install 'torch==2.13.0' (on Linux, from PyTorch's CPU wheel index, "
            "--index-url .../whl/cpu: the default Linux wheel is a CUDA build of several GB), or use optuna.tpe"
        ) from exc


TPE_STARTUP = 10
"""Random trials TPE samples before it models the finished ones (Optuna's default), unless told otherwise."""


def _make_sampler(
    kind: str, seed: int | None, space: SearchSpace, startup: int | None = None
) -> optuna.samplers.BaseSampler:
    samplers = require("optuna.samplers", "Optuna search algorithms")
    experimental = require("optuna.exceptions", "Optuna").ExperimentalWarning
    sampler: optuna.samplers.BaseSampler
    with warnings.catch_warnings():  # some options are marked experimental; we rely on them on purpose
        warnings.simplefilter("ignore", category=experimental)
        if kind == "tpe":
            # multivariate + group model the conditional space (one group per family); constant_liar keeps
            # parallel trials from all sampling the same region while earlier ones are still running.
            sampler = samplers.TPESampler(
                seed=seed,
                multivariate=True,
                group=True,
                constant_liar=True,
                n_startup_trials=TPE_STARTUP if startup is None else startup,
            )
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
            _check_torch()
            # A small startup: with several families each family's parameters have a GP of their own (below).
            sampler = samplers.GPSampler(seed=seed, n_startup_trials=_GP_STARTUP, warn_independent_sampling=False)
        else:
            raise SpecError(f"unknown Optuna sampler {kind!r}; choose one of {list(SAMPLERS)}")
    return sampler


class OptunaSearcher(BaseSearcher):
    """Search with an Optuna sampler (``tpe``, ``random``, ``qmc``, ``cmaes`` or ``gp``).

    Example:
        >>> from sparksweep.space import Float, SearchSpace
        >>> s = OptunaSearcher(SearchSpace({"f": {"x": Float(0, 1)}}), Direction.MINIMIZE, seed=1, sampler="random")
        >>> p = s.ask(); s.tell(p, 0.5, TrialState.COMPLETE); p.family
        'f'
    """

    def __init__(
        self,
        space: SearchSpace,
        direction: Direction,
        seed: int | None = None,
        *,
        sampler: str = "tpe",
        startup: int | None = None,
    ) -> None:
        """``startup``: finished trials TPE waits for before it models them (default :data:`TPE_STARTUP`)."""
        super().__init__(space, direction, seed)
        lib = require("optuna", "Optuna search algorithms")
        self.name = f"optuna.{sampler}"
        self._study = lib.create_study(direction=direction.value, sampler=_make_sampler(sampler, seed, space, startup))
        # Optuna's GP models only the parameters every trial has: with several families, the family choice alone,
        # while each family's own parameters would be sampled at random. So the GP study picks the family, and each
        # family's parameters come from a GP study of that family's trials.
        self._per_family: dict[str, tuple[SearchSpace, optuna.Study]] = {}
        if sampler == "gp" and len(space.families) > 1:
            for i, family in enumerate(space.family_names):
                own = SearchSpace({family: space.families[family]})
                own_seed = None if seed is None else seed + 1 + i
                study = lib.create_study(direction=direction.value, sampler=_make_sampler("gp", own_seed, own))
                self._per_family[family] = (own, study)

    def ask(self) -> Proposal:
        trial = self._study.ask()
        if not self._per_family:
            family, params = self.space.suggest_optuna(trial)
            return Proposal(family=family, params=params, token=(trial,))
        family = str(trial.suggest_categorical(FAMILY_PARAM, list(self.space.family_names)))
        own, study = self._per_family[family]
        inner = study.ask()
        _, params = own.suggest_optuna(inner)
        return Proposal(family=family, params=params, token=(trial, inner))

    def enqueue(self, family: str, params: dict[str, Any]) -> None:
        internal = {self.space.internal_name(family, k): v for k, v in self.space.check(family, params).items()}
        if not self._per_family:
            self._study.enqueue_trial({FAMILY_PARAM: family, **internal})
            return
        self._study.enqueue_trial({FAMILY_PARAM: family})  # the family's own study gets its parameters
        self._per_family[family][1].enqueue_trial({FAMILY_PARAM: family, **internal})

    def _studies(self, family: str) -> list[optuna.Study]:
        return [self._study] + ([self._per_family[family][1]] if self._per_family else [])

    def tell(self, proposal: Proposal, value: float | None, state: TrialState) -> None:
        optuna = require("optuna", "Optuna search algorithms")
        for study, trial in zip(self._studies(proposal.family), proposal.token, strict=True):
            if state is TrialState.COMPLETE and value is not None:
                study.tell(trial, value)
            elif state is TrialState.PRUNED:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            else:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)

    def add_past(self, trials: Sequence[TrialResult]) -> None:
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
            value = past.value if past.state is TrialState.COMPLETE else None
            if not self._per_family:
                distributions = self.space.optuna_distributions(past.family)
                self._study.add_trial(self._frozen(states[past.state], value, internal, distributions))
                continue
            choice = {FAMILY_PARAM: self.space.optuna_distributions(past.family)[FAMILY_PARAM]}
            self._study.add_trial(self._frozen(states[past.state], value, {FAMILY_PARAM: past.family}, choice))
            own, study = self._per_family[past.family]
            study.add_trial(self._frozen(states[past.state], value, internal, own.optuna_distributions(past.family)))

    @staticmethod
    def _frozen(state: Any, value: float | None, params: dict[str, Any], distributions: dict[str, Any]) -> Any:
        optuna = require("optuna", "Optuna search algorithms")
        return optuna.trial.create_trial(state=state, value=value, params=params, distributions=distributions)
