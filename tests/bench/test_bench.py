"""Benches: real sweeps per cell nested under one bench run, a report, and resumption after an interruption."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from mlflow import MlflowClient

from sparksweep.bench import BenchSpec, load_bench, run_bench
from sparksweep.bench.runner import TAG_CELL
from sparksweep.cli import main
from sparksweep.errors import SpecError

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def _bench(tmp_path: Path, tracking_uri: str) -> Path:
    raw = {
        "experiment": "bench-test",
        "datasets": [{"name": "breast_cancer"}, {"name": "diabetes"}],
        "algorithms": ["optuna.random", "hyperopt.rand"],
        "model_sets": {"boost": ["lightgbm"]},
        "budget": {"n_trials": 2},
        "repeats": 1,
        "parallelism": 2,
        "tracking_uri": tracking_uri,
        "output": str(tmp_path / "report"),
    }
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


class _StopError(Exception):
    pass


def test_bench_runs_nested_sweeps_writes_a_report_and_resumes(spark: Any, tmp_path: Path, tracking_uri: str) -> None:
    spec = load_bench(_bench(tmp_path, tracking_uri))
    assert len(spec.cells()) == 4

    def stop_after_two(_: Any, done: int, total: int) -> None:
        if done == 2:
            raise _StopError

    with pytest.raises(_StopError):
        run_bench(spec, spark=spark, on_cell=stop_after_two)
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("bench-test")
    assert experiment is not None
    benches = client.search_runs([experiment.experiment_id], filter_string="tags.`sparksweep.kind` = 'bench'")
    assert [b.info.status for b in benches] == ["KILLED"]

    result = CliRunner().invoke(main, ["bench", str(tmp_path / "bench.yaml")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "2 cell(s) had finished in an earlier run" in result.output

    benches = client.search_runs([experiment.experiment_id], filter_string="tags.`sparksweep.kind` = 'bench'")
    assert len(benches) == 1, "the interrupted bench was resumed, not started again"
    bench_id = benches[0].info.run_id
    assert benches[0].info.status == "FINISHED"
    sweeps = client.search_runs([experiment.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{bench_id}'")
    assert sorted(s.data.tags[TAG_CELL] for s in sweeps) == sorted(c.key for c in spec.cells())
    for sweep in sweeps:
        assert sweep.info.status == "FINISHED"
        metric = sweep.data.params["metric"]
        assert f"test_{metric}" in sweep.data.metrics
        trials = client.search_runs(
            [experiment.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{sweep.info.run_id}'"
        )
        assert len(trials) == 2

    report = (tmp_path / "report" / "report.md").read_text()
    assert "| breast_cancer | auc_roc | boost |" in report
    assert "| diabetes | rmse | boost |" in report
    assert "Average rank" in report
    assert "Wilcoxon" in report
    for png in ("curves_trials.png", "curves_time.png"):
        assert (tmp_path / "report" / png).stat().st_size > 5000
    logged = {a.path for a in client.list_artifacts(bench_id, "report")}
    assert {"report/report.md", "report/curves_trials.png", "report/results.csv"} <= logged


def test_bench_file_errors(tmp_path: Path) -> None:
    base = {
        "experiment": "b",
        "datasets": [{"name": "iris"}],
        "algorithms": ["optuna.tpe"],
        "model_sets": {"s": ["lightgbm"]},
        "budget": {"n_trials": 2},
    }
    BenchSpec.model_validate(base)
    bad = [
        ({"datasets": [{"name": "mnist"}]}, "is not bundled"),
        ({"datasets": [{"name": "x", "path": "x.csv"}]}, "no target"),
        ({"algorithms": ["grid"]}, "unknown algorithms"),
        ({"model_sets": {"s": ["catboost"]}}, "unknown model family"),
        ({"budget": {}}, "budget.n_trials, budget.seconds"),
        ({"colour": 1}, "unknown key"),
    ]
    for change, words in bad:
        path = tmp_path / "b.yaml"
        path.write_text(yaml.safe_dump({**base, **change}))
        with pytest.raises(SpecError, match=words):
            load_bench(path)


def test_ranks_and_paired_tests_on_known_scores() -> None:
    from sparksweep.bench.report import average_ranks, paired_tests
    from sparksweep.bench.runner import CellResult
    from sparksweep.bench.spec import Cell
    from sparksweep.metrics import Direction

    def cell(algo: str, seed: int, score: float, dataset: str = "d", direction: str = "maximize") -> CellResult:
        return CellResult(Cell(dataset, algo, "s", seed), "r", "m", Direction(direction), score, score, 1.0, [])

    results = [cell("a", s, 0.9 + s / 100) for s in range(6)] + [cell("b", s, 0.8 + s / 100) for s in range(6)]
    results += [cell("a", 0, 5.0, "reg", "minimize"), cell("b", 0, 7.0, "reg", "minimize")]
    ranks = average_ranks(results)
    assert ranks["d"] == {"a": 1.0, "b": 2.0}
    assert ranks["reg"] == {"a": 1.0, "b": 2.0}, "for a minimized metric the smaller score ranks first"
    n, diff, p = paired_tests(results, "a")["b"]
    assert n == 7
    assert 0.09 < diff < 0.12, "median relative difference in favour of a"
    assert p < 0.05
