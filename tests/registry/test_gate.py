"""The gate's rules on plain predictions: better, worse, within the margin, relative margins, bootstrap, thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from sparksweep.metrics import get_metric
from sparksweep.registry import judge
from sparksweep.spec import RegisterSpec, Threshold

AUC = get_metric("auc_roc")


def _data(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    signal = y + rng.normal(0, 1.0, n)
    return y, 1 / (1 + np.exp(-signal))


def _noisier(y: np.ndarray, p: np.ndarray, noise: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(p + rng.normal(0, noise, len(p)), 0, 1)


def test_better_candidate_passes_and_worse_fails() -> None:
    y, p = _data()
    worse = _noisier(y, p, 0.3)
    result = judge(AUC, RegisterSpec(name="m"), y, p, worse, task="binary", champion_version="1")
    assert result.passed
    assert result.gain == pytest.approx(AUC(y, p) - AUC(y, worse))
    assert "champion v1" in result.reason
    assert not judge(AUC, RegisterSpec(name="m"), y, worse, p, task="binary").passed
    assert not judge(AUC, RegisterSpec(name="m"), y, p, p, task="binary").passed, "a tie is not an improvement"


def test_within_the_margin_fails_absolute_and_relative() -> None:
    y, p = _data()
    slightly = p.copy()
    slightly[np.flatnonzero(y == 1)[:5]] = 0.0  # a few positives ranked last: a small, certain loss
    gain = AUC(y, p) - AUC(y, slightly)
    assert 0 < gain < 0.01
    assert judge(AUC, RegisterSpec(name="m"), y, p, slightly, task="binary").passed
    absolute = RegisterSpec(name="m", min_improvement=0.01)
    assert not judge(AUC, absolute, y, p, slightly, task="binary").passed
    relative = RegisterSpec(name="m", min_improvement=0.05, improvement="relative")
    result = judge(AUC, relative, y, p, slightly, task="binary")
    assert not result.passed
    assert result.gain == pytest.approx(gain / AUC(y, slightly))


def test_minimized_metrics_gain_when_lower() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=500)
    good, bad = y + rng.normal(0, 0.1, 500), y + rng.normal(0, 1.0, 500)
    result = judge(get_metric("rmse"), RegisterSpec(name="m", confidence=0.95), y, good, bad, task="regression")
    assert result.passed
    assert result.gain is not None
    assert result.gain > 0.5


def test_bootstrap_confidence_blocks_a_noisy_win() -> None:
    y, p = _data(400)
    other = _noisier(y, p, 0.05, seed=5)
    spec = RegisterSpec(name="m", confidence=0.95, bootstrap_samples=200)
    point = judge(AUC, RegisterSpec(name="m"), y, p, other, task="binary")
    sure = judge(AUC, spec, y, p, other, task="binary")
    assert point.gain is not None
    assert point.gain > 0
    assert point.passed
    assert sure.interval is not None
    low, high = sure.interval
    assert low <= point.gain <= high
    assert low <= 0, "so small a gain on 400 rows is not certain"
    assert not sure.passed
    assert "95% confidence (not enough)" in sure.reason
    # A clear win stays a win under the bootstrap, and the decision is reproducible.
    clear = judge(AUC, spec, y, p, _noisier(y, p, 0.4), task="binary")
    assert clear.passed
    assert clear.interval is not None
    assert clear.interval[0] > 0
    assert judge(AUC, spec, y, p, _noisier(y, p, 0.4), task="binary").interval == clear.interval


def test_thresholds_must_hold_even_without_a_champion() -> None:
    y, p = _data()
    spec = RegisterSpec(name="m", thresholds=["auc_roc >= 0.99", "log_loss <= 5"])
    result = judge(AUC, spec, y, p, None, task="binary")
    assert not result.passed
    assert result.failed_thresholds == [f"auc_roc >= 0.99 (got {AUC(y, p):.5f})"]
    assert set(result.threshold_scores) == {"auc_roc", "log_loss"}
    assert judge(AUC, RegisterSpec(name="m", thresholds=["auc_roc >= 0.6"]), y, p, None, task="binary").passed


def test_threshold_syntax_and_metric_are_checked() -> None:
    assert Threshold.parse(" log_loss<0.5 ") == Threshold(metric="log_loss", op="<", value=0.5)
    with pytest.raises(ValueError, match="not of the form"):
        Threshold.parse("auc_roc about 0.7")
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        RegisterSpec(name="m", thresholds=["auc >= 0.7"])


def test_sweep_files_name_bad_register_fields() -> None:
    from sparksweep.errors import SpecError
    from sparksweep.spec import validate_spec

    raw = {
        "experiment": "e",
        "data": {"path": "d.parquet", "target": "y"},
        "task": "binary",
        "models": ["lightgbm"],
        "register": {"name": "m", "thresholds": ["rmse <= 1"], "improvement": "relative", "confidence": 0.95},
    }
    with pytest.raises(SpecError, match="thresholds: metric 'rmse' does not apply to a binary task"):
        validate_spec(raw)
    raw["register"] = {"name": "m", "confidence": 1.5, "stage": "Prod"}
    with pytest.raises(SpecError) as info:
        validate_spec(raw)
    assert "register.confidence" in str(info.value)
    assert "register.stage" in str(info.value)


def test_the_bootstrap_auc_equals_scikit_learns() -> None:
    from sparksweep.registry._gate import _rank_auc

    y, p = _data(500)
    tied = np.round(p, 1)  # many ties
    assert _rank_auc(y, p) == pytest.approx(AUC(y, p), abs=1e-12)
    assert _rank_auc(y, tied) == pytest.approx(AUC(y, tied), abs=1e-12)
