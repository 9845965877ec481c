"""The sweep loop: keep ``parallelism`` trials in flight, learn from each result as it arrives, record everything.

Example:
    >>> from sparksweep.config import load_spec
    >>> result = run_sweep(load_spec("examples/churn.yaml"))  # doctest: +SKIP
    >>> result.best.value  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sparksweep.data import Dataset, prepare_dataset, read_table
from sparksweep.errors import SpecError
from sparksweep.models import get_family
from sparksweep.scoring.metrics import DEFAULT_METRIC, Direction, Metric, get_metric
from sparksweep.search.algorithms import make_searcher
from sparksweep.search.champion import ChampionDecision, register_champion
from sparksweep.search.executors import BaseExecutor, LocalExecutor, SparkExecutor, get_spark
from sparksweep.search.space import SearchSpace
from sparksweep.search.tracking import SweepTracker, resolve_tracking_uri
from sparksweep.search.trial import Proposal, TrialResult, TrialState
from sparksweep.search.worker import TrialTask

if TYPE_CHECKING:
    import pandas as pd

    from sparksweep.config import SweepSpec

__all__ = ["SweepProgress", "SweepResult", "run_sweep"]


@dataclass
class SweepProgress:
    """Counts the engine keeps while a sweep runs, handed to the progress callback after each trial."""

    n_trials: int
    finished: int = 0
    failed: int = 0
    running: int = 0
    best: TrialResult | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


@dataclass(frozen=True)
class SweepResult:
    """The outcome of a sweep: its MLflow parent run, every trial, the best one and the champion decision."""

    sweep_run_id: str
    experiment_id: str
    tracking_uri: str
    task: str
    metric: str
    direction: Direction
    trials: list[TrialResult]
    best: TrialResult | None
    champion: ChampionDecision | None
    duration: float

    def top(self, n: int = 5) -> list[TrialResult]:
        """The ``n`` best completed trials, best first."""
        done = [t for t in self.trials if t.state is TrialState.COMPLETE and t.value is not None]
        reverse = self.direction is Direction.MAXIMIZE
        return sorted(done, key=lambda t: t.value or 0.0, reverse=reverse)[:n]


def _build_space(models: list[str], task: str) -> SearchSpace:
    families = {}
    for name in models:
        family = get_family(name)
        if task not in family.tasks:
            raise SpecError(
                f"model family {name!r} does not support the {task} task (it supports {sorted(family.tasks)}); "
                "remove it from 'models' or set 'task'"
            )
        families[name] = family.default_space(task)
    return SearchSpace(families)


def _resolve_metric(spec: SweepSpec, task: str) -> Metric:
    metric = get_metric(spec.metric or DEFAULT_METRIC[task])
    if task not in metric.tasks:
        raise SpecError(
            f"metric {metric.name!r} does not apply to the {task} task inferred from the target; "
            f"choose one of {sorted(m for m in _metrics_for(task))} or set 'task'"
        )
    return metric


def _metrics_for(task: str) -> list[str]:
    from sparksweep.scoring.metrics import METRICS

    return [name for name, m in METRICS.items() if task in m.tasks]


def _make_executor(spec: SweepSpec, spark: Any) -> BaseExecutor:
    if spec.search.executor == "local":
        return LocalExecutor(spec.search.parallelism)
    session = spark if spark is not None else get_spark(spec.spark.master, spec.spark.conf)
    return SparkExecutor(session, spec.search.parallelism)


def run_sweep(
    spec: SweepSpec,
    *,
    data: pd.DataFrame | None = None,
    spark: Any = None,
    executor: BaseExecutor | None = None,
    on_trial: Callable[[TrialResult, SweepProgress], None] | None = None,
) -> SweepResult:
    """Run the sweep ``spec`` describes and register its champion.

    Args:
        spec: The validated sweep spec.
        data: A pandas DataFrame to use instead of reading ``spec.data.path``.
        spark: A SparkSession to run trials on (default: the active one, or a new one on ``spec.spark.master``).
        executor: An executor to use instead of the one ``spec.search.executor`` names (it is not shut down).
        on_trial: Called in the driver after each trial with its result and the sweep's progress.

    Returns:
        The sweep's result; its trials are also in MLflow under the parent run ``sweep_run_id``.
    """
    started = time.monotonic()
    tracking_uri = resolve_tracking_uri(spec.tracking.uri)
    # The store is created in the driver before Spark starts and before any worker writes to it.
    tracker = SweepTracker(tracking_uri, spec.experiment)
    frame = data if data is not None else read_table(spec.data.path)
    dataset = prepare_dataset(frame, spec.data, spec.task)
    metric = _resolve_metric(spec, dataset.task)
    space = _build_space(spec.models, dataset.task)
    searcher = make_searcher(spec.search.algorithm, space, metric.direction, spec.search.seed)
    own_executor = executor is None
    runner = executor if executor is not None else _make_executor(spec, spark)
    tracker.start(
        run_name=f"sweep-{spec.search.algorithm}-{time.strftime('%Y%m%d-%H%M%S')}",
        params={
            "algorithm": spec.search.algorithm,
            "n_trials": spec.search.n_trials,
            "parallelism": runner.slots,
            "metric": metric.name,
            "direction": metric.direction.value,
            "task": dataset.task,
            "models": ",".join(spec.models),
            "executor": runner.name,
            "seed": spec.search.seed,
            "data_path": spec.data.path,
            "data_fingerprint": dataset.fingerprint,
            "n_rows": dataset.n_rows,
            "n_features": len(dataset.features),
        },
        spec_yaml=spec.to_yaml(),
    )
    status = "FAILED"
    try:
        trials = _loop(spec, dataset, metric, searcher, runner, tracker, on_trial)
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        if own_executor:
            runner.shutdown()
        if status != "FINISHED":
            tracker.finish(status)
    best = _best(trials, metric.direction)
    champion = None
    if best is not None:
        tracker.set_tags({"sparksweep.best_trial_run_id": best.run_id, "sparksweep.best_family": best.family})
    try:
        if spec.registration is not None and best is not None:
            champion = register_champion(
                client=tracker.client,
                tracking_uri=tracking_uri,
                registration=spec.registration,
                best=best,
                dataset=dataset,
                metric=metric,
                sweep_run_id=tracker.parent_run_id,
            )
            tracker.set_tags(
                {
                    "sparksweep.champion_run_id": best.run_id if champion.promoted else "",
                    "sparksweep.registered_version": champion.version,
                    "sparksweep.gate": "promoted" if champion.promoted else "rejected",
                    "sparksweep.gate_reason": champion.reason,
                }
            )
            tracker.log_summary({f"test_{metric.name}": champion.candidate_score})
    except BaseException:
        tracker.finish("FAILED")
        raise
    tracker.finish("FINISHED")
    return SweepResult(
        sweep_run_id=tracker.parent_run_id,
        experiment_id=tracker.experiment_id,
        tracking_uri=tracking_uri,
        task=dataset.task,
        metric=metric.name,
        direction=metric.direction,
        trials=trials,
        best=best,
        champion=champion,
        duration=time.monotonic() - started,
    )


def _value(trial: TrialResult | None) -> float | None:
    return None if trial is None else trial.value


def _best(trials: list[TrialResult], direction: Direction) -> TrialResult | None:
    best: TrialResult | None = None
    for trial in trials:
        complete = trial.state is TrialState.COMPLETE and trial.value is not None
        if complete and direction.better(trial.value or 0.0, _value(best)):
            best = trial
    return best


@dataclass
class _InFlight:
    number: int
    proposal: Proposal
    run_id: str


def _loop(
    spec: SweepSpec,
    dataset: Dataset,
    metric: Metric,
    searcher: Any,
    runner: BaseExecutor,
    tracker: SweepTracker,
    on_trial: Callable[[TrialResult, SweepProgress], None] | None,
) -> list[TrialResult]:
    handle = runner.share(dataset.training)
    progress = SweepProgress(n_trials=spec.search.n_trials)
    deadline = None if spec.search.timeout is None else progress.started + spec.search.timeout
    running: dict[Future[TrialResult], _InFlight] = {}
    results: list[TrialResult] = []
    next_number = 0
    base_seed = spec.search.seed or 0
    try:
        while True:
            out_of_time = deadline is not None and time.monotonic() >= deadline
            while len(running) < runner.slots and next_number < spec.search.n_trials and not out_of_time:
                proposal = searcher.ask()
                run_id = tracker.start_trial(next_number, proposal.family, proposal.params)
                task = TrialTask(
                    number=next_number,
                    run_id=run_id,
                    tracking_uri=tracker.tracking_uri,
                    family=get_family(proposal.family),
                    params=proposal.params,
                    task=dataset.task,
                    metric=metric.name,
                    features=dataset.features,
                    classes=dataset.classes,
                    n_jobs=runner.cores_per_trial,
                    seed=base_seed + next_number,
                    data=handle,
                    autolog=spec.tracking.autolog,
                    log_model=spec.tracking.log_models,
                )
                running[runner.submit(task)] = _InFlight(next_number, proposal, run_id)
                next_number += 1
            progress.running = len(running)
            if not running:
                break
            wait_for = None if deadline is None else max(0.0, deadline - time.monotonic())
            done, _ = wait(list(running), timeout=wait_for, return_when=FIRST_COMPLETED)
            if not done:  # the sweep's time is up: cancel what still runs, and record it as killed
                runner.cancel_all()
                done, _ = wait(list(running))
            for future in done:
                flight = running.pop(future)
                result = _collect(future, flight, tracker, killed=deadline is not None and out_of_time)
                searcher.tell(flight.proposal, result.value, result.state)
                results.append(result)
                progress.finished += 1
                progress.running = len(running)
                if result.state is TrialState.FAILED:
                    progress.failed += 1
                complete = result.state is TrialState.COMPLETE and result.value is not None
                if complete and metric.direction.better(result.value or 0.0, _value(progress.best)):
                    progress.best = result
                # Stepped by completion order (trials finish out of order), so the curve is monotone.
                tracker.log_progress(metric.name, _value(progress.best), step=progress.finished - 1)
                if on_trial is not None:
                    on_trial(result, progress)
    except BaseException:
        runner.cancel_all()
        for flight in running.values():
            tracker.fail_trial(flight.run_id, TrialState.KILLED, "the sweep stopped before this trial finished")
        raise
    return sorted(results, key=lambda r: r.number)


def _collect(future: Future[TrialResult], flight: _InFlight, tracker: SweepTracker, killed: bool) -> TrialResult:
    """The trial's result; a task that never reported back is recorded as failed (or killed, when cancelled)."""
    try:
        result = future.result()
    except Exception as exc:
        state = TrialState.KILLED if killed else TrialState.FAILED
        error = f"{type(exc).__name__}: {exc}"
        tracker.fail_trial(flight.run_id, state, error)
        return TrialResult(
            number=flight.number,
            run_id=flight.run_id,
            family=flight.proposal.family,
            params=flight.proposal.params,
            state=state,
            error=error,
        )
    if not result.recorded:  # the worker could not write the run's final state: try once more from the driver
        tracker.fail_trial(flight.run_id, result.state, result.error or "the trial's results could not be recorded")
    return result
