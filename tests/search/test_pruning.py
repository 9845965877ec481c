"""Pruning without Spark: the worker-side rule on a snapshot of the driver's evidence, and each boosting family's
per-round reports."""

from __future__ import annotations

import pickle
from collections.abc import Callable

import numpy as np
import pytest

from sparksweep.config import DataSpec
from sparksweep.data import prepare_dataset
from sparksweep.datasets import generate_churn
from sparksweep.models import get_family
from sparksweep.scoring.metrics import Direction, get_metric
from sparksweep.search.pruning import REPORT_EVERY, PruningLedger, TrialPruned
from sparksweep.search.trial import TrialResult, TrialState

AUC = get_metric("auc_roc")


def _finished(number: int, level: float, state: TrialState = TrialState.COMPLETE) -> TrialResult:
    curve = {step: level for step in range(REPORT_EVERY, 101, REPORT_EVERY)}
    return TrialResult(number, f"run{number}", "f", {}, state, value=level, intermediate=curve)


def _constant_predictions(y: np.ndarray, auc_like: float) -> Callable[[], np.ndarray]:
    """Predictions whose AUC is about ``auc_like``: the label mixed with fixed noise."""
    noise = np.random.default_rng(0).uniform(size=len(y))
    return lambda: (2 * auc_like - 1) * y + noise


@pytest.mark.parametrize("kind", ["median", "successive_halving", "hyperband"])
def test_a_trial_worse_than_the_others_is_pruned_and_a_better_one_is_not(kind: str) -> None:
    ledger = PruningLedger(kind, Direction.MAXIMIZE)
    y = np.array([0, 1] * 200)
    # Earlier trials run through the same protocol as in the workers: snapshot out, scores and attributes back.
    for i in range(6):
        reporter = ledger.snapshot().reporter(AUC, y)
        state = TrialState.COMPLETE
        try:
            for step in range(1, 101):
                reporter(step, _constant_predictions(y, 0.95 - 0.01 * i))
        except TrialPruned:
            state = TrialState.PRUNED
        ledger.record(
            TrialResult(
                i,
                f"run{i}",
                "f",
                {},
                state,
                value=reporter.intermediate[max(reporter.intermediate)] if state is TrialState.COMPLETE else None,
                intermediate=reporter.intermediate,
                pruner_attrs=reporter.system_attrs,
            )
        )
    ledger.record(_finished(6, 0.5, TrialState.FAILED))  # a failed trial is no evidence
    context = pickle.loads(pickle.dumps(ledger.snapshot()))  # what travels to the worker
    assert len(context.trials) == 6

    bad = context.reporter(AUC, y)

    def run_bad() -> None:
        for step in range(1, 101):
            bad(step, _constant_predictions(y, 0.6))

    with pytest.raises(TrialPruned) as pruned:
        run_bad()
    assert pruned.value.step >= 30, "no trial is judged before its warm-up rounds"
    assert pruned.value.step % REPORT_EVERY == 0
    assert bad.last_step == pruned.value.step
    assert set(bad.intermediate) == set(range(REPORT_EVERY, pruned.value.step + 1, REPORT_EVERY))

    good = context.reporter(AUC, y)
    for step in range(1, 101):
        good(step, _constant_predictions(y, 0.99))
    assert good.last_step == 100


def test_the_ledger_learns_from_pruned_trials_and_ignores_trials_without_reports() -> None:
    ledger = PruningLedger("median", Direction.MINIMIZE)
    ledger.record(_finished(0, 0.3, TrialState.PRUNED))
    ledger.record(TrialResult(1, "r", "f", {}, TrialState.COMPLETE, value=0.2))  # a family that never reports
    assert [t.state.name for t in ledger.snapshot().trials] == ["PRUNED"]


@pytest.fixture(scope="module")
def training() -> object:
    frame = generate_churn(600, seed=3)
    return prepare_dataset(frame, DataSpec(path="-", target="label", drop=["user_id", "feature_date"])).training


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("lightgbm", {"learning_rate": 0.1, "num_leaves": 8}),
        ("xgboost", {"learning_rate": 0.1, "max_depth": 3}),
        ("sklearn.hist_gradient_boosting", {"learning_rate": 0.1}),
    ],
)
def test_boosting_families_report_rounds_and_stop_when_told(name: str, params: dict, training: object) -> None:
    family = get_family(name)
    seen: list[tuple[int, float]] = []

    def report(step: int, predict: Callable[[], np.ndarray]) -> None:
        if step % REPORT_EVERY:
            return
        prediction = predict()
        assert prediction.shape == (len(training.y_valid),)  # type: ignore[attr-defined]
        seen.append((step, AUC(training.y_valid, prediction)))  # type: ignore[attr-defined]
        if step >= 30:
            raise TrialPruned(step, seen[-1][1])

    estimator = family.build(params, task="binary", n_jobs=1, seed=0)
    with pytest.raises(TrialPruned):
        family.fit_reporting(estimator, training, report)  # type: ignore[arg-type]
    assert [s for s, _ in seen] == [10, 20, 30]
    assert all(0.5 < auc <= 1.0 for _, auc in seen), seen

    # Not stopped, it trains to the end like fit() and reports on the way.
    full = family.build(params, task="binary", n_jobs=1, seed=0)
    steps: list[int] = []
    family.fit_reporting(full, training, lambda step, predict: steps.append(step))  # type: ignore[arg-type]
    assert steps
    assert steps == sorted(steps)
    reference = family.fit(family.build(params, task="binary", n_jobs=1, seed=0), training)  # type: ignore[arg-type]
    full_auc = AUC(training.y_valid, family.predict(full, training.X_valid, "binary"))  # type: ignore[attr-defined]
    ref_auc = AUC(training.y_valid, family.predict(reference, training.X_valid, "binary"))  # type: ignore[attr-defined]
    # Reporting does not change training (HGB, grown in warm-started chunks, stops where one fit stops).
    assert full_auc == pytest.approx(ref_auc, rel=1e-12)
