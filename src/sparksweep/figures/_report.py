"""Drawing a sweep's figures once after its trials, and again later for any sweep in the store.

:func:`draw_sweep_figures` is what the engine calls while its executor shuts down; :func:`report_sweep` is what
``sparksweep report`` calls. Both read the sweep back from MLflow, so they draw the same figures. A figure that
cannot be drawn is a :class:`FigureWarning` naming it; the others are still drawn, and the sweep is never lost.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sparksweep.figures import _draw_sweep as ds
from sparksweep.figures import _sweep_data as sd
from sparksweep.figures._board import Board, FigureWarning, attempt
from sparksweep.figures._champion import SAMPLE, ChampionFigureData, champion_figures
from sparksweep.figures._gate_view import GateView, bootstrap_gains, gate_view
from sparksweep.figures._html import PictureSection, render_report
from sparksweep.figures._inputs import FigureInputs
from sparksweep.figures._param_importance import ParamImportance, param_importance
from sparksweep.figures._records import SweepRecord, read_sweep_record
from sparksweep.figures._ui import DESCRIPTION_TAG, describe_sweep, mark_model_training

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd
    from mlflow import MlflowClient


__all__ = ["FigureInputs", "FigureReport", "FigureWarning", "SweepFigureData", "draw_sweep_figures"]

FIGURES = "figures"
REPORT = "report.html"


@dataclass
class SweepFigureData:
    """The data behind each of the parent run's figures (None: not drawn, or not applicable to this sweep)."""

    best_by_trial: sd.BestSoFar | None = None
    best_by_time: sd.BestSoFar | None = None
    family_scores: sd.FamilyScores | None = None
    parallel_coordinates: sd.ParallelCoordinates | None = None
    param_importance: ParamImportance | None = None
    timeline: sd.Timeline | None = None
    finalists: sd.FinalistScores | None = None
    gate: GateView | None = None


@dataclass
class FigureReport:
    """What was drawn and where it went."""

    record: SweepRecord
    sweep: SweepFigureData
    champion: ChampionFigureData | None
    parent_artifacts: list[str] = field(default_factory=list)
    champion_artifacts: list[str] = field(default_factory=list)
    champion_run_id: str | None = None
    failed: list[str] = field(default_factory=list)
    """The figures (or steps) that raised, each also a :class:`FigureWarning`."""
    seconds: float = 0.0


def _sweep_figures(board: Board, record: SweepRecord) -> SweepFigureData:
    data = SweepFigureData()
    f = f"{FIGURES}/"
    data.best_by_trial = board.attempt("best_so_far_by_trial", lambda: sd.best_so_far(record, "trial"))
    board.draw(f + "best_so_far_by_trial.png", data.best_by_trial, ds.draw_best_so_far)
    data.best_by_time = board.attempt("best_so_far_by_time", lambda: sd.best_so_far(record, "seconds"))
    board.draw(f + "best_so_far_by_time.png", data.best_by_time, ds.draw_best_so_far)
    data.family_scores = board.attempt("score_by_family", lambda: sd.family_scores(record))
    board.draw(f + "score_by_family.png", data.family_scores, ds.draw_family_scores)
    data.parallel_coordinates = board.attempt("parallel_coordinates", lambda: sd.parallel_coordinates(record))
    board.draw(f + "parallel_coordinates.png", data.parallel_coordinates, ds.draw_parallel_coordinates)
    data.param_importance = board.attempt("param_importance", lambda: param_importance(record))
    board.draw(f + "param_importance.png", data.param_importance, ds.draw_param_importance)
    data.timeline = board.attempt("timeline", lambda: sd.timeline(record, time.time()))
    board.draw(f + "timeline.png", data.timeline, ds.draw_timeline)
    data.finalists = board.attempt("finalists", lambda: sd.finalist_scores(record))
    board.draw(f + "finalists.png", data.finalists, ds.draw_finalists)
    return data


def _gains(
    inputs: FigureInputs, record: SweepRecord, champion: ChampionFigureData | None, client: MlflowClient
) -> npt.NDArray[np.float64] | None:
    """The gate's bootstrap resamples: kept by the sweep, else drawn again (same seed) from both models' test
    predictions; None when there was no champion to compare with."""
    gate, registration = record.gate, inputs.spec.registration
    if gate is None or registration is None or gate.champion_version is None or gate.champion_score is None:
        return None
    if inputs.decision is not None and inputs.decision.gains is not None:
        return inputs.decision.gains
    if champion is None:
        return None
    from sparksweep.figures._champion_data import predict
    from sparksweep.metrics import get_metric
    from sparksweep.scoring.batch import load_model

    previous = load_model(f"models:/{gate.name}/{gate.champion_version}", inputs.tracking_uri)
    theirs = predict(previous, champion.X_test)
    metric = get_metric(inputs.spec.metric or record.metric)
    scores = champion.scores
    return bootstrap_gains(metric, registration, scores.y, scores.predictions, theirs, record.task)


