"""Your own objective over a space, with the sweep engine's executors, tracking and budgets.

The way people use Optuna's ``study.optimize`` or Hyperopt's ``fmin``: the objective gets the trial's parameters
(and a :class:`~sparksweep.worker.TrialContext` with its child run, to log more), and returns a value or
raises. It runs where model trials run: as a Spark task, or in a process pool. On Spark, define it at module level in
an importable module or in a notebook/script (cloudpickle ships it by value).

Example:
    >>> from sparksweep import Float, optimize
    >>> def objective(params, trial):
    ...     return (params["x"] - 0.3) ** 2
    >>> result = optimize(objective, {"x": Float(-1, 1)}, n_trials=20, seed=0)  # doctest: +SKIP
    >>> round(result.best.params["x"], 1)  # doctest: +SKIP
    0.3
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from sparksweep._pydantic import format_errors
from sparksweep._spark import get_spark
from sparksweep.errors import SpecError
from sparksweep.executors import BaseExecutor, LocalExecutor, SparkExecutor, SparkPoolExecutor
from sparksweep.metrics import Direction, Metric
from sparksweep.search import make_searcher
from sparksweep.space import Distribution, SearchSpace
from sparksweep.spec import DEFAULT_TRACKING_URI, SearchSpec
from sparksweep.sweep._background import ExecutorStartup
from sparksweep.sweep._engine import SweepProgress, SweepResult, _best, _Loop, _warm_trials
from sparksweep.tracking import (
    TAG_STOP_REASON,
    SweepTracker,
    TrialRunSpec,
    resolve_tracking_uri,
    store_prepared,
)
from sparksweep.trial import Proposal, TrialResult
from sparksweep.worker import ObjectiveTask, TrialContext

__all__ = ["OBJECTIVE_FAMILY", "TrialContext", "optimize"]

OBJECTIVE_FAMILY = "objective"
"""The family name of a flat space (a mapping of parameter names to distributions)."""

Objective = Callable[[dict[str, Any], TrialContext], float]


def _as_space(space: SearchSpace | Mapping[str, Distribution]) -> SearchSpace:
    if isinstance(space, SearchSpace):
        return space
    if not isinstance(space, Mapping) or not space:
        raise SpecError(
            f"optimize needs a SearchSpace or a non-empty mapping of parameter names to Float/Int/Categorical, "
            f"got {space!r}"
        )
    return SearchSpace({OBJECTIVE_FAMILY: dict(space)})


def _new_executor(kind: str, spark: Any, parallelism: int | None) -> BaseExecutor:
    if kind == "local":
        return LocalExecutor(parallelism)
    return (SparkPoolExecutor if kind == "spark-pool" else SparkExecutor)(spark, parallelism)


def optimize(
    objective: Objective,
    space: SearchSpace | Mapping[str, Distribution],
    *,
    n_trials: int = 20,
    direction: str = "minimize",
    metric: str = "value",
    algorithm: str = "optuna.tpe",
    parallelism: int | None = None,
    seed: int | None = None,
    timeout: float | None = None,
    trial_timeout: float | None = None,
    patience: int | None = None,
    target: float | None = None,
    warm_start: str | None = None,
    experiment: str = "sparksweep-optimize",
    tracking_uri: str | None = None,
    executor: str | BaseExecutor = "spark-pool",
    spark: Any = None,
    on_trial: Callable[[TrialResult, SweepProgress], None] | None = None,
) -> SweepResult:
    """Search ``space`` for the parameters that minimize (or maximize) ``objective``.

    Each trial is a child run of one parent run in ``experiment``, its parameters logged under their names and the
    returned value as the metric ``metric``. A trial that raises is recorded as FAILED and the search goes on.

    Args:
        objective: ``objective(params, trial) -> float``; ``trial`` is a :class:`TrialContext`.
        space: A :class:`SearchSpace` (families, each with its parameters) or a flat mapping of distributions.
        n_trials: Trials that run to an outcome.
        direction: ``minimize`` or ``maximize``.
        metric: The name the value is logged under.
        algorithm: A name from :data:`sparksweep.search.ALGORITHMS`.
        parallelism: Trials in flight (default: the executor's slots).
        seed: Seed of the search algorithm (trial ``n`` gets ``seed + n`` as :attr:`TrialContext.seed`).
        timeout: Wall-clock budget in seconds; trials still running then are cancelled and recorded as killed.
        trial_timeout: Seconds one trial may run (Spark executor only).
        patience: Stop after this many finished trials in a row without a better value.
        target: Stop when a trial reaches this value.
        warm_start: Parent run id of an earlier ``optimize`` over the same space and metric, to learn from.
        experiment: The MLflow experiment.
        tracking_uri: The MLflow store (default: ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``).
        executor: ``spark-pool`` (the default: long-lived Spark tasks that pull trials), ``spark`` (a Spark job
            per trial), ``local`` (a process pool), or an executor instance (not shut down).
        spark: The SparkSession for the Spark executors (default: the active one or a new local one).
        on_trial: Called in the driver after each trial.
    """
    try:
        dir_ = Direction(direction)
    except ValueError:
        raise SpecError(f"direction must be 'minimize' or 'maximize', got {direction!r}") from None
    try:
        search = SearchSpec(
            algorithm=algorithm,
            n_trials=n_trials,
            parallelism=parallelism,
            seed=seed,
            timeout=timeout,
            trial_timeout=trial_timeout,
            patience=patience,
            target=target,
            warm_start=warm_start,
            executor=executor if executor in ("local", "spark-pool") else "spark",
        )
    except ValidationError as exc:
        raise SpecError(format_errors(exc, "optimize's arguments")) from None
    started = time.monotonic()  # the sweep's clock: timeout counts the set-up too
    compiled = _as_space(space)
    goal = Metric(name=metric, direction=dir_, tasks=frozenset(), fn=lambda y, p: 0.0)
    uri = resolve_tracking_uri(tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI)
    own = not isinstance(executor, BaseExecutor)
    startup = None
    if isinstance(executor, BaseExecutor):
        runner: BaseExecutor = executor
    elif executor in ("local", "spark", "spark-pool"):
        # The workers start (Spark too, when it is not running yet) while the store opens.
        kind = executor
        startup = ExecutorStartup(
            lambda: spark if spark is not None or kind == "local" else get_spark("local[*]"),
            lambda session: _new_executor(kind, session, parallelism),
        )
    else:
        raise SpecError(f"executor must be 'spark', 'spark-pool', 'local' or a BaseExecutor, got {executor!r}")
    try:
        if startup is None and store_prepared(uri):
            # A store this process has prepared already: the workers start first (a pool's slots take ~0.2 s to
            # reach Spark's Python workers), and the store is checked and the parent run created meanwhile.
            runner.prepare(uri)
        tracker = SweepTracker(uri, experiment)  # creates a new store before any worker opens it
        searcher = make_searcher(algorithm, compiled, dir_, seed)
        if warm_start is not None:
            searcher.add_past(_warm_trials(tracker, warm_start, compiled, goal))
        if startup is not None:
            runner = startup.executor()
        runner.prepare(uri)  # the workers start (and open the store) while the parent run is created
    except BaseException as exc:
        if startup is not None:
            startup.abandon(exc)
        raise
    name = getattr(objective, "__qualname__", type(objective).__name__)
    base_seed = seed or 0

    def make_task(number: int, child: TrialRunSpec, proposal: Proposal, handle: Any, pruning: Any) -> ObjectiveTask:
        seed_n = base_seed + number
        # The worker creates the child run from `child` (run_id left empty).
        return ObjectiveTask(number, "", uri, objective, proposal.family, proposal.params, metric, seed_n, child)

    status = "FAILED"
    try:
        if trial_timeout is not None and not runner.can_cancel_running:
            raise SpecError(f"trial_timeout needs the spark executor; the {runner.name!r} executor cannot stop a trial")
        tracker.start(
            run_name=f"optimize-{name}-{time.strftime('%Y%m%d-%H%M%S')}",
            params={
                "algorithm": algorithm,
                "n_trials": n_trials,
                "parallelism": runner.slots,
                "metric": metric,
                "direction": dir_.value,
                "executor": runner.name,
                "seed": seed,
                "objective": name,
                "warm_start": warm_start,
            },
            spec_yaml=f"# optimize({name}) over\n{compiled!r}\n",
        )
        loop = _Loop(
            spec=search,
            metric=goal,
            searcher=searcher,
            runner=runner,
            tracker=tracker,
            on_trial=on_trial,
            make_task=make_task,
            data=None,
            earlier=[],
            started=started,
        )
        trials, stop_reason = loop.run()
        status = "FINISHED"
    finally:
        if own:
            runner.shutdown()
        if status != "FINISHED":
            tracker.finish(status)
    best = _best(trials, dir_)
    tags = {TAG_STOP_REASON: stop_reason, "sparksweep.objective": name}
    if best is not None:
        tags["sparksweep.best_trial_run_id"] = best.run_id
    tracker.set_tags(tags)  # one write
    tracker.finish("FINISHED")
    return SweepResult(
        sweep_run_id=tracker.parent_run_id,
        experiment_id=tracker.experiment_id,
        tracking_uri=uri,
        task="objective",
        metric=metric,
        direction=dir_,
        trials=trials,
        best=best,
        champion=None,
        duration=time.monotonic() - started,
        stop_reason=stop_reason,
    )
