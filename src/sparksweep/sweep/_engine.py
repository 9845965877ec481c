"""The sweep loop: keep ``parallelism`` trials in flight, learn from each result as it arrives, record everything.

A sweep stops when its budget is spent: ``n_trials`` finished trials, the wall-clock ``timeout``, ``patience``
trials in a row without a better value, or the ``target`` value reached. Trials still running then are cancelled
through their Spark job group and recorded as killed. A sweep whose driver died continues with :func:`resume_sweep`
from what MLflow holds.

Example:
    >>> from sparksweep.spec import load_spec
    >>> result = run_sweep(load_spec("examples/churn.yaml"))  # doctest: +SKIP
    >>> result.best.value  # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import yaml

from sparksweep._spark import get_spark
from sparksweep.data import Dataset, load_table, prepare_dataset
from sparksweep.errors import DataError, SpecError, TrialLostError
from sparksweep.executors import BaseExecutor, LocalExecutor, SparkExecutor, SparkPoolExecutor
from sparksweep.metrics import DEFAULT_METRIC, Direction, Metric, get_metric
from sparksweep.models import get_family
from sparksweep.pruning import PruningLedger
from sparksweep.registry import ChampionDecision
from sparksweep.search import BaseSearcher, make_searcher
from sparksweep.space import Categorical, Distribution, Float, Int, SearchSpace
from sparksweep.spec import DEFAULT_TRACKING_URI, check_unity_catalog, validate_spec
from sparksweep.sweep._background import ExecutorShutdown, ExecutorStartup
from sparksweep.sweep._conclude import conclude
from sparksweep.sweep._ensemble import Ensemble, select_ensemble
from sparksweep.sweep._finalists import (
    FINALISTS_SHARE,
    RESCORE_SEED_OFFSET,
    Finalist,
    affordable,
    choose_finalist,
    finalist_time,
    pick_finalists,
)
from sparksweep.sweep._starting import default_point
from sparksweep.tracking import (
    ELAPSED_METRIC,
    TAG_DATA_PATH,
    TAG_STOP_REASON,
    RecordedTrial,
    SweepTracker,
    TrialRunSpec,
    prepare_store,
    read_spec_yaml,
    read_sweep_run,
    read_trials,
    registry_uri,
    resolve_tracking_uri,
)
from sparksweep.trial import PastTrial, Proposal, TrialResult, TrialState
from sparksweep.worker import DataHandle, TrialTask

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame as SparkDataFrame

    from sparksweep.spec import ParamSpec, SearchSpec, SweepSpec

__all__ = ["SweepProgress", "SweepResult", "build_space", "resume_sweep", "run_sweep"]


@dataclass
class SweepProgress:
    """Counts the engine keeps while a sweep runs, handed to the progress callback after each trial."""

    n_trials: int
    finished: int = 0
    failed: int = 0
    pruned: int = 0
    killed: int = 0
    running: int = 0
    best: TrialResult | None = None
    started: float = field(default_factory=time.monotonic)
    timeout: float | None = None
    since_best: int = 0
    """Finished trials in a row without a better value (what ``patience`` counts)."""

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def remaining_time(self) -> float | None:
        return None if self.timeout is None else max(0.0, self.timeout - self.elapsed)


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
    stop_reason: str = "n_trials"
    """Why the sweep stopped: ``n_trials``, ``timeout``, ``patience`` or ``target``."""
    finalists: list[Finalist] = field(default_factory=list)
    """The trials scored again on fresh folds (``search.finalists``); ``best`` is the one best there."""
    ensemble: Ensemble | None = None
    """The finalists' best weighted average (``search.ensemble``); the champion when :attr:`Ensemble.chosen`."""

    def top(self, n: int = 5) -> list[TrialResult]:
        """The ``n`` best completed trials, best first."""
        done = [t for t in self.trials if t.state is TrialState.COMPLETE and t.value is not None]
        reverse = self.direction is Direction.MAXIMIZE
        return sorted(done, key=lambda t: t.value or 0.0, reverse=reverse)[:n]


def _distribution(spec: ParamSpec) -> Distribution:
    if spec.type == "categorical":
        return Categorical(tuple(spec.choices or ()))
    if spec.type == "int":
        return Int(int(spec.low or 0), int(spec.high or 0), log=spec.log)
    return Float(float(spec.low or 0.0), float(spec.high or 0.0), log=spec.log)


def build_space(models: list[str], task: str, overrides: dict[str, dict[str, ParamSpec]] | None = None) -> SearchSpace:
    """The families' default spaces for ``task``, with a sweep file's ``search.space`` overrides applied."""
    families = {}
    for name in models:
        family = get_family(name)
        if task not in family.tasks:
            raise SpecError(
                f"model family {name!r} does not support the {task} task (it supports {sorted(family.tasks)}); "
                "remove it from 'models' or set 'task'"
            )
        families[name] = family.default_space(task)
    space = SearchSpace(families)
    if overrides:
        space = space.with_overrides(
            {fam: {p: _distribution(d) for p, d in params.items()} for fam, params in overrides.items()}
        )
    return space


