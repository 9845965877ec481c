"""The champion's figures, on the run of the version the sweep registered: its feature importances and how it
scores the test rows the gate used, plus those test metrics and a sample of scored rows."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sparksweep.errors import DataError
from sparksweep.figures import _champion_data as cd
from sparksweep.figures import _draw_champion as dc

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

    from sparksweep.data import Dataset
    from sparksweep.figures._board import Board
    from sparksweep.figures._inputs import FigureInputs
    from sparksweep.figures._records import SweepRecord

__all__ = ["SAMPLE", "ChampionFigureData", "champion_figures", "reload_dataset"]

SAMPLE = "scored_test_rows.json"
F = "figures/"


@dataclass
class ChampionFigureData:
    """The data behind each of the champion's figures (None: not drawn or not applicable to its task)."""

    run_id: str
    version: str
    X_test: pd.DataFrame
    scores: cd.TestScores
    metrics: dict[str, float]
    """The gate's test metrics, logged as metrics of the run (``test_<metric>``)."""
    sample: pd.DataFrame
    library_importance: cd.Importance | None = None
    permutation_importance: cd.Importance | None = None
    roc: tuple[cd.Curve, ...] | None = None
    pr: tuple[cd.Curve, ...] | None = None
    confusion: cd.ConfusionMatrix | None = None
    calibration: cd.Calibration | None = None
    regression: cd.RegressionFit | None = None


def reload_dataset(client: MlflowClient, spec: Any, record: SweepRecord) -> Dataset:
    """The sweep's data prepared again as it was (its split is seeded), checked against the recorded fingerprint."""
    from sparksweep.data import load_table, prepare_dataset
    from sparksweep.tracking import TAG_DATA_PATH

    if spec.data.path is not None and not Path(spec.data.path).exists():
        recorded = client.get_run(record.run_id).data.tags.get(TAG_DATA_PATH)
        if recorded and Path(recorded).exists():
            spec = spec.with_overrides(**{"data.path": recorded})
    dataset = prepare_dataset(load_table(spec.data), spec.data, spec.task)
    expected = record.settings.get("data_fingerprint")
    if expected and expected != dataset.fingerprint:
        raise DataError(
            f"the data at {spec.data.source!r} differs from what sweep {record.run_id} ran on (fingerprint "
            f"{dataset.fingerprint} vs recorded {expected}); the champion's figures need the sweep's own test rows"
        )
    return dataset


def _test_metrics(record: SweepRecord, metric: Any, scores: cd.TestScores) -> dict[str, float]:
    found = {f"test_{metric.name}": metric(scores.y, scores.predictions)}
    if record.gate is not None:
        found.update({f"test_{name}": value for name, value in record.gate.test_scores.items()})
    return found


def _log_metrics(client: MlflowClient, run_id: str, metrics: dict[str, float]) -> None:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()])


def _classification(board: Board, data: ChampionFigureData) -> None:
    scores = data.scores
    data.roc = board.attempt("roc_curve", lambda: cd.roc_curves(scores))
    board.draw(F + "roc_curve.png", data.roc, lambda c: dc.draw_curves(c, "roc"))
    data.pr = board.attempt("pr_curve", lambda: cd.pr_curves(scores))
    board.draw(F + "pr_curve.png", data.pr, lambda c: dc.draw_curves(c, "pr"))
    data.confusion = board.attempt("confusion_matrix", lambda: cd.confusion(scores))
    board.draw(F + "confusion_matrix.png", data.confusion, dc.draw_confusion)
    data.calibration = board.attempt("calibration", lambda: cd.calibration(scores))
    board.draw(F + "calibration.png", data.calibration, dc.draw_calibration)


def champion_figures(
    client: MlflowClient, inputs: FigureInputs, record: SweepRecord, board: Board
) -> ChampionFigureData:
    """Draw the champion's figures on ``board`` and log the gate's test metrics on the registered version's run."""
    from sparksweep.metrics import get_metric
    from sparksweep.scoring.batch import load_model

    gate = record.gate
    if gate is None:
        raise ValueError("the sweep registered no version")
    version = client.get_model_version(gate.name, gate.version)
    dataset = inputs.dataset or reload_dataset(client, inputs.spec, record)
    model = load_model(f"models:/{gate.name}/{gate.version}", inputs.tracking_uri)
    metric = get_metric(inputs.spec.metric or record.metric)
    classes = tuple(str(c) for c in dataset.classes or ())
    scores = cd.TestScores(dataset.task, classes, np.asarray(dataset.y_test), cd.predict(model, dataset.X_test))
    data = ChampionFigureData(
        run_id=str(version.run_id),
        version=gate.version,
        X_test=dataset.X_test,
        scores=scores,
        metrics=_test_metrics(record, metric, scores),
        sample=cd.scored_sample(dataset.X_test, scores),
    )
    board.attempt("the champion's test metrics", lambda: _log_metrics(client, data.run_id, data.metrics))
    data.library_importance = board.attempt("feature_importance", lambda: cd.library_importance(model))
    title = "Feature importance (the model's own)"
    board.draw(F + "feature_importance.png", data.library_importance, lambda d: dc.draw_importance(d, title))
    data.permutation_importance = board.attempt(
        "permutation_importance", lambda: cd.permutation_importance(model, dataset.X_test, scores.y, metric)
    )
    title = "Permutation importance on the test rows"
    board.draw(F + "permutation_importance.png", data.permutation_importance, lambda d: dc.draw_importance(d, title))
    if dataset.task == "regression":
        data.regression = board.attempt("predicted_vs_actual", lambda: cd.regression_fit(scores))
        board.draw(F + "predicted_vs_actual.png", data.regression, dc.draw_predicted_vs_actual)
        board.draw(F + "residuals.png", data.regression, dc.draw_residuals)
    else:
        _classification(board, data)
    return data
