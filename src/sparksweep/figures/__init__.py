"""Figures of a sweep and of its champion, drawn once after the trials (never per trial) and logged to MLflow: the
optimization history, scores per family, parallel coordinates, hyperparameter importances, the timeline per slot,
the finalists and the gate on the parent run; feature importances, ROC/PR curves, the confusion matrix, calibration
(or predicted vs actual and residuals) and a sample of scored test rows on the champion's run; ``report.html``.

Example:
    >>> from sparksweep.figures import report_sweep
    >>> report = report_sweep("3f2a...", tracking_uri="sqlite:///mlflow.db", out="figures/")  # doctest: +SKIP
"""

from __future__ import annotations

from sparksweep.figures._board import FigureWarning
from sparksweep.figures._canvas import preload_matplotlib
from sparksweep.figures._champion import ChampionFigureData
from sparksweep.figures._cli import report_sweep
from sparksweep.figures._inputs import FigureInputs
from sparksweep.figures._records import GateRecord, Rescore, SweepRecord, read_sweep_record
from sparksweep.figures._report import FigureReport, SweepFigureData, draw_sweep_figures
from sparksweep.figures._sweep_data import pack_slots
from sparksweep.figures._ui import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG, WORKFLOW_QUERY, model_link, run_link

__all__ = [
    "EXPERIMENT_KIND",
    "EXPERIMENT_KIND_TAG",
    "WORKFLOW_QUERY",
    "ChampionFigureData",
    "FigureInputs",
    "FigureReport",
    "FigureWarning",
    "GateRecord",
    "Rescore",
    "SweepFigureData",
    "SweepRecord",
    "draw_sweep_figures",
    "model_link",
    "pack_slots",
    "preload_matplotlib",
    "read_sweep_record",
    "report_sweep",
    "run_link",
]
