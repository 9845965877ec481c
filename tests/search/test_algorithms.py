from __future__ import annotations

import sys

import pytest

from sparksweep.errors import DependencyError, SpecError
from sparksweep.metrics import Direction
from sparksweep.search import ALGORITHMS, make_searcher
from sparksweep.space import Categorical, Float, Int, SearchSpace
from sparksweep.trial import TrialResult, TrialState

SPACE = SearchSpace(
    {
        "quad": {"x": Float(-2.0, 2.0), "k": Int(1, 4)},
        "flat": {"y": Float(0.0, 1.0, log=False), "c": Categorical(("p", "q"))},
    }
)


# CMA-ES searches one continuous space: one family, no categorical parameter.
CONTINUOUS = SearchSpace({"quad": {"x": Float(-2.0, 2.0), "k": Int(1, 4)}})
NEEDS_TORCH = {"optuna.gp"}


def _usable(name: str) -> bool:
    if name not in NEEDS_TORCH:
        return True
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


RUNNABLE = [n for n in sorted(ALGORITHMS) if _usable(n)]


def _space_for(name: str) -> SearchSpace:
    return CONTINUOUS if name == "optuna.cmaes" else SPACE


def _objective(family: str, params: dict[str, object]) -> float:
    """Best (0) at family quad, x = 0.5, k = 1; the flat family never gets below 1."""
    if family == "quad":
        return (float(params["x"]) - 0.5) ** 2 + (int(params["k"]) - 1) * 0.1  # type: ignore[call-overload]
    return 1.0 + float(params["y"])  # type: ignore[arg-type]


@pytest.mark.parametrize("name", RUNNABLE)
def test_each_algorithm_searches_the_conditional_space(name: str) -> None:
    space = _space_for(name)
    searcher = make_searcher(name, space, Direction.MINIMIZE, seed=3)
    values = []
    pending = []
    n = 12 if name == "hyperopt.atpe" else 30  # ATPE fits LightGBM models per proposal: ~0.5 s each
    for i in range(n):
        proposal = searcher.ask()
        assert proposal.family in space.families
        assert set(proposal.params) == set(space.families[proposal.family])
        pending.append(proposal)
        if len(pending) == 2 or i == n - 1:  # two trials in flight at a time, as with parallelism 2
            for p in pending:
                if p.family == "flat" and p.params["c"] == "q" and len(values) % 7 == 3:
                    searcher.tell(p, None, TrialState.FAILED)
                else:
                    v = _objective(p.family, p.params)
                    values.append(v)
                    searcher.tell(p, v, TrialState.COMPLETE)
            pending = []
    assert min(values) < (0.6 if n < 30 else 0.3), f"{name} never got near the optimum: {sorted(values)[:3]}"


@pytest.mark.parametrize("name", RUNNABLE)
def test_same_seed_same_proposals(name: str) -> None:
    def proposals() -> list[tuple[str, dict[str, object]]]:
        s = make_searcher(name, _space_for(name), Direction.MAXIMIZE, seed=11)
        out = []
        for _ in range(12):
            p = s.ask()
            s.tell(p, -_objective(p.family, p.params), TrialState.COMPLETE)
            out.append((p.family, p.params))
        return out

    assert proposals() == proposals()


def test_maximize_direction_is_respected() -> None:
    # Maximizing the negated objective must find the same optimum as minimizing it.
    searcher = make_searcher("hyperopt.tpe", SPACE, Direction.MAXIMIZE, seed=0)
    best = float("-inf")
    for _ in range(40):
        p = searcher.ask()
        v = -_objective(p.family, p.params)
        best = max(best, v)
        searcher.tell(p, v, TrialState.COMPLETE)
    assert best > -0.3


def test_unknown_algorithm() -> None:
    with pytest.raises(SpecError, match=r"optuna\.tpe"):
        make_searcher("grid", SPACE, Direction.MINIMIZE)


def test_cmaes_refuses_what_it_cannot_model() -> None:
    with pytest.raises(SpecError, match=r"2 model families.*optuna\.tpe"):
        make_searcher("optuna.cmaes", SPACE, Direction.MINIMIZE)
    one_family_with_choice = SearchSpace({"flat": {"y": Float(0.0, 1.0), "c": Categorical(("p", "q"))}})
    with pytest.raises(SpecError, match=r"categorical parameters.*\['c'\]"):
        make_searcher("optuna.cmaes", one_family_with_choice, Direction.MINIMIZE)


def test_gp_without_torch_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # what `import torch` meets where PyTorch is not installed
    with pytest.raises(DependencyError, match=r"needs PyTorch.*pip install 'torch==2\.13\.0'.*CPU"):
        make_searcher("optuna.gp", SPACE, Direction.MINIMIZE)