def _resolve_metric(spec: SweepSpec, task: str) -> Metric:
    metric = get_metric(spec.metric or DEFAULT_METRIC[task])
    if task not in metric.tasks:
        raise SpecError(
            f"metric {metric.name!r} does not apply to the {task} task inferred from the target; "
            f"choose one of {sorted(m for m in _metrics_for(task))} or set 'task'"
        )
    return metric


def _metrics_for(task: str) -> list[str]:
    from sparksweep.metrics import METRICS

    return [name for name, m in METRICS.items() if task in m.tasks]


_BACKGROUND_START = True
"""Start Spark and the executor in a background thread during the sweep's set-up (False: one step after another,
as before; the first-trial benchmark compares the two)."""


def _session(spec: SweepSpec, spark: Any) -> Any:
    """The SparkSession the sweep's executor runs on (None for the local executor)."""
    if spark is not None or spec.search.executor == "local":
        return spark
    return get_spark(spec.spark.master, spec.spark.conf)


def _make_executor(spec: SweepSpec, spark: Any) -> BaseExecutor:
    if spec.search.executor == "local":
        return LocalExecutor(spec.search.parallelism)
    session = spark if spark is not None else get_spark(spec.spark.master, spec.spark.conf)
    if spec.search.executor == "spark-pool":
        return SparkPoolExecutor(session, spec.search.parallelism)
    return SparkExecutor(session, spec.search.parallelism)


@dataclass(frozen=True)
class _Resume:
    """What an earlier run of the same sweep left in MLflow."""

    parent_run_id: str
    trials: list[RecordedTrial]
    elapsed: float


def run_sweep(
    spec: SweepSpec,
    *,
    data: pd.DataFrame | SparkDataFrame | None = None,
    spark: Any = None,
    executor: BaseExecutor | None = None,
    on_trial: Callable[[TrialResult, SweepProgress], None] | None = None,
    run_tags: dict[str, str] | None = None,
) -> SweepResult:
    """Run the sweep ``spec`` describes and register its champion.

    Args:
        spec: The validated sweep spec.
        data: A pandas or Spark DataFrame to use instead of reading ``spec.data.path`` or ``spec.data.table``.
        spark: A SparkSession to run trials on (default: the active one, or a new one on ``spec.spark.master``).
        executor: An executor to use instead of the one ``spec.search.executor`` names (it is not shut down).
        on_trial: Called in the driver after each trial with its result and the sweep's progress.
        run_tags: Extra tags for the sweep's parent run (``mlflow.parentRunId`` nests it under another run).

    Returns:
        The sweep's result; its trials are also in MLflow under the parent run ``sweep_run_id``.
    """
    return _sweep(spec, data=data, spark=spark, executor=executor, on_trial=on_trial, resume=None, run_tags=run_tags)


def resume_sweep(
    parent_run_id: str,
    *,
    tracking_uri: str | None = None,
    registry_uri: str | None = None,
    data: pd.DataFrame | SparkDataFrame | None = None,
    spark: Any = None,
    executor: BaseExecutor | None = None,
    on_trial: Callable[[TrialResult, SweepProgress], None] | None = None,
) -> SweepResult:
    """Continue a sweep whose driver died, from what MLflow holds (MLflow is the only store needed).

    The sweep file is read from the parent run, its finished trials are told to a new search algorithm, child runs
    the dead driver left RUNNING are marked KILLED, numbering continues after the highest trial number, and the
    budget counts what was already done (finished trials towards ``n_trials``, time towards ``timeout``).

    Args:
        parent_run_id: The sweep's parent run id (printed when it started; tag ``sparksweep.kind=sweep``).
        tracking_uri: The store the sweep recorded into (default: ``MLFLOW_TRACKING_URI``, else
            ``sqlite:///mlflow.db``).
        registry_uri: The registry to register the champion in, instead of the sweep file's
            ``tracking.registry_uri`` (see :func:`sparksweep.tracking.registry_uri`).
        data: The sweep's data as a DataFrame, instead of reading the path it recorded.
        spark: A SparkSession to run trials on.
        executor: An executor to use instead of the one the sweep file names.
        on_trial: Called in the driver after each new trial.

    Example:
        >>> result = resume_sweep("3f2a...", tracking_uri="sqlite:///mlflow.db")  # doctest: +SKIP
    """
    uri = resolve_tracking_uri(tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI)
    client = prepare_store(uri)
    parent = read_sweep_run(client, parent_run_id)
    raw = yaml.safe_load(read_spec_yaml(client, parent_run_id))
    spec = validate_spec(raw, source=f"the sweep file recorded on run {parent_run_id}").with_overrides(
        **{"tracking.uri": uri, "tracking.registry_uri": registry_uri}
    )
    if data is None and spec.data.path is not None and not Path(spec.data.path).exists():
        recorded = parent.data.tags.get(TAG_DATA_PATH)
        if recorded and Path(recorded).exists():
            spec = spec.with_overrides(**{"data.path": recorded})
    metric = parent.data.params.get("metric") or spec.metric or ""
    curves = spec.search.pruner != "none"  # the pruner's evidence: the finished trials' per-round scores
    trials = read_trials(client, parent.info.experiment_id, parent_run_id, metric, curves=curves)
    # The time the sweep ran before (logged with each finished trial), not the wall clock since it started.
    elapsed = float(parent.data.metrics.get(ELAPSED_METRIC, 0.0))
    resume = _Resume(parent_run_id, trials, elapsed)
    return _sweep(spec, data=data, spark=spark, executor=executor, on_trial=on_trial, resume=resume)


