"""Pruning without Spark: the worker-side rule on a snapshot of the driver's evidence, and each boosting family's
per-round reports."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from sparksweep.data import TrainingData, prepare_dataset
from sparksweep.datasets import generate_churn
from sparksweep.metrics import Direction, get_metric
from sparksweep.models import get_family
from sparksweep.pruning import (
    MIN_RESOURCE,
    REDUCTION_FACTOR,
    REPORT_EVERY,
    PruneContext,
    PruningLedger,
    TrialPruned,
)
from sparksweep.spec import DataSpec
from sparksweep.trial import TrialResult, TrialState

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
    assert pruned.value.step >= MIN_RESOURCE, "no trial is judged before its warm-up rounds"
    assert bad.due(pruned.value.step)
    assert bad.last_step == pruned.value.step
    assert set(bad.intermediate) == {s for s in range(1, pruned.value.step + 1) if bad.due(s)}

    good = context.reporter(AUC, y)
    for step in range(1, 101):
        good(step, _constant_predictions(y, 0.99))
    assert good.last_step == (100 if kind == "median" else 90)


@pytest.mark.parametrize("kind", ["successive_halving", "hyperband"])
def test_a_resumed_ledger_rebuilds_the_rungs_from_the_scores_alone(kind: str) -> None:
    y = np.array([0, 1] * 200)
    live = PruningLedger(kind, Direction.MAXIMIZE)
    results = []
    for i, level in enumerate([0.9, 0.8, 0.95, 0.7, 0.85, 0.75]):
        reporter = live.snapshot().reporter(AUC, y)
        state = TrialState.COMPLETE
        try:
            for step in range(1, 301):
                reporter(step, _constant_predictions(y, level))
        except TrialPruned:
            state = TrialState.PRUNED
        value = reporter.intermediate[max(reporter.intermediate)] if state is TrialState.COMPLETE else None
        result = TrialResult(i, f"r{i}", "f", {}, state, value=value, intermediate=dict(reporter.intermediate))
        live.record(result, reporter.system_attrs)
        results.append(result)
    assert any(r.state is TrialState.PRUNED for r in results), "the example should prune some trials"
    # On resume, MLflow gives back each trial's state and per-round scores, not the pruner's rung records.
    resumed = PruningLedger(kind, Direction.MAXIMIZE)
    for result in results:
        resumed.record(result)

    def rungs(ledger: PruningLedger) -> list[dict[str, Any]]:
        return [{k: v for k, v in t.system_attrs.items() if "rung" in k} for t in ledger.snapshot().trials]

    assert rungs(resumed) == rungs(live)
    assert any(rungs(live)), "successive halving records rungs"


def test_the_ledger_learns_from_pruned_trials_and_ignores_trials_without_reports() -> None:
    ledger = PruningLedger("median", Direction.MINIMIZE)
    ledger.record(_finished(0, 0.3, TrialState.PRUNED))
    ledger.record(TrialResult(1, "r", "f", {}, TrialState.COMPLETE, value=0.2))  # a family that never reports
    assert [t.state.name for t in ledger.snapshot().trials] == ["PRUNED"]


def _training(task: str) -> TrainingData:
    if task == "binary":
        frame = generate_churn(1500, seed=3)
        return prepare_dataset(frame, DataSpec(path="-", target="label", drop=["user_id", "feature_date"])).training
    rng = np.random.default_rng(3)
    X = rng.normal(size=(1500, 5))
    signal = X[:, 0] + 0.5 * X[:, 1] * X[:, 2] + rng.normal(scale=1.0, size=1500)
    y = np.digitize(signal, [-0.7, 0.7]) if task == "multiclass" else signal
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)]).assign(y=y)
    return prepare_dataset(frame, DataSpec(path="-", target="y"), task=task).training


METRIC_OF = {"binary": "auc_roc", "multiclass": "log_loss", "regression": "rmse"}


class _Recorder:
    """The worker's reporter on an empty ledger (it never prunes by itself), stopping the trial at ``stop_at``."""

    def __init__(self, kind: str, task: str, y_valid: np.ndarray, stop_at: int | None = None) -> None:
        metric = get_metric(METRIC_OF[task])
        self.inner = PruneContext(kind, metric.direction).reporter(metric, y_valid)
        self.metric = metric
        self.stop_at = stop_at
        self.due, self.next_due = self.inner.due, self.inner.next_due

    def __call__(self, step: int, predict: Callable[[], np.ndarray]) -> float | None:
        value = self.inner(step, predict)
        if value is not None and step == self.stop_at:
            raise TrialPruned(step, value)
        return value