@pytest.mark.skipif(not _usable("optuna.gp"), reason="optuna.gp needs PyTorch: pip install 'torch==2.13.0' (CPU)")
def test_gp_models_each_familys_parameters() -> None:
    # With several families, Optuna's GP alone would model only the family choice and sample the rest at random;
    # here each family's parameters have a GP of their own, which learns from that family's trials.
    space = SearchSpace({"a": {"x": Float(-2.0, 2.0)}, "b": {"z": Float(-2.0, 2.0)}})
    optimum = {"a": 0.5, "b": -1.0}
    searcher = make_searcher("optuna.gp", space, Direction.MINIMIZE, seed=2)
    proposed: dict[str, list[float]] = {"a": [], "b": []}
    for _ in range(30):
        p = searcher.ask()
        (value,) = p.params.values()
        proposed[p.family].append(float(value))  # type: ignore[arg-type]
        searcher.tell(p, (float(value) - optimum[p.family]) ** 2, TrialState.COMPLETE)  # type: ignore[arg-type]
    # After its random start, the family's GP proposes points near its optimum (uniform sampling would put a
    # quarter of them within 0.5 of it).
    family = max(proposed, key=lambda f: len(proposed[f]))
    late = proposed[family][5:]
    assert len(late) >= 10, proposed
    assert sum(abs(x - optimum[family]) < 0.5 for x in late) >= 0.75 * len(late), proposed


def _past_near_optimum(n: int) -> list[TrialResult]:
    """Finished trials of an earlier sweep: good ones near x = 0.5, bad ones on the flat family."""
    out = []
    for i in range(n):
        if i % 2 == 0:
            params: dict[str, object] = {"x": 0.4 + 0.02 * i / n, "k": 1}
            out.append(TrialResult(i, "", "quad", params, TrialState.COMPLETE, _objective("quad", params)))
        else:
            params = {"y": 0.9, "c": "q"}
            out.append(TrialResult(i, "", "flat", params, TrialState.COMPLETE, _objective("flat", params)))
    out.append(TrialResult(n, "", "flat", {"y": 0.1, "c": "p"}, TrialState.FAILED))
    out.append(TrialResult(n + 1, "", "quad", {"x": 1.0, "k": 2}, TrialState.KILLED))  # never told
    return out


@pytest.mark.parametrize("name", ["optuna.tpe", "hyperopt.tpe"])
def test_warm_start_changes_the_first_proposals(name: str) -> None:
    def first(warm: bool) -> list[tuple[str, dict[str, object]]]:
        s = make_searcher(name, SPACE, Direction.MINIMIZE, seed=5)
        if warm:
            s.add_past(_past_near_optimum(24))
        out = []
        for _ in range(5):
            p = s.ask()
            s.tell(p, _objective(p.family, p.params), TrialState.COMPLETE)
            out.append((p.family, p.params))
        return out

    cold, warm = first(False), first(True)
    assert cold != warm
    # Told that the quad family is far better, the warm searcher proposes it; a cold one samples both at first.
    assert sum(f == "quad" for f, _ in warm) >= 4
    assert sum(f == "quad" for f, _ in cold) < 5


@pytest.mark.parametrize("name", RUNNABLE)
def test_every_algorithm_accepts_past_trials(name: str) -> None:
    space = _space_for(name)
    past = [t for t in _past_near_optimum(6) if t.family in space.families]
    s = make_searcher(name, space, Direction.MINIMIZE, seed=1)
    s.add_past(past)
    p = s.ask()
    assert p.family in space.families


def test_past_trials_must_fit_the_space() -> None:
    s = make_searcher("optuna.tpe", SPACE, Direction.MINIMIZE, seed=1)
    with pytest.raises(SpecError, match=r"'x'.*outside"):
        s.add_past([TrialResult(0, "", "quad", {"x": 5.0, "k": 1}, TrialState.COMPLETE, 1.0)])
    with pytest.raises(SpecError, match=r"'gbm' is not in this search space"):
        s.add_past([TrialResult(0, "", "gbm", {"x": 0.0}, TrialState.COMPLETE, 1.0)])


def test_params_read_back_from_mlflow_strings_are_typed() -> None:
    typed = SPACE.check("flat", {"y": "0.25", "c": "q"})
    assert typed == {"y": 0.25, "c": "q"}
    assert SPACE.check("quad", {"x": "-1.5", "k": "3"}) == {"x": -1.5, "k": 3}
    space = SearchSpace({"f": {"flag": Categorical((True, False, None)), "n": Categorical((1, 2))}})
    assert space.check("f", {"flag": "None", "n": "2"}) == {"flag": None, "n": 2}