def _check_fingerprint(recorded: str | None, dataset: Dataset, run_id: str) -> None:
    if recorded and recorded != dataset.fingerprint:
        raise DataError(
            f"the data differs from what sweep {run_id} was run on (fingerprint {dataset.fingerprint} vs recorded "
            f"{recorded}); resume with the same data, or start a new sweep (warm_start: {run_id} reuses its trials)"
        )


def _warm_trials(tracker: SweepTracker, run_id: str, space: SearchSpace, metric: Metric) -> list[PastTrial]:
    """The finished trials of the earlier sweep ``run_id``, checked against this sweep's space and metric."""
    parent = read_sweep_run(tracker.client, run_id)
    their_metric = parent.data.params.get("metric")
    if their_metric != metric.name:
        raise SpecError(
            f"search.warm_start: sweep {run_id} optimized {their_metric!r}, this one optimizes {metric.name!r}; "
            "warm-start from a sweep with the same metric"
        )
    recorded = read_trials(tracker.client, parent.info.experiment_id, run_id, metric.name)
    past = []
    for trial in recorded:
        if trial.state in (TrialState.RUNNING, TrialState.KILLED) or not trial.described:
            continue
        try:
            past.append(trial.to_past(space))
        except SpecError as exc:
            raise SpecError(
                f"search.warm_start: trial {trial.number} of sweep {run_id} does not fit this sweep's space: {exc}. "
                "Warm-start from a sweep over the same families and ranges (or widen search.space)"
            ) from None
    return past


