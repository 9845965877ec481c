"""The sweep's conclusion, checked before anything is fitted or registered."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from sparksweep.errors import RegistryError
from sparksweep.metrics import get_metric
from sparksweep.spec import RegisterSpec
from sparksweep.sweep._conclude import conclude
from sparksweep.trial import TrialResult, TrialState
from tests.conftest import new_store


def test_an_ensemble_needs_a_refit(tmp_path: Path, store_template: Path) -> None:
    uri = new_store(store_template, tmp_path / "mlflow.db")
    best = TrialResult(0, "run-0", "lightgbm", {}, TrialState.COMPLETE, 0.8, model_uri="models:/m-0")
    other = TrialResult(1, "run-1", "sklearn.logistic_regression", {}, TrialState.COMPLETE, 0.7)
    with pytest.raises(RegistryError, match=r"register\.refit is false; set register\.refit: true"):
        conclude(
            client=MlflowClient(uri),
            tracking_uri=uri,
            registration=RegisterSpec(name="m", refit=False),
            best=best,
            dataset=None,  # type: ignore[arg-type]  # never reached: the check comes first
            metric=get_metric("auc_roc"),
            sweep_run_id="sweep",
            ensemble=[(best, 0.5), (other, 0.5)],
        )
