"""The folds of `search.cv`: an early-stopping family never stops on the rows it is scored on; racing; the fold
scores a CV trial hands back."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from sparksweep.data import Dataset
from sparksweep.metrics import get_metric
from sparksweep.models import get_family
from sparksweep.trial import TrialState
from sparksweep.worker import TrialTask, cv_folds, race_lost, run_trial
from sparksweep.worker._cv import cross_validate
from tests.helpers import InProcessData
from tests.registry._fixtures import churn_dataset


@pytest.mark.parametrize("stratify", [True, False])
def test_early_stopping_families_stop_on_rows_of_their_own(stratify: bool) -> None:
    y = np.arange(103) % 3
    folds = cv_folds(y, k=5, seed=7, stratify=stratify, stops_early=True)
    assert len(folds) == 5
    scored = np.concatenate([score for _, _, score in folds])
    assert sorted(scored) == list(range(103))  # every row is scored exactly once
    for fit, stop, score in folds:
        assert not set(stop) & set(score)
        assert not set(fit) & set(score)
        assert not set(fit) & set(stop)
        assert len(stop) == pytest.approx(0.2 * (len(fit) + len(stop)), abs=1)
        assert sorted([*fit, *stop, *score]) == list(range(103))


def test_other_families_fit_on_the_whole_training_part_of_each_fold() -> None:
    y = np.linspace(0.0, 1.0, 50)
    for fit, stop, score in cv_folds(y, k=5, seed=0, stratify=False, stops_early=False):
        assert len(fit) == 40
        assert np.array_equal(stop, score)  # ignored by these families


def test_a_class_too_rare_to_stratify_the_stopping_set_still_gives_folds() -> None:
    y = np.array([0] * 30 + [1] * 3)
    folds = cv_folds(y, k=3, seed=1, stratify=True, stops_early=True)
    assert all(len(stop) > 0 for _, stop, _ in folds)


def test_the_boosting_families_declare_that_they_stop_early() -> None:
    stopping = {"lightgbm", "xgboost", "sklearn.hist_gradient_boosting", "sklearn.gradient_boosting"}
    for name in [*stopping, "sklearn.random_forest", "sklearn.extra_trees", "sklearn.linear"]:
        assert get_family(name).stops_early is (name in stopping)


def test_a_trial_clearly_behind_the_best_on_its_first_folds_loses_its_race() -> None:
    best = [0.10, 0.12, 0.08, 0.10]  # fold-to-fold sd ~0.014
    assert race_lost([0.30], best, k=4, maximize=False)
    assert race_lost([0.13, 0.14], best, k=4, maximize=False)  # 0.135 against 0.11 on the same two folds
    assert not race_lost([0.11], best, k=4, maximize=False)  # behind, but within the folds' spread
    assert not race_lost([0.09], best, k=4, maximize=False)  # ahead
    assert not race_lost([0.30, 0.30, 0.30, 0.30], best, k=4, maximize=False)  # every fold scored: it finishes


def test_racing_a_higher_is_better_metric_stops_the_lower_scores() -> None:
    best = [0.90, 0.92, 0.88]
    assert race_lost([0.70], best, k=3, maximize=True)
    assert not race_lost([0.95], best, k=3, maximize=True)


def test_no_race_without_the_best_trial_s_scores_on_every_fold() -> None:
    assert not race_lost([0.5], [], k=3, maximize=False)
    assert not race_lost([0.5], [0.1, 0.1], k=3, maximize=False)  # a best trial scored on fewer folds
    assert not race_lost([], [0.1, 0.1, 0.1], k=3, maximize=False)


def _task(family: str, ds: Dataset, **fields: Any) -> TrialTask:
    return TrialTask(
        number=0,
        run_id="unused",
        tracking_uri="unused",
        family=get_family(family),
        params={"learning_rate": 0.3},
        task="binary",
        metric="log_loss",
        features=ds.features,
        classes=ds.classes,
        n_jobs=1,
        seed=0,
        data=InProcessData(ds.fingerprint, ds.training),
        cv=3,
        cv_seed=5,
        **fields,
    )


@pytest.mark.parametrize("family", ["lightgbm", "xgboost"])
def test_shared_rounds_score_every_fold_at_the_round_of_the_lowest_mean_loss(family: str, churn: pd.DataFrame) -> None:
    ds = churn_dataset(churn)
    metric = get_metric("log_loss")
    cv = cross_validate(_task(family, ds), ds.training, metric)
    # By hand: each fold fits on all of its training part and stops on the part it is scored on.
    fam = get_family(family)
    X = pd.concat([ds.training.X_train, ds.training.X_valid], ignore_index=True)
    y = np.concatenate([ds.training.y_train, ds.training.y_valid])
    folds = []
    for fit, _, score in cv_folds(y, k=3, seed=5, stratify=True, stops_early=False):
        fold = dataclasses.replace(
            ds.training, X_train=X.iloc[fit], y_train=y[fit], X_valid=X.iloc[score], y_valid=y[score]
        )
        folds.append((fam.fit(fam.build({"learning_rate": 0.3}, task="binary", n_jobs=1, seed=0), fold), score))
    curves = [fam.round_curve(model) for model, _ in folds]
    common = min(len(c) for c in curves)
    best = int(np.argmin(np.mean([c[:common] for c in curves], axis=0))) + 1
    assert cv.rounds == [best]
    expected = [metric(y[score], fam.predict_rounds(model, X.iloc[score], "binary", best)) for model, score in folds]
    assert cv.scores == pytest.approx(expected, rel=1e-9)
    assert not cv.lost_race


def test_a_raced_trial_stops_after_the_fold_that_puts_it_clearly_behind(churn: pd.DataFrame) -> None:
    ds = churn_dataset(churn)
    cv = cross_validate(_task("lightgbm", ds, race=(0.01, 0.011, 0.012)), ds.training, get_metric("log_loss"))
    assert cv.lost_race
    assert len(cv.scores) == 1


def _recorded_task(family: str, ds: Dataset, tracking_uri: str, **fields: Any) -> TrialTask:
    client = MlflowClient(tracking_uri)
    run_id = client.create_run(client.create_experiment(f"folds-{len(fields)}")).info.run_id
    return dataclasses.replace(_task(family, ds, **fields), run_id=run_id, tracking_uri=tracking_uri, log_model=False)


def test_a_cv_trial_s_result_carries_its_fold_scores_as_its_run_records_them(
    churn: pd.DataFrame, tracking_uri: str
) -> None:
    ds = churn_dataset(churn)
    result = run_trial(_recorded_task("lightgbm", ds, tracking_uri))
    assert result.state is TrialState.COMPLETE, result.error
    metrics = MlflowClient(tracking_uri).get_run(result.run_id).data.metrics
    assert len(result.fold_scores) == 3
    assert result.fold_scores == tuple(metrics[f"log_loss_fold_{i}"] for i in range(3))
    assert result.value == pytest.approx(sum(result.fold_scores) / 3)


def test_a_trial_that_lost_its_race_carries_the_folds_it_scored(churn: pd.DataFrame, tracking_uri: str) -> None:
    ds = churn_dataset(churn)
    result = run_trial(_recorded_task("lightgbm", ds, tracking_uri, race=(0.01, 0.011, 0.012)))
    assert result.state is TrialState.PRUNED, result.error
    metrics = MlflowClient(tracking_uri).get_run(result.run_id).data.metrics
    assert result.fold_scores == (metrics["log_loss_fold_0"],)
    assert "log_loss_fold_1" not in metrics


class _CountingFits(type(get_family("sklearn.logistic_regression"))):  # type: ignore[misc]
    """The logistic regression family, counting its fits (the trial runs in this process)."""

    fits = 0

    def fit(self, estimator: Any, data: Any) -> Any:
        type(self).fits += 1
        return super().fit(estimator, data)


@pytest.mark.parametrize(("threshold", "keeps"), [(0.0, False), (10.0, True)])
def test_a_cv_trial_whose_model_is_not_kept_fits_only_its_folds(
    churn: pd.DataFrame, tracking_uri: str, threshold: float, keeps: bool
) -> None:
    ds = churn_dataset(churn)
    task = dataclasses.replace(
        _recorded_task("sklearn.logistic_regression", ds, tracking_uri),
        family=_CountingFits(),
        params={},
        log_model=True,
        keep_improving=True,
        model_threshold=threshold,  # log_loss: 0.0 cannot be reached, 10.0 is beaten by any model
        maximize=False,
    )
    _CountingFits.fits = 0
    result = run_trial(task)
    assert result.state is TrialState.COMPLETE, result.error
    assert (result.model_uri is not None) is keeps
    assert _CountingFits.fits == 3 + keeps  # the folds, and the training split's fit only for a kept model
    tags = MlflowClient(tracking_uri).get_run(result.run_id).data.tags
    assert ("sparksweep.model" in tags) is not keeps