def _sweep(
    spec: SweepSpec,
    *,
    data: pd.DataFrame | SparkDataFrame | None,
    spark: Any,
    executor: BaseExecutor | None,
    on_trial: Callable[[TrialResult, SweepProgress], None] | None,
    resume: _Resume | None,
    run_tags: dict[str, str] | None = None,
) -> SweepResult:
    started = time.monotonic()  # the sweep's clock: search.timeout counts its set-up too
    tracking_uri = resolve_tracking_uri(spec.tracking.uri)
    registry = registry_uri(spec.tracking.registry_uri, tracking_uri)
    if spec.registration is not None:  # a name the registry refuses is refused before any trial
        check_unity_catalog(spec.registration.name, spec.registration.stage, registry)
    # Spark (the JVM, the session, the executors' check) starts in the background while the store opens, the data
    # loads and the search algorithm is built; none of those needs it (unless the data is a Spark table).
    startup: ExecutorStartup | None = None
    if executor is None:
        startup = ExecutorStartup(
            lambda: _session(spec, spark), lambda session: _make_executor(spec, session), background=_BACKGROUND_START
        )
    try:
        # The store is created in the driver before any worker writes to it.
        tracker = SweepTracker(tracking_uri, spec.experiment)
        if data is None and spec.data.table is not None and spark is None and spec.search.executor != "local":
            # the session that reads the table runs the trials
            spark = startup.session() if startup is not None else get_spark(spec.spark.master, spec.spark.conf)
        frame = load_table(spec.data, data, spark)
        dataset = prepare_dataset(frame, spec.data, spec.task)
        metric = _resolve_metric(spec, dataset.task)
        space = build_space(spec.models, dataset.task, spec.search.space)
        for name in spec.models:  # data a family cannot fit is refused before any trial runs
            get_family(name).check_data(dataset.training)
        # Starting from each family's defaults, TPE models those trials at once rather than after 10 random ones
        # (as FLAML searches on from its starting points): under a tight budget the random start was most of it.
        defaults = resume is None and spec.search.warm_start is None and spec.search.start_from_defaults
        searcher = make_searcher(
            spec.search.algorithm,
            space,
            metric.direction,
            spec.search.seed,
            startup=len(spec.models) if defaults else None,
        )
        past: list[RecordedTrial] = []
        if resume is not None:
            parent = read_sweep_run(tracker.client, resume.parent_run_id)
            _check_fingerprint(parent.data.params.get("data_fingerprint"), dataset, resume.parent_run_id)
            past = resume.trials
        elif spec.search.warm_start is not None:
            searcher.add_past(_warm_trials(tracker, spec.search.warm_start, space, metric))
        elif spec.search.start_from_defaults:
            for name in spec.models:
                searcher.enqueue(name, default_point(get_family(name), dataset.task, space.families[name]))
        runner = startup.executor() if startup is not None else cast(BaseExecutor, executor)
    except BaseException as exc:
        if startup is not None:
            startup.abandon(exc)
        raise
    own_executor = executor is None
    try:
        if spec.search.trial_timeout is not None and not runner.can_cancel_running:
            raise SpecError(
                f"search.trial_timeout needs an executor that can stop a running trial; the {runner.name!r} "
                "executor cannot. Use search.executor: spark-pool or spark, or remove trial_timeout"
            )
        # The workers start (and load the data) while the parent run is created.
        handle = runner.share(dataset.training)
        runner.prepare(tracking_uri)
        if resume is not None:
            tracker.attach(resume.parent_run_id)
            for trial in past:
                if trial.state is TrialState.RUNNING:
                    why = "the sweep's driver stopped during this trial"
                    tracker.fail_trial(trial.run_id, TrialState.KILLED, why, lost=True)
            past = [_killed_if_running(t) for t in past]
            if spec.search.warm_start is not None:
                searcher.add_past(_warm_trials(tracker, spec.search.warm_start, space, metric))
            searcher.add_past([t.to_past(space) for t in past if t.described])
        else:
            tracker.start(
                run_name=f"sweep-{spec.search.algorithm}-{time.strftime('%Y%m%d-%H%M%S')}",
                params=_sweep_params(spec, runner, metric, dataset),
                spec_yaml=spec.to_yaml(),
                tags=run_tags,
            )
            if data is None and spec.data.path is not None:
                tracker.set_tags({TAG_DATA_PATH: str(Path(spec.data.path).resolve())})
    except BaseException:
        if own_executor:
            runner.shutdown()
        raise
    earlier = [t.to_result(space) for t in past]
    status = "FAILED"
    stopping: ExecutorShutdown | None = None
    try:
        make_task = _model_task_factory(spec, dataset, metric, runner, tracking_uri)
        loop = _Loop(
            spec=spec.search,
            metric=metric,
            searcher=searcher,
            runner=runner,
            tracker=tracker,
            on_trial=on_trial,
            make_task=make_task,
            data=handle,
            rescore=_rescore_factory(make_task, spec.search.seed or 0, spec.search.ensemble),
            earlier=earlier,
            lost={t.number for t in past if t.lost},
            elapsed_before=0.0 if resume is None else resume.elapsed,
            started=started,
        )
        trials, stop_reason = loop.run()
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        if own_executor:
            if status == "FINISHED":  # released while the champion is refitted and registered
                stopping = ExecutorShutdown(runner)
            else:
                runner.shutdown()
        if status != "FINISHED":
            tracker.finish(status)
    champion = None
    finalists = loop.finalists()
    chosen = choose_finalist(finalists, metric.direction)
    best = chosen.trial if chosen is not None else _best(trials, metric.direction)
    ensemble: Ensemble | None = None
    try:
        if spec.search.ensemble:
            ensemble = _ensemble(finalists, dataset, metric)
        tracker.set_tags({TAG_STOP_REASON: stop_reason})
        if best is not None:
            tags = {"sparksweep.best_trial_run_id": best.run_id, "sparksweep.best_family": best.family}
            if finalists:
                tags["sparksweep.finalists"] = _finalists_text(finalists, chosen)
            if ensemble is not None:
                head = "chosen" if ensemble.chosen else "not chosen"
                tags["sparksweep.ensemble"] = (
                    f"{head}: {ensemble.describe()}; {metric.name} {ensemble.score:.6g} on the finalists' folds, "
                    f"best single {ensemble.single_score:.6g}"
                )
            tracker.set_tags(tags)
        if spec.registration is not None and best is not None:
            champion = conclude(
                client=tracker.client,
                tracking_uri=tracking_uri,
                registry_uri=registry,
                registration=spec.registration,
                best=best,
                dataset=dataset,
                metric=metric,
                sweep_run_id=tracker.parent_run_id,
                ensemble=ensemble.members if ensemble is not None and ensemble.chosen else None,
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
        if stopping is not None:
            waiting: ExecutorShutdown = stopping
            stopping = None  # waited for here; an error it raises must not be waited for again below
            waiting.wait()
    except BaseException as exc:
        if stopping is not None:
            stopping.wait(exc)
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
        stop_reason=stop_reason,
        finalists=finalists,
        ensemble=ensemble,
    )


def _ensemble(finalists: list[Finalist], dataset: Dataset, metric: Metric) -> Ensemble | None:
    """The finalists' best weighted average on their out-of-fold predictions (the rows in the order CV concatenates
    them: the training rows, then the validation rows); its members are the finalists' trials."""
    import numpy as np

    scored = [replace(f.trial, predictions=f.rescored.predictions) for f in finalists if f.value is not None]
    y = np.concatenate([np.asarray(dataset.training.y_train), np.asarray(dataset.training.y_valid)])
    return select_ensemble(scored, y, metric)


def _finalists_text(finalists: list[Finalist], chosen: Finalist | None) -> str:
    """The parent run's record of the finalists: each trial with its search score and its fresh-fold score."""
    parts = [
        f"trial {f.trial.number} {f.trial.family} {f.trial.value:.6g} -> "
        + ("not scored" if f.value is None else f"{f.value:.6g}")
        for f in finalists
    ]
    head = "none scored on fresh folds" if chosen is None else f"chose trial {chosen.trial.number}"
    return f"{head}: " + "; ".join(parts)


def _killed_if_running(trial: RecordedTrial) -> RecordedTrial:
    if trial.state is not TrialState.RUNNING:
        return trial
    return replace(trial, state=TrialState.KILLED, error="the sweep's driver stopped during this trial")


