"""The rounds early stopping keeps, and fitting exactly that many on all the rows (what the champion's refit does)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from sparksweep.data import TrainingData
from sparksweep.models import get_family
from tests.registry._fixtures import churn_dataset

STOPPING = ["lightgbm", "xgboost", "sklearn.hist_gradient_boosting", "sklearn.gradient_boosting"]


def _trees(name: str, model: object) -> int:
    estimator = model.steps[-1][1] if hasattr(model, "steps") else model
    if name == "lightgbm":
        return int(estimator.booster_.num_trees())
    if name == "xgboost":
        return int(estimator.get_booster().num_boosted_rounds())
    if name == "sklearn.hist_gradient_boosting":
        return int(estimator.n_iter_)
    return len(estimator.estimators_)


def _all_rows(data: TrainingData) -> TrainingData:
    return dataclasses.replace(
        data,
        X_train=pd.concat([data.X_train, data.X_valid], ignore_index=True),
        y_train=np.concatenate([data.y_train, data.y_valid]),
    )


@pytest.mark.parametrize("name", STOPPING)
def test_a_stopping_family_reports_its_rounds_and_fits_exactly_that_many(name: str, churn: pd.DataFrame) -> None:
    data = churn_dataset(churn).training
    family = get_family(name)
    params = {"learning_rate": 0.3}
    fitted = family.fit(family.build(params, task="binary", n_jobs=1, seed=0), data)
    rounds = family.fitted_rounds(fitted)
    assert rounds is not None
    assert rounds >= 1
    assert rounds < 400, "at learning rate 0.3 early stopping ends well before any family's cap (500-1000 rounds)"
    refit = family.fit_rounds(family.build(params, task="binary", n_jobs=1, seed=0), _all_rows(data), rounds + 3)
    assert _trees(name, refit) == rounds + 3
    prediction = family.predict(refit, data.X_valid, "binary")
    assert prediction.shape == (len(data.X_valid),)
    assert np.all((prediction >= 0) & (prediction <= 1))


def test_families_that_do_not_stop_early_report_no_rounds(churn: pd.DataFrame) -> None:
    data = churn_dataset(churn).training
    family = get_family("sklearn.logistic_regression")
    assert family.fitted_rounds(family.fit(family.build({}, task="binary", n_jobs=1, seed=0), data)) is None
    with pytest.raises(NotImplementedError, match="fit_rounds"):
        family.fit_rounds(family.build({}, task="binary", n_jobs=1, seed=0), data, 10)
