"""Starting points: a family's library defaults fitted into the space, enqueued in every search algorithm, and run
first by a sweep (on the session's local Spark and a real SQLite store)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from sparksweep.datasets import generate_churn
from sparksweep.errors import SpecError
from sparksweep.metrics import Direction
from sparksweep.models import get_family
from sparksweep.search import ALGORITHMS, make_searcher
from sparksweep.space import Categorical, Float, Int, SearchSpace
from sparksweep.spec import validate_spec
from sparksweep.sweep import run_sweep
from sparksweep.sweep._starting import default_point
from sparksweep.trial import TrialState


def test_default_point_takes_the_library_defaults_fitted_into_the_space() -> None:
    lgbm = get_family("lightgbm")
    space = lgbm.default_space("binary")
    point = default_point(lgbm, "binary", space)
    # LightGBM's own defaults; reg_lambda's default 0 is clipped to the log range's low end.
    assert point["learning_rate"] == 0.1
    assert point["num_leaves"] == 31
    assert point["min_child_samples"] == 20
    assert point["reg_lambda"] == space["reg_lambda"].low  # type: ignore[union-attr]
    narrowed = {**space, "learning_rate": Float(0.2, 0.3), "num_leaves": Categorical((15, 63))}
    point = default_point(lgbm, "binary", narrowed)
    assert point["learning_rate"] == 0.2
    assert point["num_leaves"] == 15, "a default that is not one of the choices gives the first choice"
    # XGBoost declares no defaults in Python (None): the middle of each range, geometric on a log scale.
    xgb = get_family("xgboost")
    point = default_point(xgb, "binary", {"learning_rate": Float(0.01, 0.25, log=True), "max_depth": Int(2, 10)})
    assert point == {"learning_rate": pytest.approx(0.05), "max_depth": 6}


@pytest.mark.parametrize("algorithm", sorted(a for a in ALGORITHMS if a not in {"optuna.cmaes", "optuna.gp"}))
def test_every_algorithm_proposes_the_enqueued_points_first(algorithm: str) -> None:
    space = SearchSpace({"a": {"x": Float(0.0, 1.0), "n": Int(1, 10)}, "b": {"c": Categorical(("u", "v"))}})
    searcher = make_searcher(algorithm, space, Direction.MINIMIZE, seed=3)
    searcher.enqueue("b", {"c": "v"})
    searcher.enqueue("a", {"x": 0.25, "n": 3})
    first = [searcher.ask() for _ in range(2)]  # both in flight at once, as parallel trials are
    assert [(p.family, p.params) for p in first] == [("b", {"c": "v"}), ("a", {"x": 0.25, "n": 3})]
    for proposal in first:
        searcher.tell(proposal, 0.5, TrialState.COMPLETE)
    for _ in range(12):  # the algorithm goes on from them
        proposal = searcher.ask()
        assert proposal.family in {"a", "b"}
        searcher.tell(proposal, 0.1, TrialState.COMPLETE)
    with pytest.raises(SpecError, match="outside"):
        searcher.enqueue("a", {"x": 2.0, "n": 3})


@pytest.mark.parametrize("algorithm", ["optuna.tpe", "hyperopt.tpe"])
def test_tpe_started_from_the_defaults_models_them_at_once(algorithm: str) -> None:
    # Family "good" scored far better at its defaults than "bad": TPE, told to start from those two trials, proposes
    # mostly "good"; with its 10 random start-up trials it proposes either about equally.
    space = SearchSpace({"good": {"x": Float(0.0, 1.0)}, "bad": {"y": Float(0.0, 1.0)}})
    counts = {}
    for startup in (2, None):
        searcher = make_searcher(algorithm, space, Direction.MINIMIZE, seed=4, startup=startup)
        searcher.enqueue("good", {"x": 0.5})
        searcher.enqueue("bad", {"y": 0.5})
        chosen = []
        for _ in range(10):
            proposal = searcher.ask()
            chosen.append(proposal.family)
            searcher.tell(proposal, 0.0 if proposal.family == "good" else 1.0, TrialState.COMPLETE)
        counts[startup] = chosen[2:].count("good")
    assert counts[2] >= 6, counts
    assert counts[2] > counts[None], counts


def test_a_start_up_of_no_trials_is_refused() -> None:
    with pytest.raises(SpecError, match="startup=0"):
        make_searcher("optuna.tpe", SearchSpace({"a": {"x": Float(0.0, 1.0)}}), Direction.MINIMIZE, startup=0)


@pytest.mark.spark
def test_a_sweep_runs_each_family_at_its_defaults_first(spark: Any, tracking_uri: str) -> None:
    data: pd.DataFrame = generate_churn(600, seed=4)
    models = ["sklearn.logistic_regression", "lightgbm"]
    raw = {
        "experiment": "starting",
        "data": {"target": "label", "drop": ["user_id", "feature_date"]},
        "models": models,
        "search": {"n_trials": 3, "parallelism": 1, "seed": 0, "algorithm": "optuna.random"},
        "tracking": {"uri": tracking_uri, "log_models": False, "autolog": False},
    }
    result = run_sweep(validate_spec(raw), data=data, spark=spark)
    defaults = [default_point(get_family(m), "binary", get_family(m).default_space("binary")) for m in models]
    assert [(t.family, t.params) for t in result.trials[:2]] == list(zip(models, defaults, strict=True))
    assert all(t.state is TrialState.COMPLETE for t in result.trials)

    raw["search"] = {**raw["search"], "start_from_defaults": False, "n_trials": 2}
    plain = run_sweep(validate_spec(raw), data=data, spark=spark)
    assert [t.params for t in plain.trials] != defaults