def _sweep_params(spec: SweepSpec, runner: BaseExecutor, metric: Metric, dataset: Dataset) -> dict[str, Any]:
    return {
        "algorithm": spec.search.algorithm,
        "n_trials": spec.search.n_trials,
        "parallelism": runner.slots,
        "metric": metric.name,
        "direction": metric.direction.value,
        "task": dataset.task,
        "models": ",".join(spec.models),
        "executor": runner.name,
        "seed": spec.search.seed,
        "pruner": spec.search.pruner,
        "cv": spec.search.cv,
        "cv_racing": spec.search.cv_racing,
        "finalists": spec.search.finalists,
        "ensemble": spec.search.ensemble,
        "warm_start": spec.search.warm_start,
        "start_from_defaults": spec.search.start_from_defaults,
        "data_path": spec.data.source,
        "data_fingerprint": dataset.fingerprint,
        "n_rows": dataset.n_rows,
        "n_features": len(dataset.features),
    }


_TaskFactory = Callable[[int, TrialRunSpec, Proposal, Any, Any], Any]
"""(number, its child run to create, proposal, data handle, pruning context) -> the task an executor runs."""


def _model_task_factory(
    spec: SweepSpec, dataset: Dataset, metric: Metric, runner: BaseExecutor, tracking_uri: str
) -> _TaskFactory:
    base_seed = spec.search.seed or 0

    def make(number: int, child: TrialRunSpec, proposal: Proposal, handle: Any, pruning: Any) -> TrialTask:
        return TrialTask(
            number=number,
            run_id="",  # the worker creates it from `child`
            child=child,
            tracking_uri=tracking_uri,
            family=get_family(proposal.family),
            params=proposal.params,
            task=dataset.task,
            metric=spec.metric or metric.name,  # an import path is resolved again in the worker
            features=dataset.features,
            classes=dataset.classes,
            n_jobs=runner.cores_per_trial,
            seed=base_seed + number,
            data=handle,
            autolog=spec.tracking.autolog,
            log_model=spec.tracking.log_models,
            pruning=pruning,
            cv=spec.search.cv,
            cv_seed=base_seed,  # the same folds for every trial: their fold scores pair up (cv_racing compares them)
        )

    return make


_RescoreFactory = Callable[[TrialResult, TrialRunSpec, Any], Any]
"""(a finished trial, its re-scoring child run to create, data handle) -> the task scoring it on fresh folds."""


def _rescore_factory(make: _TaskFactory, seed: int, predictions: bool = False) -> _RescoreFactory:
    """Tasks scoring a finished trial again: its family, params and model seed, folds drawn with another seed, no
    race (every fold is scored); with ``predictions``, handing back their out-of-fold predictions (an ensemble's)."""

    def rescore(trial: TrialResult, child: TrialRunSpec, handle: Any) -> Any:
        task = make(trial.number, child, Proposal(trial.family, trial.params), handle, None)
        return replace(task, cv_seed=seed + RESCORE_SEED_OFFSET, race=None, keep_predictions=predictions)

    return rescore


def _value(trial: TrialResult | None) -> float | None:
    return None if trial is None else trial.value


def _best(trials: Sequence[TrialResult], direction: Direction) -> TrialResult | None:
    best: TrialResult | None = None
    for trial in trials:
        complete = trial.state is TrialState.COMPLETE and trial.value is not None
        if complete and direction.better(trial.value or 0.0, _value(best)):
            best = trial
    return best


_STOP_GRACE = 1.0
"""Seconds the trials cancelled by a stopping rule (timeout, target, patience) get to report back; those that have
not by then are recorded as killed without waiting for their tasks to end (a cancelled Spark task's Python worker
takes 2-4 s to be killed), so a sweep stops on time. Executors that cannot cancel a running trial are waited for."""


@dataclass
class _InFlight:
    number: int
    proposal: Proposal
    started: float = field(default_factory=time.monotonic)
    killed: str | None = None
    """Why the engine cancelled this trial (sweep timeout, trial_timeout, target, patience), if it did."""
    computed: Future[Any] | None = None
    """Resolves when the trial's slot is free again, before its results are recorded (None: with its result)."""
    rescore_of: TrialResult | None = None
    """The finished trial this task scores again on fresh folds (a finalist); None: a trial of the search."""

    @property
    def computing(self) -> bool:
        return self.computed is None or not self.computed.done()


