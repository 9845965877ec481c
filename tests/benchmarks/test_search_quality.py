"""The search-quality benchmark's harness: its split, verdicts and ratios (no timing, no contender is run)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from sparksweep.bench.data import load_bench_dataset
from sparksweep.bench.spec import BenchDataset
from sparksweep.data import prepare_dataset
from sparksweep.metrics import get_metric
from sparksweep.spec import DataSpec

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their module's annotations through sys.modules
    spec.loader.exec_module(module)
    return module


harness = _load("bench_search_quality")
contender = _load("search_quality_contender")


@pytest.mark.parametrize(("name", "seed"), [("breast_cancer", 0), ("breast_cancer", 1), ("diabetes", 0), ("wine", 3)])
def test_split_holds_out_the_rows_sparksweep_holds_out(name: str, seed: int) -> None:
    frame, spec = load_bench_dataset(BenchDataset(name=name))
    y = frame[spec.target].to_numpy()
    train, test = harness.split_rows(y, seed, classification=name != "diabetes")
    assert len(test) == pytest.approx(0.25 * len(frame), abs=1)
    assert sorted([*train, *test]) == list(range(len(frame)))
    dataset = prepare_dataset(frame, DataSpec(target=spec.target, test_size=0.25, split_seed=seed))
    expected = frame.iloc[test].drop(columns=[spec.target]).reset_index(drop=True)
    pd.testing.assert_frame_equal(dataset.X_test[expected.columns], expected, check_dtype=False)


def test_original_order_rebuilds_the_table_from_its_two_parts() -> None:
    frame = pd.DataFrame({"x": np.arange(10.0), "target": np.arange(10) % 2})
    train, test = harness.split_rows(frame["target"].to_numpy(), 5, classification=True)
    rebuilt = contender.original_order(frame.iloc[train], frame.iloc[test], train, test)
    pd.testing.assert_frame_equal(rebuilt, frame)


def test_ratio_is_above_one_when_sparksweep_is_better_for_either_direction() -> None:
    assert harness.oriented_ratio(get_metric("auc_roc"), 0.99, 0.98) > 1
    assert harness.oriented_ratio(get_metric("rmse"), 55.0, 60.0) == pytest.approx(60 / 55)
    assert harness.oriented_ratio(get_metric("rmse"), 60.0, 55.0) < 1
    assert harness.geometric_mean([2.0, 0.5]) == pytest.approx(1.0)
    line = harness.ratio_line({"flaml": [1.01, 1.03], "optuna-lgbm": []})
    assert "flaml 1.0200" in line
    assert "optuna" not in line


def test_gain_interval_is_zero_for_the_same_predictions_and_positive_for_a_better_model() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    good = np.clip(y * 0.6 + rng.uniform(0, 0.4, 400), 0, 1)
    poor = rng.uniform(0, 1, 400)
    metric = get_metric("auc_roc")
    gain, (low, high) = harness.gain_interval(metric, y, good, good, classification=True)
    assert gain == 0
    assert low == 0
    assert high == 0
    gain, (low, high) = harness.gain_interval(metric, y, good, poor, classification=True)
    assert gain > 0.3
    assert 0 < low < gain < high


def _outcome(name: str, score: float | None, interval: tuple[float, float] | None = None) -> object:
    return harness.Outcome(name, score, interval=interval)


def test_cell_verdict_compares_with_the_best_tuned_contender_only() -> None:
    auc, rmse = get_metric("auc_roc"), get_metric("rmse")
    best = [_outcome("sparksweep", 0.99), _outcome("flaml", 0.98, (0.0, 0.02)), _outcome("untuned-lgbm", 0.995)]
    assert harness.cell_verdict(best, auc) == "best"
    noise = [_outcome("sparksweep", 58.0), _outcome("optuna-lgbm", 57.5, (-2.0, 1.0)), _outcome("flaml", 59.0)]
    assert harness.cell_verdict(noise, rmse) == "within noise"
    behind = [_outcome("sparksweep", 0.97), _outcome("flaml", 0.98), _outcome("hyperopt-lgbm", 0.99, (-0.03, -0.01))]
    assert harness.cell_verdict(behind, auc) == "behind"
    assert harness.cell_verdict([_outcome("sparksweep", None), _outcome("flaml", 0.9)], auc) == "failed"


def test_a_win_needs_every_seed() -> None:
    assert harness.dataset_verdict(["best", "best"]) == "win"
    assert harness.dataset_verdict(["best"]) == "unconfirmed win"
    assert harness.dataset_verdict(["best", "within noise"]) == "par"
    assert harness.dataset_verdict(["best", "behind"]) == "behind"
    assert harness.dataset_verdict([]) == "behind"


def test_table_shows_scores_gains_and_errors() -> None:
    outcomes = [
        harness.Outcome("sparksweep", 0.9876, wall=59.5, n_trials=80, best="lightgbm"),
        harness.Outcome("flaml", 0.9801, wall=60.2, n_trials=120, best="xgboost", gain=0.0075, interval=(-0.001, 0.02)),
        harness.Outcome("optuna-lgbm", None, error="exit 1: ImportError"),
    ]
    table = harness.format_table("breast_cancer, seed 0", get_metric("auc_roc"), outcomes)
    assert "0.9876" in table
    assert "+0.0075 [-0.0010, +0.0200]" in table
    assert "optuna-lgbm" in table
    assert "ImportError" in table


def test_error_line_picks_the_exception_over_trailing_warnings() -> None:
    stderr = "Traceback (most recent call last):\n  ...\nValueError: bad shape\n  warnings.warn(\n"
    assert harness.error_line(stderr) == "ValueError: bad shape"
    assert harness.error_line("") == "(no output)"
    assert harness.error_line("just text\n") == "just text"
