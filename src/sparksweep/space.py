"""The search-space DSL: one definition that compiles to Optuna and to Hyperopt.

A :class:`SearchSpace` maps each model family to its hyperparameters. The family is the first choice of every trial;
the hyperparameters depend on it. Inside the search libraries a parameter is named ``<family>.<param>`` so that two
families may share a parameter name with different ranges; everywhere else (MLflow, the model builder) it carries its
real name.

Example:
    >>> space = SearchSpace({"lightgbm": {"learning_rate": Float(0.01, 0.3, log=True), "num_leaves": Int(8, 128)}})
    >>> space.family_names
    ('lightgbm',)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sparksweep.errors import SpecError

if TYPE_CHECKING:
    import optuna

__all__ = ["FAMILY_PARAM", "Categorical", "Distribution", "Float", "Int", "SearchSpace"]

FAMILY_PARAM = "model_family"
"""The name of the family choice, in the search libraries and as an MLflow param."""


@dataclass(frozen=True)
class Float:
    """A float in ``[low, high]``, sampled on a log scale when ``log`` is true."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise SpecError(f"Float range needs low < high, got low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise SpecError(f"a log-scale Float needs low > 0, got low={self.low}")


@dataclass(frozen=True)
class Int:
    """An integer in ``[low, high]`` (both included), sampled on a log scale when ``log`` is true."""

    low: int
    high: int
    log: bool = False

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise SpecError(f"Int range needs low < high, got low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise SpecError(f"a log-scale Int needs low >= 1, got low={self.low}")


@dataclass(frozen=True)
class Categorical:
    """One of a few choices (strings, numbers, booleans or None)."""

    choices: tuple[Any, ...]

    def __post_init__(self) -> None:
        if len(self.choices) < 1:
            raise SpecError("Categorical needs at least one choice")


Distribution = Float | Int | Categorical


@dataclass(frozen=True)
class SearchSpace:
    """Families and their hyperparameter distributions, conditional on the family."""

    families: Mapping[str, Mapping[str, Distribution]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.families:
            raise SpecError("a search space needs at least one model family")
        for family, params in self.families.items():
            for name in params:
                if "." in name or name == FAMILY_PARAM:
                    raise SpecError(
                        f"parameter name {name!r} of family {family!r} is reserved or contains '.'; rename it"
                    )

    @property
    def family_names(self) -> tuple[str, ...]:
        return tuple(self.families)

    @staticmethod
    def internal_name(family: str, param: str) -> str:
        """The name a parameter carries inside Optuna and Hyperopt."""
        return f"{family}.{param}"

    # ---- Optuna -------------------------------------------------------------------------------------------------
    def suggest_optuna(self, trial: optuna.Trial) -> tuple[str, dict[str, Any]]:
        """Sample a family and its parameters through an Optuna trial (define-by-run)."""
        family = str(trial.suggest_categorical(FAMILY_PARAM, list(self.family_names)))
        params: dict[str, Any] = {}
        for name, dist in self.families[family].items():
            key = self.internal_name(family, name)
            if isinstance(dist, Float):
                params[name] = trial.suggest_float(key, dist.low, dist.high, log=dist.log)
            elif isinstance(dist, Int):
                params[name] = trial.suggest_int(key, dist.low, dist.high, log=dist.log)
            else:
                params[name] = trial.suggest_categorical(key, list(dist.choices))
        return family, params

    def optuna_distributions(self, family: str) -> dict[str, Any]:
        """The Optuna distributions of one family's trial, by internal name (the family choice included)."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        out: dict[str, Any] = {FAMILY_PARAM: CategoricalDistribution(list(self.family_names))}
        for name, dist in self.families[family].items():
            key = self.internal_name(family, name)
            if isinstance(dist, Float):
                out[key] = FloatDistribution(dist.low, dist.high, log=dist.log)
            elif isinstance(dist, Int):
                out[key] = IntDistribution(dist.low, dist.high, log=dist.log)
            else:
                out[key] = CategoricalDistribution(list(dist.choices))
        return out

    @property
    def has_categorical(self) -> bool:
        """True when the space has a categorical choice: of the family (several families) or of a parameter."""
        if len(self.families) > 1:
            return True
        return any(isinstance(d, Categorical) for params in self.families.values() for d in params.values())

    # ---- Values read back (resume, warm start) ------------------------------------------------------------------
    def check(self, family: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Return ``params`` typed by the family's distributions (MLflow gives strings back), or raise
        :class:`SpecError` naming the first parameter that does not fit this space."""
        if family not in self.families:
            raise SpecError(f"family {family!r} is not in this search space (it has {list(self.family_names)})")
        dists = self.families[family]
        if set(params) != set(dists):
            raise SpecError(
                f"family {family!r} has parameters {sorted(params)}, but this space searches {sorted(dists)}"
            )
        out: dict[str, Any] = {}
        for name, dist in dists.items():
            out[name] = _typed(family, name, dist, params[name])
        return out

    # ---- Hyperopt -----------------------------------------------------------------------------------------------
    def hyperopt_vals(self, family: str, params: Mapping[str, Any]) -> dict[str, list[Any]]:
        """The ``misc.vals`` of a Hyperopt trial document that samples ``family`` with ``params`` (choices as
        indexes, as Hyperopt stores them); labels of the other families are empty."""
        vals: dict[str, list[Any]] = {FAMILY_PARAM: [self.family_names.index(family)]}
        for other, dists in self.families.items():
            for name, dist in dists.items():
                key = self.internal_name(other, name)
                if other != family:
                    vals[key] = []
                elif isinstance(dist, Categorical):
                    vals[key] = [list(dist.choices).index(params[name])]
                else:  # Hyperopt keeps the sampled number itself (a quantized float for integers)
                    vals[key] = [float(params[name])]
        return vals

    def to_hyperopt(self) -> Any:
        """Compile to a Hyperopt expression; a sample is ``{"model_family": name, "params": {...}}``."""
        from hyperopt import hp
        from hyperopt.pyll import scope

        options = []
        for family, params in self.families.items():
            compiled: dict[str, Any] = {}
            for name, dist in params.items():
                key = self.internal_name(family, name)
                if isinstance(dist, Float):
                    compiled[name] = (
                        hp.loguniform(key, math.log(dist.low), math.log(dist.high))
                        if dist.log
                        else hp.uniform(key, dist.low, dist.high)
                    )
                elif isinstance(dist, Int):
                    # Widen by half a step so the rounded ends are as likely as the inner integers.
                    if dist.log:
                        expr = hp.qloguniform(key, math.log(dist.low - 0.5 + 1e-9), math.log(dist.high + 0.5), 1)
                    else:
                        expr = hp.quniform(key, dist.low - 0.5 + 1e-9, dist.high + 0.5, 1)
                    compiled[name] = scope.int(expr)
                else:
                    compiled[name] = hp.choice(key, list(dist.choices))
            options.append({FAMILY_PARAM: family, "params": compiled})
        return hp.choice(FAMILY_PARAM, options)

    def with_overrides(self, overrides: Mapping[str, Mapping[str, Distribution]]) -> SearchSpace:
        """A copy where each family's listed parameters replace (or add to) its defaults."""
        families = {name: dict(params) for name, params in self.families.items()}
        for family, params in overrides.items():
            if family not in families:
                raise SpecError(f"cannot override family {family!r}: it is not searched ({list(families)})")
            families[family].update(params)
        return SearchSpace(families)

    def clip(self, family: str, params: dict[str, Any]) -> dict[str, Any]:
        """Keep integer parameters inside their range (Hyperopt's rounding can step past an end)."""
        out = dict(params)
        for name, dist in self.families[family].items():
            if isinstance(dist, Int) and name in out:
                out[name] = int(min(max(int(out[name]), dist.low), dist.high))
        return out


def _typed(family: str, name: str, dist: Distribution, raw: Any) -> Any:
    where = f"parameter {name!r} of family {family!r}"
    if isinstance(dist, Categorical):
        for choice in dist.choices:
            if choice == raw or str(choice) == str(raw):
                return choice
        raise SpecError(f"{where} is {raw!r}, which is not one of the choices {list(dist.choices)}")
    try:
        value: float = int(float(raw)) if isinstance(dist, Int) else float(raw)
    except (TypeError, ValueError):
        raise SpecError(f"{where} is {raw!r}, not a number as its {type(dist).__name__} range needs") from None
    if not dist.low <= value <= dist.high:
        raise SpecError(f"{where} is {value}, outside this space's range [{dist.low}, {dist.high}]")
    return value