class _Loop:
    """One sweep's dispatch loop: budgets, stopping rules, cancellation, pruning evidence, progress."""

    def __init__(
        self,
        *,
        spec: SearchSpec,
        metric: Metric,
        searcher: BaseSearcher,
        runner: BaseExecutor,
        tracker: SweepTracker,
        on_trial: Callable[[TrialResult, SweepProgress], None] | None,
        make_task: _TaskFactory,
        data: DataHandle | None,
        earlier: list[TrialResult],
        lost: set[int] | None = None,
        elapsed_before: float = 0.0,
        started: float | None = None,
        rescore: _RescoreFactory | None = None,
    ) -> None:
        """``started``: when the sweep's clock started (``time.monotonic()``; default: now), which ``timeout``
        counts from; ``elapsed_before``: seconds an earlier run of the same sweep already spent; ``rescore``: makes
        the tasks that score finalists again (``spec.finalists``; None: a sweep without finalists)."""
        self.spec = spec
        self.metric = metric
        self.searcher = searcher
        self.runner = runner
        self.tracker = tracker
        self.on_trial = on_trial
        self.make_task = make_task
        self.data = data
        """The handle of the training data the runner shares with its workers (None: a user objective)."""
        self.results: list[TrialResult] = list(earlier)
        self.ledger = None if spec.pruner == "none" else PruningLedger(spec.pruner, metric.direction)
        self.progress = SweepProgress(n_trials=spec.n_trials, timeout=spec.timeout)
        self.progress.started = (self.progress.started if started is None else started) - elapsed_before
        self.next_number = max((t.number for t in earlier), default=-1) + 1
        # The budget counts every trial that ran to an outcome (a timed-out trial too); trials lost with a dead
        # driver are run again.
        self.done_count = 0
        for trial in earlier:
            self._count(trial, lost=trial.number in (lost or set()))
        self.stop_reason: str | None = None
        self.stopped_at: float | None = None
        """When a stopping rule cancelled the trials in flight (``time.monotonic()``)."""
        self.running: dict[Future[Any], _InFlight] = {}
        self.rescore = rescore if spec.finalists else None
        self.rescored: dict[int, Finalist] = {}
        """The finalists dispatched so far, by trial number (their ``rescored`` is a placeholder until recorded)."""
        self.out_of_time = False
        """The timeout itself ran out: nothing more is handed out, finalists included."""
        self._reserve_cache: tuple[int, float] = (-1, 0.0)

    def _finalists_now(self) -> list[TrialResult]:
        """The finalists as the results stand: :func:`pick_finalists`, as many as fit in a
        :data:`FINALISTS_SHARE` of the timeout."""
        s = self.spec
        picked = pick_finalists(self.results, self.metric.direction, self.metric.name, s.finalists, diverse=s.ensemble)
        if s.timeout is None:
            return picked
        return affordable(picked, self.runner.slots, FINALISTS_SHARE * s.timeout, diverse=s.ensemble)

    def _reserve(self) -> float:
        """Seconds kept back from the timeout for the finalists (see :func:`finalist_time`)."""
        if self.rescore is None:
            return 0.0
        if self._reserve_cache[0] != len(self.results):
            reserve = finalist_time(self._finalists_now(), self.runner.slots, diverse=self.spec.ensemble)
            self._reserve_cache = (len(self.results), reserve)
        return self._reserve_cache[1]

    def finalists(self) -> list[Finalist]:
        """The finalists scored again (or not, if that failed or ran out of time), best search score first."""
        sign = -1.0 if self.metric.direction is Direction.MAXIMIZE else 1.0
        return sorted(self.rescored.values(), key=lambda f: (sign * (f.trial.value or 0.0), f.trial.number))

    def _count(self, result: TrialResult, lost: bool = False) -> None:
        p = self.progress
        if lost:
            p.killed += 1
            return
        self.done_count += 1
        if result.state is TrialState.KILLED:
            p.killed += 1
            return
        p.finished += 1
        if result.state is TrialState.FAILED:
            p.failed += 1
        elif result.state is TrialState.PRUNED:
            p.pruned += 1
        complete = result.state is TrialState.COMPLETE and result.value is not None
        if complete and self.metric.direction.better(result.value or 0.0, _value(p.best)):
            p.best = result
            p.since_best = 0
        else:
            p.since_best += 1
        if self.ledger is not None:
            self.ledger.record(result)

    def _check_stop(self) -> None:
        s, p = self.spec, self.progress
        timed_out = s.timeout is not None and p.elapsed >= s.timeout
        if self.stop_reason is not None:
            if timed_out and not self.out_of_time and self.rescore is not None:  # finalists still being scored
                self.out_of_time = True
                self._cancel_running(f"the sweep's timeout of {s.timeout}s ran out")
            return
        best = _value(p.best)
        if s.target is not None and best is not None and not self.metric.direction.better(s.target, best):
            self._stop("target", f"the sweep reached its target {s.target}")
        elif s.patience is not None and p.since_best >= s.patience:
            self._stop("patience", f"{s.patience} trials in a row without a better value")
        elif s.timeout is not None and p.elapsed >= s.timeout - self._reserve():
            if timed_out or self.rescore is None:
                self.out_of_time = True
                self._stop("timeout", f"the sweep's timeout of {s.timeout}s ran out")
            else:  # the finalists' time: the trials in flight finish, then the finalists are scored
                self.stop_reason = "timeout"
        elif self.done_count >= s.n_trials:
            self.stop_reason = "n_trials"

    def _stop(self, reason: str, why: str) -> None:
        self.stop_reason = reason
        if self.running:
            self._cancel_running(why)
        elif reason == "timeout":  # the budget is spent: workers still starting are stopped, not waited for
            self.runner.cancel_all()

    def _cancel_running(self, why: str) -> None:
        if self.running:
            # An executor that cannot stop a running trial (local) lets it run to its end: it is waited for and
            # recorded with its real outcome, rather than left running behind a sweep that has returned.
            self.stopped_at = time.monotonic() if self.runner.can_cancel_running else None
            for flight in self.running.values():
                flight.killed = flight.killed or f"cancelled: {why}"
            self.runner.cancel_all()

    def _computing(self) -> int:
        return sum(1 for flight in self.running.values() if flight.computing)

    def _hold(self) -> bool:
        """Whether the computed trials still being recorded will stop the sweep (its target, its patience) or, with
        ``cv_racing``, become the best trial the next one races against, once their results are in: no trial is
        handed out until then, as if they held their slots."""
        s, direction = self.spec, self.metric.direction
        if not s.cv_racing and s.target is None and s.patience is None:
            return False
        best, since = _value(self.progress.best), self.progress.since_best
        for flight in self.running.values():
            if flight.computed is None or flight.computing:
                continue
            value = flight.computed.result()
            if value is not None and (best is None or direction.better(value, best)):
                if s.cv_racing:  # the first computed trial better than the best so far: the next one races it
                    return True
                best, since = value, 0
            else:
                since += 1
            if s.target is not None and best is not None and not direction.better(s.target, best):
                return True
            if s.patience is not None and since >= s.patience:
                return True
        return False

    def _dispatch(self, handle: Any) -> None:
        if self.stop_reason is not None:
            self._dispatch_finalists(handle)
            return
        # A slot whose trial is computed takes the next one while that one is recorded (one trial recording per slot).
        slots = self.runner.slots
        in_flight = min(self.spec.n_trials - self.done_count, 2 * slots)
        while (
            self.stop_reason is None
            and self._computing() < slots
            and len(self.running) < in_flight
            and not self._hold()
        ):
            proposal = self.searcher.ask()
            number = self.next_number
            self.next_number += 1
            # The worker creates the child run: the loop hands the trial out without waiting on the store.
            child = self.tracker.trial_run(number, proposal.family, proposal.params)
            pruning = None if self.ledger is None else self.ledger.snapshot()
            task = self.make_task(number, child, proposal, handle, pruning)
            if self.spec.cv_racing and isinstance(task, TrialTask):
                task = replace(task, race=_fold_scores(self.progress.best, self.metric.name))
            future = self.runner.submit(task)
            self.running[future] = _InFlight(number, proposal, computed=self.runner.computed(future))

    def _dispatch_finalists(self, handle: Any) -> None:
        """Once the search has stopped (with time left), hand out the finalists not scored again yet as slots free:
        picked anew each time, so a trial that finished after the stop and beats them is one too."""
        if self.rescore is None or self.out_of_time:
            return
        slots = self.runner.slots
        for trial in self._finalists_now():
            if self._computing() >= slots or len(self.running) >= 2 * slots:
                return
            if trial.number in self.rescored:
                continue
            task = self.rescore(trial, self.tracker.rescore_run(trial), handle)
            future = self.runner.submit(task)
            proposal = Proposal(trial.family, trial.params)
            flight = _InFlight(trial.number, proposal, computed=self.runner.computed(future), rescore_of=trial)
            self.running[future] = flight
            pending = TrialResult(trial.number, "", trial.family, trial.params, TrialState.RUNNING)
            self.rescored[trial.number] = Finalist(trial, pending)

    def _wake_in(self) -> float | None:
        now = time.monotonic()
        times = []
        if self.spec.timeout is not None and self.stop_reason is None:
            times.append(self.progress.started + self.spec.timeout - self._reserve() - now)
        elif self.spec.timeout is not None and self.rescore is not None and not self.out_of_time:
            times.append(self.progress.started + self.spec.timeout - now)
        if self.stopped_at is not None:
            times.append(self.stopped_at + _STOP_GRACE - now)
        if self.spec.trial_timeout is not None:
            times += [
                f.started + self.spec.trial_timeout - now
                for f in self.running.values()
                if f.killed is None and f.computing
            ]
        return max(0.0, min(times)) if times else None

    def _enforce_trial_timeout(self) -> None:
        limit = self.spec.trial_timeout
        if limit is None:
            return
        now = time.monotonic()
        for flight in self.running.values():
            if flight.killed is None and flight.computing and now - flight.started >= limit:
                flight.killed = f"cancelled: the trial ran past its trial_timeout of {limit}s"
                self.runner.cancel(flight.number)

    def run(self) -> tuple[list[TrialResult], str]:
        handle = self.data
        try:
            while True:
                self._check_stop()
                self._dispatch(handle)
                self.progress.running = len(self.running)
                if not self.running:
                    break
                slots_freeing = [f.computed for f in self.running.values() if f.computed is not None and f.computing]
                done, _ = wait([*self.running, *slots_freeing], timeout=self._wake_in(), return_when=FIRST_COMPLETED)
                self._check_stop()  # the sweep's timeout
                self._enforce_trial_timeout()
                for future in done:
                    if future in self.running:
                        self._finish(future)
                if self.stopped_at is not None and time.monotonic() >= self.stopped_at + _STOP_GRACE:
                    self._give_up_on_running()
            self.tracker.flush()  # the progress metrics are in the store when the loop returns
        except BaseException:
            self.runner.cancel_all()
            for future, flight in self.running.items():
                why = "the sweep stopped before this trial finished"  # Ctrl-C or an error: run it again on resume
                run_id = _started_run(future)
                if flight.rescore_of is not None:
                    run_id = run_id or self.tracker.find_rescore(flight.rescore_of.run_id)
                    if run_id is not None:
                        self.tracker.fail_trial(run_id, TrialState.KILLED, why)
                    continue
                family, params = flight.proposal.family, flight.proposal.params
                self.tracker.record_lost_trial(
                    flight.number, family, params, TrialState.KILLED, why, run_id=run_id, lost=True
                )
            raise
        return sorted(self.results, key=lambda r: r.number), self.stop_reason or "n_trials"

    def _give_up_on_running(self) -> None:
        """Record the cancelled trials that have not reported back within ``_STOP_GRACE`` as killed, without
        waiting for their tasks to end (the executor's shutdown reaps them)."""
        self.stopped_at = None
        for future, flight in list(self.running.items()):
            if flight.killed is None:  # handed out after the stop (a finalist): not cancelled
                continue
            del self.running[future]
            why = flight.killed
            if flight.rescore_of is not None:
                self._record_rescore(flight, _lost_rescore(future, flight, why, self.tracker))
                continue
            family, params = flight.proposal.family, flight.proposal.params
            run_id = self.tracker.record_lost_trial(
                flight.number, family, params, TrialState.KILLED, why, run_id=_started_run(future)
            )
            self._record(flight, _killed(flight, why, run_id))

    def _finish(self, future: Future[Any]) -> None:
        flight = self.running.pop(future)
        if flight.rescore_of is not None:
            self._record_rescore(flight, _collect_rescore(future, flight, self.tracker))
        else:
            self._record(flight, _collect(future, flight, self.tracker))

    def _record_rescore(self, flight: _InFlight, result: TrialResult) -> None:
        """A finalist's fresh-fold score: it does not count as a trial, nor is it told to the search algorithm."""
        trial = cast(TrialResult, flight.rescore_of)
        self.rescored[trial.number] = Finalist(trial, result)
        self.progress.running = len(self.running)

    def _record(self, flight: _InFlight, result: TrialResult) -> None:
        self.searcher.tell(flight.proposal, result.value, result.state)
        self.results.append(result)
        self._count(result)
        p = self.progress
        p.running = len(self.running)
        # Stepped by completion order (trials finish out of order), so the curve is monotone.
        self.tracker.log_progress(self.metric.name, _value(p.best), step=p.finished + p.killed - 1, elapsed=p.elapsed)
        if self.on_trial is not None:
            self.on_trial(result, p)
        self._check_stop()


