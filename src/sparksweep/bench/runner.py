"""Running a bench: every cell a real sweep nested under one bench run in MLflow; finished cells are not re-run."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparksweep.bench.data import load_bench_dataset
from sparksweep.bench.spec import BenchSpec, Cell
from sparksweep.data import prepare_dataset
from sparksweep.errors import SpecError
from sparksweep.metrics import DEFAULT_METRIC, Direction, get_metric
from sparksweep.spec import validate_spec
from sparksweep.tracking import TAG_KIND, TAG_PARENT, SweepTracker, resolve_tracking_uri

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["BenchResult", "CellResult", "run_bench"]

TAG_DIGEST = "sparksweep.bench_digest"
TAG_CELL = "sparksweep.bench_cell"
TEST_PREFIX = "test_"


@dataclass(frozen=True)
class CellResult:
    """A finished cell, read back from MLflow: its sweep run, scores and best-so-far curve."""

    cell: Cell
    sweep_run_id: str
    metric: str
    direction: Direction
    valid_best: float | None
    test_score: float | None
    duration: float
    curve: list[tuple[int, float, float]]
    """(trials finished, seconds since the sweep started, best validation value so far)."""


@dataclass(frozen=True)
class BenchResult:
    bench_run_id: str
    experiment_id: str
    cells: list[CellResult]
    report: Path
    skipped: int


def _metric_for(spec: BenchSpec, name: str, task: str) -> str:
    dataset = next(d for d in spec.datasets if d.name == name)
    return dataset.metric or DEFAULT_METRIC[task]


def _find_bench_run(client: MlflowClient, experiment_id: str, spec: BenchSpec, resume: str | None) -> str | None:
    if resume is not None:
        run = client.get_run(resume)
        if run.data.tags.get(TAG_KIND) != "bench":
            raise SpecError(f"run {resume} is not a sparksweep bench run; give the run id of a bench to resume")
        if run.data.tags.get(TAG_DIGEST) != spec.digest():
            raise SpecError(
                f"bench run {resume} was started from a different bench file (data sets, algorithms, model sets, "
                "budget, repeats or tracking changed); run it as a new bench instead of resuming"
            )
        return resume
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{TAG_KIND}` = 'bench' and tags.`{TAG_DIGEST}` = '{spec.digest()}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if runs and runs[0].info.status != "FINISHED":
        return str(runs[0].info.run_id)
    return None


def _finished_cells(client: MlflowClient, experiment_id: str, bench_run_id: str) -> dict[str, Any]:
    """Cells whose sweep finished and was scored; sweeps a dead bench left running are marked killed."""
    done: dict[str, Any] = {}
    children = client.search_runs([experiment_id], filter_string=f"tags.`{TAG_PARENT}` = '{bench_run_id}'")
    for run in children:
        key = run.data.tags.get(TAG_CELL)
        if key is None:
            continue
        scored = any(k.startswith(TEST_PREFIX) for k in run.data.metrics)
        if run.info.status == "FINISHED" and scored:
            done[key] = run
        elif run.info.status == "RUNNING":
            client.set_terminated(run.info.run_id, status="KILLED")
    return done


def _read_cell(client: MlflowClient, cell: Cell, run: Any) -> CellResult:
    metric = run.data.params["metric"]
    direction = Direction(run.data.params["direction"])
    history = sorted(client.get_metric_history(run.info.run_id, f"best_{metric}"), key=lambda m: m.step)
    start = run.info.start_time
    curve = [(m.step + 1, max(0.0, (m.timestamp - start) / 1000.0), m.value) for m in history]
    end = run.info.end_time or (history[-1].timestamp if history else start)
    return CellResult(
        cell=cell,
        sweep_run_id=run.info.run_id,
        metric=metric,
        direction=direction,
        valid_best=curve[-1][2] if curve else None,
        test_score=run.data.metrics.get(f"{TEST_PREFIX}{metric}"),
        duration=(end - start) / 1000.0,
        curve=curve,
    )


def run_bench(
    spec: BenchSpec,
    *,
    spark: Any = None,
    resume: str | None = None,
    output: str | Path | None = None,
    on_cell: Callable[[CellResult, int, int], None] | None = None,
) -> BenchResult:
    """Run every cell of ``spec`` not finished yet, then write and log the report.

    An interrupted bench resumes on its own: running the same bench file again continues the latest unfinished bench
    run with the same digest (or pass ``resume=<bench run id>``); cells whose sweep finished are not re-run.
    """
    from mlflow.entities import Metric

    from sparksweep.bench.report import write_report
    from sparksweep.registry import evaluate_model
    from sparksweep.scoring.batch import load_model
    from sparksweep.sweep import run_sweep

    uri = resolve_tracking_uri(spec.tracking_uri)
    tracker = SweepTracker(uri, spec.experiment)
    client, experiment_id = tracker.client, tracker.experiment_id
    bench_run_id = _find_bench_run(client, experiment_id, spec, resume)
    if bench_run_id is None:
        run = client.create_run(
            experiment_id,
            run_name=f"bench-{time.strftime('%Y%m%d-%H%M%S')}",
            tags={TAG_KIND: "bench", TAG_DIGEST: spec.digest()},
        )
        bench_run_id = run.info.run_id
        client.log_text(bench_run_id, spec.model_dump_json(indent=2), "bench.json")
    else:
        client.update_run(bench_run_id, status="RUNNING")
    done = _finished_cells(client, experiment_id, bench_run_id)
    cells = spec.cells()
    results: list[CellResult] = []
    skipped = 0
    try:
        for dataset in spec.datasets:
            frame, data_spec = load_bench_dataset(dataset)
            prepared = prepare_dataset(frame, data_spec, dataset.task)
            metric = get_metric(_metric_for(spec, dataset.name, prepared.task))
            for cell in (c for c in cells if c.dataset == dataset.name):
                if cell.key in done:
                    results.append(_read_cell(client, cell, done[cell.key]))
                    skipped += 1
                    continue
                sweep = validate_spec(
                    {
                        "experiment": spec.experiment,
                        "data": data_spec.model_dump(),
                        "task": prepared.task,
                        "metric": metric.name,
                        "search": {
                            "algorithm": cell.algorithm,
                            "n_trials": spec.budget.n_trials or 1_000_000,
                            "timeout": spec.budget.seconds,
                            "seed": cell.seed,
                            "parallelism": spec.parallelism,
                        },
                        "models": spec.model_sets[cell.model_set],
                        "tracking": {"uri": uri},
                    },
                    source=f"bench cell {cell.key}",
                )
                outcome = run_sweep(
                    sweep,
                    data=frame,
                    spark=spark,
                    run_tags={TAG_PARENT: bench_run_id, TAG_CELL: cell.key, "mlflow.runName": cell.key},
                )
                score = float("nan")
                if outcome.best is not None and outcome.best.model_uri is not None:
                    score = evaluate_model(load_model(outcome.best.model_uri, uri), prepared, metric)
                client.log_batch(
                    outcome.sweep_run_id,
                    metrics=[Metric(f"{TEST_PREFIX}{metric.name}", score, int(time.time() * 1000), 0)],
                )
                result = _read_cell(client, cell, client.get_run(outcome.sweep_run_id))
                results.append(result)
                if on_cell is not None:
                    on_cell(result, len(results), len(cells))
    except BaseException:
        client.set_terminated(bench_run_id, status="KILLED")
        raise
    report = write_report(spec, results, Path(output or spec.output))
    for path in sorted(report.parent.iterdir()):
        client.log_artifact(bench_run_id, str(path), "report")
    client.set_terminated(bench_run_id, status="FINISHED")
    return BenchResult(bench_run_id, experiment_id, results, report, skipped)
