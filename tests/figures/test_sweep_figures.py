"""The figures of finished sweeps (binary, multiclass, regression): each is an artifact with its expected name on
the parent run or the champion's run, and the data behind it (the typed objects the figures are drawn from) is right.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

from sparksweep.executors import LocalExecutor
from sparksweep.figures import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG, WORKFLOW_QUERY, FigureReport, report_sweep
from sparksweep.metrics import get_metric
from tests.figures.conftest import FinishedSweep, assert_one_trial_computes_at_a_time_per_slot, finish, sweep_spec

pytestmark = pytest.mark.slow

PARENT_FIGURES = {
    "figures/best_so_far_by_trial.png",
    "figures/best_so_far_by_time.png",
    "figures/score_by_family.png",
    "figures/parallel_coordinates.png",
    "figures/timeline.png",
    "figures/gate.png",
    "report.html",
}
CLASSIFIER_FIGURES = {
    "figures/permutation_importance.png",
    "figures/roc_curve.png",
    "figures/pr_curve.png",
    "figures/confusion_matrix.png",
    "figures/calibration.png",
    "scored_test_rows.json",
}
FEW = {"n_trials": 4}
"""The multiclass and regression sweeps: enough trials for both families to run (their figures are checked, not the
search)."""
REGRESSOR_FIGURES = {
    "figures/permutation_importance.png",
    "figures/predicted_vs_actual.png",
    "figures/residuals.png",
    "scored_test_rows.json",
}


@pytest.fixture(scope="module")
def binary(
    tmp_path_factory: pytest.TempPathFactory, store_template: Path, local_executor: LocalExecutor
) -> tuple[FinishedSweep, FinishedSweep]:
    """Two sweeps into one registered model: the second's gate has a champion to beat (a paired bootstrap), and its
    finalists are scored again on fresh folds."""
    from sparksweep.datasets import generate_churn

    folder = tmp_path_factory.mktemp("binary")
    frame = generate_churn(700, seed=3)
    models = ["lightgbm", "sklearn.logistic_regression"]
    first = finish(sweep_spec(folder, frame, "label", models, store_template, search={"n_trials": 3}), local_executor)
    spec = sweep_spec(
        folder,
        frame,
        "label",
        models,
        store_template,
        search={"n_trials": 7, "seed": 1, "cv": 2, "finalists": 2},
        register={"confidence": 0.9, "bootstrap_samples": 200, "thresholds": ["accuracy >= 0.5"], "force": True},
    )
    return first, finish(spec, local_executor)


@pytest.fixture(scope="module")
def binary_report(
    binary: tuple[FinishedSweep, FinishedSweep], tmp_path_factory: pytest.TempPathFactory
) -> tuple[FigureReport, Path]:
    """The second binary sweep's figures drawn again by ``report_sweep`` (once: the tests only read them), and the
    folder it wrote them to."""
    out = tmp_path_factory.mktemp("binary-report")
    return _redrawn(binary[1], out), out


@pytest.fixture(scope="module")
def multiclass(
    tmp_path_factory: pytest.TempPathFactory, store_template: Path, local_executor: LocalExecutor
) -> FinishedSweep:
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    frame["target"] = frame["target"].map({0: "setosa", 1: "versicolor", 2: "virginica"})
    folder = tmp_path_factory.mktemp("multiclass")
    models = ["lightgbm", "sklearn.logistic_regression"]
    return finish(sweep_spec(folder, frame, "target", models, store_template, search=FEW), local_executor)


@pytest.fixture(scope="module")
def regression(
    tmp_path_factory: pytest.TempPathFactory, store_template: Path, local_executor: LocalExecutor
) -> FinishedSweep:
    from sklearn.datasets import load_diabetes

    folder = tmp_path_factory.mktemp("regression")
    frame = load_diabetes(as_frame=True).frame
    models = ["lightgbm", "sklearn.linear"]
    return finish(sweep_spec(folder, frame, "target", models, store_template, search=FEW), local_executor)


def _artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    out: set[str] = set()
    for item in client.list_artifacts(run_id, path):
        out |= _artifacts(client, run_id, item.path) if item.is_dir else {item.path}
    return out


def _champion_run(sweep: FinishedSweep) -> str:
    champion = sweep.result.champion
    assert champion is not None
    return str(MlflowClient(sweep.uri).get_model_version(champion.name, champion.version).run_id)


def _redrawn(sweep: FinishedSweep, tmp: Path) -> FigureReport:
    report = report_sweep(sweep.result.sweep_run_id, tracking_uri=sweep.uri, out=tmp)
    assert report.failed == []
    return report


def test_a_binary_sweep_draws_every_figure_on_its_parent_and_champion_runs(
    binary: tuple[FinishedSweep, FinishedSweep],
) -> None:
    sweep = binary[1]
    assert not [w for w in sweep.warnings if "could not draw" in w]
    client = MlflowClient(sweep.uri)
    parent = _artifacts(client, sweep.result.sweep_run_id)
    assert parent >= PARENT_FIGURES | {"figures/finalists.png", "figures/param_importance.png", "sweep.yaml"}
    champion = _artifacts(client, _champion_run(sweep))
    # A refit-free champion is the trial's own run: LightGBM has gains of its own, logistic regression coefficients.
    assert champion >= CLASSIFIER_FIGURES | {"figures/feature_importance.png"}


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_multiclass_and_regression_sweeps_draw_their_task_s_figures(task: str, request: pytest.FixtureRequest) -> None:
    sweep: FinishedSweep = request.getfixturevalue(task)
    assert not [w for w in sweep.warnings if "could not draw" in w]
    client = MlflowClient(sweep.uri)
    assert _artifacts(client, sweep.result.sweep_run_id) >= PARENT_FIGURES
    expected = CLASSIFIER_FIGURES if task == "multiclass" else REGRESSOR_FIGURES
    champion = _artifacts(client, _champion_run(sweep))
    assert champion >= expected
    assert not champion & ({"figures/residuals.png"} if task == "multiclass" else {"figures/roc_curve.png"})


def test_the_best_so_far_curves_end_at_the_best_trial_and_every_completed_trial_is_a_point(
    binary: tuple[FinishedSweep, FinishedSweep], binary_report: tuple[FigureReport, Path]
) -> None:
    sweep = binary[1]
    report = binary_report[0]
    best = sweep.result.top(1)[0]
    completed = [t for t in sweep.result.trials if t.value is not None]
    for curve in (report.sweep.best_by_trial, report.sweep.best_by_time):
        assert curve is not None
        assert curve.best[-1] == pytest.approx(best.value)
        assert len(curve.points) == len(completed)
        assert all(b2 >= b1 for b1, b2 in zip(curve.best, curve.best[1:], strict=False))  # AUC: rising
    by_trial = report.sweep.best_by_trial
    assert by_trial is not None
    assert list(by_trial.x) == sorted(float(t.number) for t in completed)
    assert {p.family for p in by_trial.points} == {t.family for t in completed}


def test_scores_per_family_parallel_coordinates_importances_and_timeline_hold_the_trials(
    binary: tuple[FinishedSweep, FinishedSweep], binary_report: tuple[FigureReport, Path]
) -> None:
    sweep = binary[1]
    sweep_data = binary_report[0].sweep
    scores, coords, timeline = sweep_data.family_scores, sweep_data.parallel_coordinates, sweep_data.timeline
    assert scores is not None
    assert coords is not None
    assert timeline is not None
    completed = [t for t in sweep.result.trials if t.value is not None]
    assert sum(len(s) for s in scores.scores) == len(completed)
    best = sweep.result.top(1)[0]
    assert scores.families[0] == best.family  # best family first
    assert coords.family == best.family
    assert len(coords.positions) == sum(t.family == best.family for t in completed)
    assert all(0.0 <= x <= 1.0 for row in coords.positions for x in row)
    importance = sweep_data.param_importance
    assert importance is not None
    assert sum(importance.importances) == pytest.approx(1.0)
    assert list(importance.importances) == sorted(importance.importances, reverse=True)
    # Every trial on the timeline, in the slot its run records: one row per slot, never two trials computing at
    # once in one.
    assert len(timeline.bars) == len(sweep.result.trials)
    assert timeline.recorded
    assert timeline.slots == sweep.spec.search.parallelism
    assert_one_trial_computes_at_a_time_per_slot(timeline)


def test_the_finalists_figure_pairs_each_finalist_s_search_and_fresh_scores(
    binary: tuple[FinishedSweep, FinishedSweep], binary_report: tuple[FigureReport, Path]
) -> None:
    sweep = binary[1]
    finalists = binary_report[0].sweep.finalists
    assert finalists is not None
    expected = {(f.trial.number, f.trial.value, f.value) for f in sweep.result.finalists}
    assert {(p.number, p.search, p.fresh) for p in finalists.points} == expected


def test_the_gate_figure_draws_the_gate_s_own_bootstrap_and_rules(
    binary: tuple[FinishedSweep, FinishedSweep], binary_report: tuple[FigureReport, Path], tmp_path: Path
) -> None:
    sweep = binary[1]
    decision = sweep.result.champion
    assert decision is not None
    assert decision.gains is not None
    gate = binary_report[0].sweep.gate
    assert gate is not None
    # Read back from MLflow and drawn again with the gate's seed: the very resamples the gate decided on.
    assert gate.gains == pytest.approx(tuple(decision.gains))
    assert len(gate.gains or ()) == 200
    assert gate.interval == pytest.approx(decision.interval)
    assert gate.champion_version == decision.champion_version
    assert gate.min_improvement == sweep.spec.registration.min_improvement  # type: ignore[union-attr]
    assert [t.text for t in gate.thresholds] == ["accuracy >= 0.5"]
    # The first sweep had no champion to beat: its gate figure shows the scores against the thresholds instead.
    first = _redrawn(binary[0], tmp_path / "first").sweep.gate
    assert first is not None
    assert first.gains is None
    assert first.champion_version is None


def test_binary_champion_figures_count_the_test_rows_and_match_the_gate_s_score(
    binary: tuple[FinishedSweep, FinishedSweep], binary_report: tuple[FigureReport, Path]
) -> None:
    sweep = binary[1]
    champion = binary_report[0].champion
    decision = sweep.result.champion
    assert champion is not None
    assert decision is not None
    n_test = len(champion.X_test)
    assert champion.confusion is not None
    assert champion.confusion.total == n_test
    assert champion.confusion.threshold == 0.5
    assert champion.calibration is not None
    assert sum(champion.calibration.counts) == n_test
    assert champion.roc is not None
    assert len(champion.roc) == 1
    assert champion.roc[0].area == pytest.approx(decision.candidate_score)  # the gate's metric is auc_roc
    assert champion.pr is not None
    average_precision = get_metric("average_precision")(champion.scores.y, champion.scores.predictions)
    assert champion.pr[0].area == pytest.approx(average_precision)
    assert champion.metrics["test_auc_roc"] == pytest.approx(decision.candidate_score)
    run = MlflowClient(sweep.uri).get_run(champion.run_id)
    assert run.data.metrics["test_auc_roc"] == pytest.approx(decision.candidate_score)
    assert run.data.metrics["test_accuracy"] == pytest.approx(decision.threshold_scores["accuracy"])
    permutation = champion.permutation_importance
    assert permutation is not None
    assert len(permutation.names) + permutation.n_rest == champion.X_test.shape[1]
    assert len(permutation.names) <= 20
    assert list(permutation.values) == sorted(permutation.values, reverse=True)


def test_multiclass_champion_figures_have_a_curve_per_class_and_a_full_confusion_matrix(
    multiclass: FinishedSweep, tmp_path: Path
) -> None:
    champion = _redrawn(multiclass, tmp_path).champion
    assert champion is not None
    assert champion.confusion is not None
    assert champion.confusion.labels == ("setosa", "versicolor", "virginica")
    assert champion.confusion.total == len(champion.X_test)
    diagonal = sum(champion.confusion.counts[i][i] for i in range(3))
    accuracy = get_metric("accuracy")(champion.scores.y, champion.scores.predictions)
    assert diagonal / champion.confusion.total == pytest.approx(accuracy)
    assert champion.roc is not None
    assert {c.label for c in champion.roc} <= {"setosa", "versicolor", "virginica"}
    assert champion.calibration is not None
    assert sum(champion.calibration.counts) == len(champion.X_test)


def test_regression_champion_figures_hold_each_test_row_s_prediction_and_residual(
    regression: FinishedSweep, tmp_path: Path
) -> None:
    champion = _redrawn(regression, tmp_path).champion
    decision = regression.result.champion
    assert champion is not None
    assert decision is not None
    fit = champion.regression
    assert fit is not None
    assert len(fit.actual) == len(champion.X_test)
    assert np.allclose(np.asarray(fit.actual) - np.asarray(fit.predicted), fit.residuals)
    rmse = float(np.sqrt(np.mean(np.square(fit.residuals))))
    assert rmse == pytest.approx(decision.candidate_score)  # the gate's metric is rmse
    sample = pd.read_json(tmp_path / "champion" / "scored_test_rows.json", orient="split")
    assert {"actual", "predicted"} <= set(sample.columns)
    assert 0 < len(sample) <= 20


def test_the_experiment_opens_as_model_training_and_the_description_links_the_champion(
    binary: tuple[FinishedSweep, FinishedSweep],
) -> None:
    sweep = binary[1]
    client = MlflowClient(sweep.uri)
    assert client.get_experiment(sweep.result.experiment_id).tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND
    description = client.get_run(sweep.result.sweep_run_id).data.tags["mlflow.note.content"]
    decision = sweep.result.champion
    assert decision is not None
    assert f"#/models/{decision.name}/versions/{decision.version}?{WORKFLOW_QUERY}" in description
    assert f"runs/{_champion_run(sweep)}?{WORKFLOW_QUERY}" in description
    assert f"{len(sweep.result.trials)} trials" in description


def test_report_html_inlines_every_figure_and_names_the_decision(
    binary: tuple[FinishedSweep, FinishedSweep], binary_report: tuple[FigureReport, Path]
) -> None:
    sweep = binary[1]
    report, out = binary_report
    page = (out / "report.html").read_text()
    pictures = [a for a in report.parent_artifacts + report.champion_artifacts if a.endswith(".png")]
    assert page.count('src="data:image/png;base64,') == len(pictures)
    assert "Champion decision" in page
    assert sweep.result.champion is not None
    assert f"version {sweep.result.champion.version}" in page
    assert sorted(p.name for p in (out / "champion" / "figures").iterdir()) == sorted(
        Path(a).name for a in report.champion_artifacts if a.startswith("figures/")
    )


def test_figures_off_draw_nothing_and_the_report_command_draws_them_later(
    tmp_path_factory: pytest.TempPathFactory, store_template: Path, local_executor: LocalExecutor
) -> None:
    from sparksweep.cli import main
    from sparksweep.datasets import generate_churn

    folder = tmp_path_factory.mktemp("off")
    spec = sweep_spec(
        folder,
        generate_churn(400, seed=2),
        "label",
        ["sklearn.logistic_regression"],
        store_template,
        search={"n_trials": 2},
        tracking={"figures": False},
    )
    sweep = finish(spec, local_executor)
    client = MlflowClient(sweep.uri)
    run_id = sweep.result.sweep_run_id
    assert _artifacts(client, run_id) == {"sweep.yaml", "column_kinds.json"}  # the sweep's records, no figure
    assert "figures/roc_curve.png" not in _artifacts(client, _champion_run(sweep))
    out = folder / "out"
    printed = CliRunner().invoke(main, ["report", run_id, "--tracking-uri", sweep.uri, "--out", str(out)])
    assert printed.exit_code == 0, printed.output
    assert f"on the sweep's run {run_id}" in printed.output
    assert _artifacts(client, run_id) >= PARENT_FIGURES
    assert _artifacts(client, _champion_run(sweep)) >= CLASSIFIER_FIGURES
    assert (out / "report.html").exists()
    assert (out / "figures" / "timeline.png").stat().st_size > 0
    assert json.loads((out / "champion" / "scored_test_rows.json").read_text())["columns"]


def test_a_figure_that_fails_is_a_warning_naming_it_and_the_sweep_still_finishes(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    store_template: Path,
    local_executor: LocalExecutor,
) -> None:
    from sparksweep.datasets import generate_churn
    from sparksweep.figures import _draw_sweep

    def broken(data: object) -> bytes:
        raise RuntimeError("deliberately broken")

    monkeypatch.setattr(_draw_sweep, "draw_timeline", broken)
    folder = tmp_path_factory.mktemp("broken")
    frame = generate_churn(400, seed=2)
    models = ["sklearn.logistic_regression"]
    sweep = finish(sweep_spec(folder, frame, "label", models, store_template, search={"n_trials": 2}), local_executor)
    assert sweep.result.champion is not None
    assert any("figures/timeline.png" in w and "deliberately broken" in w for w in sweep.warnings)
    client = MlflowClient(sweep.uri)
    assert client.get_run(sweep.result.sweep_run_id).info.status == "FINISHED"
    parent = _artifacts(client, sweep.result.sweep_run_id)
    assert "figures/timeline.png" not in parent
    assert "figures/best_so_far_by_trial.png" in parent


def test_the_report_command_names_a_run_that_is_not_a_sweep(binary: tuple[FinishedSweep, FinishedSweep]) -> None:
    from sparksweep.cli import main

    sweep = binary[1]
    trial = sweep.result.trials[0].run_id
    printed = CliRunner().invoke(main, ["report", trial, "--tracking-uri", sweep.uri])
    assert printed.exit_code == 2
    assert "is not a sweep's parent run" in printed.output