def _fold_scores(best: TrialResult | None, metric: str) -> tuple[float, ...] | None:
    """The CV fold scores of the best finished trial (what ``cv_racing`` races against); None before there is one."""
    if best is None:
        return None
    scores: list[float] = []
    while f"{metric}_fold_{len(scores)}" in best.metrics:
        scores.append(best.metrics[f"{metric}_fold_{len(scores)}"])
    return tuple(scores) or None


def _started_run(future: Future[Any]) -> str | None:
    """The child run of a trial that did not report back, if its executor learnt it."""
    if not future.done() or future.cancelled():
        return None
    exc = future.exception()
    return exc.run_id if isinstance(exc, TrialLostError) else None


def _killed(flight: _InFlight, error: str, run_id: str, state: TrialState = TrialState.KILLED) -> TrialResult:
    """The result of a trial that never reported back, recorded in ``run_id``."""
    return TrialResult(
        number=flight.number,
        run_id=run_id,
        family=flight.proposal.family,
        params=flight.proposal.params,
        state=state,
        error=error,
    )


def _lost_rescore(future: Future[Any], flight: _InFlight, error: str, tracker: SweepTracker) -> TrialResult:
    """A finalist's re-scoring that never reported back: its run, if its worker created one, is ended."""
    state = TrialState.KILLED if flight.killed else TrialState.FAILED
    trial = cast(TrialResult, flight.rescore_of)
    run_id = _started_run(future) or tracker.find_rescore(trial.run_id)
    if run_id is not None:
        tracker.fail_trial(run_id, state, error)
    return _killed(flight, error, run_id or "", state)


