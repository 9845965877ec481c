from __future__ import annotations

import pytest

from sparksweep.errors import SpecError
from sparksweep.scoring.metrics import Direction
from sparksweep.search.algorithms import ALGORITHMS, make_searcher
from sparksweep.search.space import Categorical, Float, Int, SearchSpace
from sparksweep.search.trial import TrialState

SPACE = SearchSpace(
    {
        "quad": {"x": Float(-2.0, 2.0), "k": Int(1, 4)},
        "flat": {"y": Float(0.0, 1.0, log=False), "c": Categorical(("p", "q"))},
    }
)


def _objective(family: str, params: dict[str, object]) -> float:
    """Best (0) at family quad, x = 0.5, k = 1; the flat family never gets below 1."""
    if family == "quad":
        return (float(params["x"]) - 0.5) ** 2 + (int(params["k"]) - 1) * 0.1  # type: ignore[call-overload]
    return 1.0 + float(params["y"])  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_each_algorithm_searches_the_conditional_space(name: str) -> None:
    searcher = make_searcher(name, SPACE, Direction.MINIMIZE, seed=3)
    values = []
    pending = []
    for i in range(30):
        proposal = searcher.ask()
        assert proposal.family in SPACE.families
        assert set(proposal.params) == set(SPACE.families[proposal.family])
        pending.append(proposal)
        if len(pending) == 2 or i == 29:  # two trials in flight at a time, as with parallelism 2
            for p in pending:
                if p.family == "flat" and p.params["c"] == "q" and len(values) % 7 == 3:
                    searcher.tell(p, None, TrialState.FAILED)
                else:
                    v = _objective(p.family, p.params)
                    values.append(v)
                    searcher.tell(p, v, TrialState.COMPLETE)
            pending = []
    assert min(values) < 0.3, f"{name} never got near the optimum: {sorted(values)[:3]}"


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_same_seed_same_proposals(name: str) -> None:
    def proposals() -> list[tuple[str, dict[str, object]]]:
        s = make_searcher(name, SPACE, Direction.MAXIMIZE, seed=11)
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
