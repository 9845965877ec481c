from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from sparksweep.errors import SpecError
from sparksweep.metrics import DEFAULT_METRIC, METRICS, Direction, Metric, get_metric, register_metric

RNG = np.random.default_rng(0)
Y_BIN = RNG.integers(0, 2, 200)
P_BIN = np.clip(Y_BIN * 0.3 + RNG.random(200) * 0.7, 0, 1)
Y_MULTI = RNG.integers(0, 3, 200)
P_MULTI = RNG.dirichlet([1, 1, 1], 200)
Y_REG = RNG.normal(10, 2, 200)
P_REG = Y_REG + RNG.normal(0, 0.5, 200)


@pytest.mark.parametrize(
    ("name", "y", "p", "expected"),
    [
        ("auc_roc", Y_BIN, P_BIN, skm.roc_auc_score(Y_BIN, P_BIN)),
        ("log_loss", Y_BIN, P_BIN, skm.log_loss(Y_BIN, P_BIN)),
        ("accuracy", Y_BIN, P_BIN, skm.accuracy_score(Y_BIN, P_BIN >= 0.5)),
        ("f1", Y_BIN, P_BIN, skm.f1_score(Y_BIN, P_BIN >= 0.5)),
        ("average_precision", Y_BIN, P_BIN, skm.average_precision_score(Y_BIN, P_BIN)),
        ("balanced_accuracy", Y_MULTI, P_MULTI, skm.balanced_accuracy_score(Y_MULTI, P_MULTI.argmax(1))),
        ("auc_roc_ovr", Y_MULTI, P_MULTI, skm.roc_auc_score(Y_MULTI, P_MULTI, multi_class="ovr")),
        ("log_loss", Y_MULTI, P_MULTI, skm.log_loss(Y_MULTI, P_MULTI)),
        ("rmse", Y_REG, P_REG, np.sqrt(skm.mean_squared_error(Y_REG, P_REG))),
        ("mae", Y_REG, P_REG, skm.mean_absolute_error(Y_REG, P_REG)),
        ("r2", Y_REG, P_REG, skm.r2_score(Y_REG, P_REG)),
        ("mape", Y_REG, P_REG, skm.mean_absolute_percentage_error(Y_REG, P_REG)),
    ],
)
def test_metric_values_match_scikit_learn(name: str, y: np.ndarray, p: np.ndarray, expected: float) -> None:
    assert get_metric(name)(y, p) == pytest.approx(expected)


def test_directions() -> None:
    assert get_metric("auc_roc").direction is Direction.MAXIMIZE
    assert get_metric("rmse").direction is Direction.MINIMIZE
    assert Direction.MINIMIZE.better(1.0, 2.0)
    assert not Direction.MAXIMIZE.better(1.0, 2.0)
    assert Direction.MAXIMIZE.better(-5.0, None)
    assert Direction.MINIMIZE.improvement(1.0, 3.0) == 2.0
    assert Direction.MAXIMIZE.improvement(1.0, 3.0) == -2.0


def test_every_task_has_a_default_metric_that_applies() -> None:
    for task, name in DEFAULT_METRIC.items():
        assert task in METRICS[name].tasks


def test_unknown_and_duplicate_metrics() -> None:
    with pytest.raises(SpecError, match="auc_roc"):
        get_metric("roc")
    with pytest.raises(SpecError, match="already registered"):
        register_metric(Metric("auc_roc", Direction.MAXIMIZE, frozenset({"binary"}), lambda y, p: 0.0))


def test_every_metric_of_the_issue_with_its_direction() -> None:
    expected = {
        "auc_roc": "maximize",
        "log_loss": "minimize",
        "accuracy": "maximize",
        "balanced_accuracy": "maximize",
        "f1": "maximize",
        "average_precision": "maximize",
        "auc_roc_ovr": "maximize",
        "rmse": "minimize",
        "mae": "minimize",
        "r2": "maximize",
        "mape": "minimize",
    }
    assert {name: get_metric(name).direction.value for name in expected} == expected


def test_a_custom_metric_by_import_path() -> None:
    metric = get_metric("tests.helpers:brier")
    assert metric.name == "brier"
    assert metric.direction is Direction.MINIMIZE
    assert metric(np.array([0, 1]), np.array([0.0, 0.5])) == pytest.approx(0.125)
    with pytest.raises(SpecError, match="has no attribute 'nope'"):
        get_metric("tests.helpers:nope")
    with pytest.raises(SpecError, match="give the import path of your own Metric"):
        get_metric("brier")