def _publish(client: MlflowClient, run_id: str, board: Board, failed: list[str], what: str) -> list[str]:
    names = board.names
    if names:
        attempt(f"the {what} figures (logging them)", lambda: client.log_artifacts(run_id, str(board.root)), failed)
    return names


def _copy_out(out: Path, parent: Path, champion: Path | None, sample: pd.DataFrame | None) -> None:
    """The parent's figures and report in ``out``, the champion's in ``out/champion`` (with its scored rows)."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(parent, out, dirs_exist_ok=True)
    if champion is not None:
        shutil.copytree(champion, out / "champion", dirs_exist_ok=True)
        if sample is not None:
            sample.to_json(out / "champion" / SAMPLE, orient="split", index=False)


def draw_sweep_figures(inputs: FigureInputs) -> FigureReport | None:
    """Mark the experiment as model training, draw the sweep's figures (unless ``tracking.figures`` is false) on
    its parent run and the champion's on the registered version's run, write ``report.html`` and the parent run's
    description. Never raises for a figure: each failure is a :class:`FigureWarning` (None: the sweep could not even
    be read back).

    Example:
        >>> report = draw_sweep_figures(FigureInputs("sqlite:///mlflow.db", "3f2a...", spec))  # doctest: +SKIP
        >>> report.parent_artifacts  # doctest: +SKIP
        ['figures/best_so_far_by_trial.png', ...]
    """
    from mlflow import MlflowClient

    started = time.perf_counter()
    failed: list[str] = []
    client = MlflowClient(tracking_uri=inputs.tracking_uri, registry_uri=inputs.tracking_uri)
    name = inputs.spec.registration.name if inputs.spec.registration is not None else None
    record = attempt("the sweep's record", lambda: read_sweep_record(client, inputs.parent_run_id, name), failed)
    if record is None:
        return None
    attempt("the experiment's kind", lambda: mark_model_training(client, record.experiment_id), failed)
    report = FigureReport(record, SweepFigureData(), None, failed=failed)
    if inputs.spec.tracking.figures:
        with tempfile.TemporaryDirectory(prefix="sparksweep-figures-") as tmp:
            _draw_all(inputs, client, report, Path(tmp))
    description = describe_sweep(record, report.champion_run_id)
    attempt("the sweep's description", lambda: client.set_tag(record.run_id, DESCRIPTION_TAG, description), failed)
    report.seconds = time.perf_counter() - started
    return report


def _draw_all(inputs: FigureInputs, client: MlflowClient, report: FigureReport, tmp: Path) -> None:
    record, failed = report.record, report.failed
    parent = Board(tmp / "parent", failed)
    parent.root.mkdir()
    report.sweep = _sweep_figures(parent, record)
    champion_board: Board | None = None
    if record.gate is not None and inputs.spec.registration is not None:
        champion_board = Board(tmp / "champion", failed)
        champion_board.root.mkdir()
        found = attempt(
            "the champion's figures", lambda: champion_figures(client, inputs, record, champion_board), failed
        )
        if found is not None:
            report.champion, report.champion_run_id = found, found.run_id
        registration, gate = inputs.spec.registration, record.gate
        gains = attempt("the gate's bootstrap", lambda: _gains(inputs, record, report.champion, client), failed)
        report.sweep.gate = attempt("gate", lambda: gate_view(record.metric, gate, registration, gains), failed)
        parent.draw(f"{FIGURES}/gate.png", report.sweep.gate, ds.draw_gate)
    sections = [PictureSection("The sweep", tuple(parent.pictures))]
    if champion_board is not None:
        sections.append(PictureSection("The champion, on the test rows", tuple(champion_board.pictures)))
    page = attempt(REPORT, lambda: render_report(record, sections), failed)
    if page is not None:
        (parent.root / REPORT).write_text(page, encoding="utf-8")
    report.parent_artifacts = _publish(client, record.run_id, parent, failed, "sweep's")
    if champion_board is not None and report.champion_run_id is not None:
        report.champion_artifacts = _publish(client, report.champion_run_id, champion_board, failed, "champion's")
        if report.champion is not None:
            table = report.champion.sample
            attempt(
                "scored_test_rows.json",
                lambda: client.log_table(report.champion_run_id or "", data=table, artifact_file=SAMPLE),
                failed,
            )
            report.champion_artifacts.append(SAMPLE)
    if inputs.out is not None:
        out, sample = inputs.out, report.champion.sample if report.champion is not None else None
        root = champion_board.root if champion_board is not None else None
        attempt(f"the copy in {out}", lambda: _copy_out(out, parent.root, root, sample), failed)