def _staged(family_name: str, model: object, X: pd.DataFrame, rounds: int, task: str) -> np.ndarray:
    """Predictions of the first ``rounds`` boosting rounds of a fitted model, in sparksweep's convention."""
    if family_name == "lightgbm":
        raw = model.booster_.predict(X, num_iteration=rounds)  # type: ignore[attr-defined]
    elif family_name == "xgboost":
        proba = task != "regression"
        method = model.predict_proba if proba else model.predict  # type: ignore[attr-defined]
        raw = method(X, iteration_range=(0, rounds))
        raw = raw[:, 1] if task == "binary" else raw
    else:
        staged = model.staged_predict_proba(X) if task != "regression" else model.staged_predict(X)  # type: ignore[attr-defined]
        raw = next(p for i, p in enumerate(staged, start=1) if i == rounds)
        raw = raw[:, 1] if task == "binary" else raw
    return np.asarray(raw, dtype=np.float64)


def _rounds_kept(family_name: str, model: Any) -> int:
    if family_name == "lightgbm":
        return int(model.booster_.current_iteration())
    if family_name == "xgboost":
        return int(model.get_booster().num_boosted_rounds())
    return int(model.n_iter_)


BOOSTING = {
    "lightgbm": {"learning_rate": 0.05, "num_leaves": 8},
    "xgboost": {"learning_rate": 0.05, "max_depth": 3},
    "sklearn.hist_gradient_boosting": {"learning_rate": 0.02},
}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """One OpenMP thread, as in a trial: on a busy 2-core machine HGB's default threads spin for seconds."""
    with threadpool_limits(limits=1):
        yield


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("name", list(BOOSTING))
def test_boosting_families_report_the_sweep_metric_on_due_rounds_without_changing_training(
    name: str, task: str
) -> None:
    family = get_family(name)
    data = _training(task)
    metric = get_metric(METRIC_OF[task])
    params = BOOSTING[name]

    # Not stopped, a reporting fit trains exactly like fit() and reports on the median rule's rounds.
    reference = family.fit(family.build(params, task=task, n_jobs=1, seed=0), data)
    recorder = _Recorder("median", task, data.y_valid)
    full = family.fit_reporting(family.build(params, task=task, n_jobs=1, seed=0), data, recorder)
    expected = metric(data.y_valid, family.predict(reference, data.X_valid, task))
    assert metric(data.y_valid, family.predict(full, data.X_valid, task)) == pytest.approx(expected, rel=1e-12)
    steps = sorted(recorder.inner.intermediate)
    assert len(steps) >= 2, f"{name} trained too few rounds to report twice: {steps}"
    assert all(recorder.due(step) for step in steps), steps
    if name == "sklearn.hist_gradient_boosting":  # grown in chunks to rounds 30, 90, 270, ... or to its end
        rungs = [MIN_RESOURCE * REDUCTION_FACTOR**i for i in range(len(steps))]
        assert steps[:-1] == rungs[:-1]
        assert steps[-1] in (rungs[-1], full.n_iter_)  # type: ignore[attr-defined]
    else:  # the libraries evaluate every round: every due round up to the end of training is reported
        assert steps == list(range(MIN_RESOURCE, steps[-1] + 1, REPORT_EVERY))
    # Each score is the sweep's metric of the model as it stood after that many rounds (LightGBM keeps the rounds
    # up to the best one only).
    kept = [step for step in steps if step <= _rounds_kept(name, full)]
    assert kept
    for step in kept:
        staged = _staged(name, full, data.X_valid, step, task)
        assert recorder.inner.intermediate[step] == pytest.approx(metric(data.y_valid, staged), rel=1e-6), step

    # Told to stop on a due round, it stops there.
    stop_at = steps[1]
    stopping = _Recorder("median", task, data.y_valid, stop_at=stop_at)
    with pytest.raises(TrialPruned) as pruned:
        family.fit_reporting(family.build(params, task=task, n_jobs=1, seed=0), data, stopping)
    assert pruned.value.step == stop_at
    assert max(stopping.inner.intermediate) == stop_at


@pytest.mark.parametrize("name", list(BOOSTING))
def test_with_successive_halving_only_the_rungs_are_scored(name: str) -> None:
    family = get_family(name)
    data = _training("binary")
    recorder = _Recorder("successive_halving", "binary", data.y_valid)
    family.fit_reporting(family.build({"learning_rate": 0.02}, task="binary", n_jobs=1, seed=0), data, recorder)
    steps = sorted(recorder.inner.intermediate)
    assert steps, "the trial trained past the first rung"
    assert steps == [MIN_RESOURCE * REDUCTION_FACTOR**i for i in range(len(steps))]


def test_the_schedule_of_due_rounds() -> None:
    y = np.array([0, 1])
    median = PruneContext("median", Direction.MAXIMIZE).reporter(AUC, y)
    assert [s for s in range(1, 80) if median.due(s)] == [30, 40, 50, 60, 70]
    assert [median.next_due(s) for s in (0, 29, 30, 31, 59)] == [30, 30, 40, 40, 60]
    for kind in ("successive_halving", "hyperband"):
        rungs = PruneContext(kind, Direction.MAXIMIZE).reporter(AUC, y)
        assert [s for s in range(1, 1000) if rungs.due(s)] == [30, 90, 270, 810]
        assert [rungs.next_due(s) for s in (0, 30, 89, 90)] == [30, 90, 90, 270]