def _collect_rescore(future: Future[Any], flight: _InFlight, tracker: SweepTracker) -> TrialResult:
    """A finalist's re-scoring result (failed or killed when its task never reported back)."""
    try:
        result: TrialResult = future.result()
    except Exception as exc:
        return _lost_rescore(future, flight, flight.killed or f"{type(exc).__name__}: {exc}", tracker)
    if not result.recorded:
        tracker.fail_trial(result.run_id, result.state, result.error or "the re-scoring could not be recorded")
    return result


def _collect(future: Future[Any], flight: _InFlight, tracker: SweepTracker) -> TrialResult:
    """The trial's result; a task that never reported back is recorded as failed (or killed, when cancelled)."""
    try:
        result: TrialResult = future.result()
    except Exception as exc:
        state = TrialState.KILLED if flight.killed else TrialState.FAILED
        error = flight.killed or f"{type(exc).__name__}: {exc}"
        family, params = flight.proposal.family, flight.proposal.params
        known = exc.run_id if isinstance(exc, TrialLostError) else None
        run_id = tracker.record_lost_trial(flight.number, family, params, state, error, run_id=known)
        return _killed(flight, error, run_id, state)
    if not result.recorded:  # the worker could not write the run's final state: try once more from the driver
        tracker.fail_trial(result.run_id, result.state, result.error or "the trial's results could not be recorded")
    return result
