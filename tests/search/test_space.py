from __future__ import annotations

import optuna
import pytest
from hyperopt.pyll import stochastic

from sparksweep.errors import SpecError
from sparksweep.models import FAMILIES
from sparksweep.space import FAMILY_PARAM, Categorical, Float, Int, SearchSpace

SPACE = SearchSpace(
    {
        "a": {"lr": Float(0.01, 0.3, log=True), "leaves": Int(8, 64, log=True), "kind": Categorical(("x", "y"))},
        "b": {"lr": Float(0.5, 0.9), "depth": Int(2, 5)},
    }
)


def _check(family: str, params: dict[str, object]) -> None:
    dists = SPACE.families[family]
    assert set(params) == set(dists), "parameters carry their real names, only those of the family"
    for name, value in params.items():
        dist = dists[name]
        if isinstance(dist, Float):
            assert isinstance(value, float)
            assert dist.low <= value <= dist.high
        elif isinstance(dist, Int):
            assert isinstance(value, int)
            assert dist.low <= value <= dist.high
        else:
            assert isinstance(dist, Categorical)
            assert value in dist.choices


def test_optuna_compilation_samples_inside_each_family() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(40):
        trial = study.ask()
        family, params = SPACE.suggest_optuna(trial)
        _check(family, params)
        seen.add(family)
        # Inside Optuna each parameter is namespaced by its family, so 'lr' of a and of b do not collide.
        assert all(k == FAMILY_PARAM or k.startswith(f"{family}.") for k in trial.params)
        study.tell(trial, 0.0)
    assert seen == {"a", "b"}


def test_hyperopt_compilation_samples_inside_each_family() -> None:
    expr = SPACE.to_hyperopt()
    seen = set()
    for seed in range(60):
        point = stochastic.sample(expr, rng=__import__("numpy").random.default_rng(seed))
        family = point[FAMILY_PARAM]
        params = SPACE.clip(family, point["params"])
        _check(family, params)
        seen.add(family)
    assert seen == {"a", "b"}


def test_int_ends_are_reachable_in_hyperopt() -> None:
    space = SearchSpace({"f": {"n": Int(1, 3)}})
    expr = space.to_hyperopt()
    import numpy as np

    values = {space.clip("f", stochastic.sample(expr, rng=np.random.default_rng(s))["params"])["n"] for s in range(200)}
    assert values == {1, 2, 3}


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: Float(1.0, 1.0), "low < high"),
        (lambda: Float(0.0, 1.0, log=True), "log-scale"),
        (lambda: Int(5, 2), "low < high"),
        (lambda: Categorical(()), "at least one"),
        (lambda: SearchSpace({}), "at least one model family"),
        (lambda: SearchSpace({"f": {"a.b": Float(0, 1)}}), "reserved or contains"),
    ],
)
def test_bad_spaces_raise(make: object, words: str) -> None:
    with pytest.raises(SpecError, match=words):
        make()  # type: ignore[operator]


def test_every_family_default_space_compiles_for_both_libraries() -> None:
    for task in ("binary", "multiclass", "regression"):
        families = {n: f.default_space(task) for n, f in FAMILIES.items() if task in f.tasks}
        space = SearchSpace(families)
        space.to_hyperopt()
        study = optuna.create_study()
        for _ in range(10):
            trial = study.ask()
            family, params = space.suggest_optuna(trial)
            assert family in families
            assert set(params) == set(families[family])
