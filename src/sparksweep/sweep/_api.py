"""The front doors of the sweep: :func:`run_sweep` (a sweep file), :func:`resume_sweep` (a sweep recorded in
MLflow) and :func:`optimize` (a user's objective). Each only works out where the trials run and how the sweep is
planned; :func:`~sparksweep.sweep._study.run_study` does the rest.

Example:
    >>> from sparksweep.spec import load_spec
    >>> result = run_sweep(load_spec("examples/churn.yaml"))  # doctest: +SKIP
    >>> result.best.value  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from sparksweep._pydantic import format_errors
from sparksweep._spark import check_reachable, get_spark, is_remote
from sparksweep.errors import SpecError
from sparksweep.executors import BaseExecutor, FramesExecutor, LocalExecutor, SparkExecutor, SparkPoolExecutor
from sparksweep.metrics import Direction, Metric
from sparksweep.space import Distribution, SearchSpace
from sparksweep.spec import SearchSpec, check_unity_catalog
from sparksweep.sweep._plan import plan_objective, plan_sweep
from sparksweep.sweep._result import SweepProgress, SweepResult
from sparksweep.sweep._resume import Resume, read_resume, recorded_result, store_uri
from sparksweep.sweep._study import ExecutorStart, run_study
from sparksweep.sweep._tasks import Objective
from sparksweep.tracking import registry_uri as resolve_registry_uri
from sparksweep.tracking import resolve_tracking_uri
from sparksweep.trial import TrialResult

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame as SparkDataFrame

    from sparksweep.spec import SweepSpec

__all__ = ["OBJECTIVE_FAMILY", "optimize", "resume_sweep", "run_sweep"]

OBJECTIVE_FAMILY = "objective"
"""The family name of a flat space (a mapping of parameter names to distributions)."""

OnTrial = Callable[[TrialResult, SweepProgress], None]
_EXECUTORS = ("local", "spark", "spark-pool", "spark-frames")


def _new_executor(kind: str, session: Any, parallelism: int | None, staging_dir: str | None = None) -> BaseExecutor:
    if kind == "local":
        return LocalExecutor(parallelism)
    if kind == "spark-frames" or is_remote(session):  # a Spark Connect session runs DataFrame jobs only
        return FramesExecutor(session, parallelism, staging_dir=staging_dir)
    return (SparkPoolExecutor if kind == "spark-pool" else SparkExecutor)(session, parallelism)


def run_sweep(
    spec: SweepSpec,
    *,
    data: pd.DataFrame | SparkDataFrame | None = None,
    spark: Any = None,
    executor: BaseExecutor | None = None,
    on_trial: OnTrial | None = None,
    run_tags: dict[str, str] | None = None,
) -> SweepResult:
    """Run the sweep ``spec`` describes and register its champion.

    Args:
        spec: The validated sweep spec.
        data: A pandas or Spark DataFrame to use instead of reading ``spec.data.path`` or ``spec.data.table``.
        spark: A SparkSession to run trials on (default: the active one, or a new one on ``spec.spark.master``, or a
            Spark Connect session to ``spec.spark.remote``); on a Spark Connect session trials run as DataFrame jobs
            (the ``spark-frames`` executor), whatever ``spec.search.executor`` says.
        executor: An executor to use instead of the one ``spec.search.executor`` names (it is not shut down).
        on_trial: Called in the driver after each trial with its result and the sweep's progress.
        run_tags: Extra tags for the sweep's parent run (``mlflow.parentRunId`` nests it under another run).

    Returns:
        The sweep's result; its trials are also in MLflow under the parent run ``sweep_run_id``.
    """
    return _sweep(spec, data, spark, executor, on_trial, None, run_tags)


def resume_sweep(
    parent_run_id: str,
    *,
    tracking_uri: str | None = None,
    registry_uri: str | None = None,
    data: pd.DataFrame | SparkDataFrame | None = None,
    spark: Any = None,
    executor: BaseExecutor | None = None,
    on_trial: OnTrial | None = None,
) -> SweepResult:
    """Continue a sweep whose driver died, from what MLflow holds (MLflow is the only store needed).

    The sweep file is read from the parent run, its finished trials are told to a new search algorithm, child runs
    the dead driver left RUNNING are marked KILLED, numbering continues after the highest trial number, and the
    budget counts what was already done (finished trials towards ``n_trials``, time towards ``timeout``). A sweep
    that went to its end is not run again: its recorded result is returned and the store is left as it was (its
    champion decision is in the parent run's tags).

    Args:
        parent_run_id: The sweep's parent run id (printed when it started; tag ``sparksweep.kind=sweep``).
        tracking_uri: The store the sweep recorded into (default: ``MLFLOW_TRACKING_URI``, else
            ``sqlite:///mlflow.db``).
        registry_uri: The registry to register the champion in, instead of the recorded sweep file's
            ``tracking.registry_uri`` (see :func:`sparksweep.tracking.registry_uri`).
        data: The sweep's data as a DataFrame, instead of reading the path it recorded.
        spark: A SparkSession to run trials on.
        executor: An executor to use instead of the one the sweep file names.
        on_trial: Called in the driver after each new trial.

    Example:
        >>> result = resume_sweep("3f2a...", tracking_uri="sqlite:///mlflow.db")  # doctest: +SKIP
    """
    uri = store_uri(tracking_uri)
    spec, resume = read_resume(parent_run_id, uri, has_data=data is not None)
    spec = spec.with_overrides(**{"tracking.registry_uri": registry_uri})
    if resume.finished:  # nothing is left to do: registering its champion again would move @challenger
        return recorded_result(spec, resume, uri)
    return _sweep(spec, data, spark, executor, on_trial, resume, None)


def _sweep(
    spec: SweepSpec,
    data: pd.DataFrame | SparkDataFrame | None,
    spark: Any,
    executor: BaseExecutor | None,
    on_trial: OnTrial | None,
    resume: Resume | None,
    run_tags: dict[str, str] | None,
) -> SweepResult:
    started = time.monotonic()  # the sweep's clock: search.timeout counts its set-up too
    tracking_uri = resolve_tracking_uri(spec.tracking.uri)
    if spec.registration is not None:  # a name the registry refuses is refused before any trial
        registry = resolve_registry_uri(spec.tracking.registry_uri, tracking_uri)
        check_unity_catalog(spec.registration.name, spec.registration.stage, registry)
    kind = spec.search.executor

    def session() -> Any:
        """The SparkSession the sweep's executor runs on (None for the local executor)."""
        if spark is not None or kind == "local":
            return spark
        return get_spark(spec.spark.master, spec.spark.conf, remote=spec.spark.remote)

    if spark is None and executor is None and kind != "local" and (spec.spark.remote or "").startswith("sc://"):
        check_reachable(spec.spark.remote or "")  # at once, before the store opens or the data loads
    staging = spec.spark.staging_dir
    start = ExecutorStart(session, lambda s: _new_executor(kind, s, spec.search.parallelism, staging))
    return run_study(
        lambda tracker, starting: plan_sweep(
            spec,
            tracker=tracker,
            tracking_uri=tracking_uri,
            data=data,
            spark=spark,
            session=starting,
            resume=resume,
            run_tags=run_tags,
        ),
        tracking_uri=tracking_uri,
        experiment=spec.experiment,
        executor=executor,
        start=start,
        on_trial=on_trial,
        started=started,
    )


def _as_space(space: SearchSpace | Mapping[str, Distribution]) -> SearchSpace:
    if isinstance(space, SearchSpace):
        return space
    if not isinstance(space, Mapping) or not space:
        raise SpecError(
            f"optimize needs a SearchSpace or a non-empty mapping of parameter names to Float/Int/Categorical, "
            f"got {space!r}"
        )
    return SearchSpace({OBJECTIVE_FAMILY: dict(space)})


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
    on_trial: OnTrial | None = None,
) -> SweepResult:
    """Search ``space`` for the parameters that minimize (or maximize) ``objective``.

    Like Optuna's ``study.optimize`` or Hyperopt's ``fmin``: the objective gets the trial's parameters and a
    :class:`~sparksweep.worker.TrialContext` (its child run), returns a value or raises (the trial is then FAILED and
    the search goes on), and runs where model trials run (cloudpickle ships it by value). Each trial is a child run
    of one parent run in ``experiment``, its parameters under their names and its value as the metric ``metric``.

    Args:
        objective: ``objective(params, trial) -> float``; ``trial`` is a :class:`TrialContext`.
        space: A :class:`SearchSpace` (families, each with its parameters) or a flat mapping of distributions.
        n_trials, timeout, patience, target: The budget: trials that run to an outcome; wall-clock seconds (trials
            still running then are cancelled, recorded killed); finished trials in a row without a better value;
            a value that ends the search when reached.
        direction, metric, algorithm, seed: ``minimize`` or ``maximize``; the value's metric name; a name from
            :data:`sparksweep.search.ALGORITHMS`; its seed (trial ``n`` gets ``seed + n``: :attr:`TrialContext.seed`).
        parallelism, trial_timeout: Trials in flight (default: the executor's slots); seconds one trial may run
            (Spark executors only).
        warm_start: Parent run id of an earlier ``optimize`` over the same space and metric, to learn from.
        experiment, tracking_uri: The MLflow experiment and store (default: ``MLFLOW_TRACKING_URI``, else
            ``sqlite:///mlflow.db``).
        executor, spark: ``spark-pool`` (the default), ``spark`` (a Spark job per trial), ``spark-frames`` (a
            DataFrame job per trial: what a Spark Connect ``spark`` gets), ``local`` (a process pool), or an
            executor (not shut down); the SparkSession for them (default: the active one or a new local one).
        on_trial: Called in the driver after each trial.

    Example:
        >>> from sparksweep import Float, optimize
        >>> result = optimize(lambda p, trial: (p["x"] - 0.3) ** 2, {"x": Float(-1, 1)}, n_trials=20)  # doctest: +SKIP
        >>> round(result.best.params["x"], 1)  # doctest: +SKIP
        0.3
    """
    goal = _goal(metric, direction)
    kind = executor if isinstance(executor, str) else ""
    search = _search_spec(
        algorithm=algorithm,
        n_trials=n_trials,
        parallelism=parallelism,
        seed=seed,
        timeout=timeout,
        trial_timeout=trial_timeout,
        patience=patience,
        target=target,
        warm_start=warm_start,
        executor=kind if kind in ("local", "spark-pool", "spark-frames") else "spark",
    )
    started = time.monotonic()  # the sweep's clock: timeout counts the set-up too
    compiled = _as_space(space)
    uri = store_uri(tracking_uri)
    given, start = _objective_executor(executor, spark, parallelism)
    return run_study(
        lambda tracker, _: plan_objective(objective, compiled, search, goal, tracker=tracker, tracking_uri=uri),
        tracking_uri=uri,
        experiment=experiment,
        executor=given,
        start=start,
        on_trial=on_trial,
        started=started,
        prepare_first=True,
    )


def _goal(metric: str, direction: str) -> Metric:
    """The metric an objective's value is logged as (it computes nothing: the objective returns the value)."""
    try:
        return Metric(name=metric, direction=Direction(direction), tasks=frozenset(), fn=lambda y, p: 0.0)
    except ValueError:
        raise SpecError(f"direction must be 'minimize' or 'maximize', got {direction!r}") from None


def _search_spec(**settings: Any) -> SearchSpec:
    """:func:`optimize`'s search settings, validated as a sweep file's ``search`` section is."""
    try:
        return SearchSpec(**settings)
    except ValidationError as exc:
        raise SpecError(format_errors(exc, "optimize's arguments")) from None


def _objective_executor(
    executor: str | BaseExecutor, spark: Any, parallelism: int | None
) -> tuple[BaseExecutor | None, ExecutorStart]:
    """:func:`optimize`'s executor: the one given, or how to start the one it names (on ``spark``, else a local
    session)."""
    if not isinstance(executor, BaseExecutor) and executor not in _EXECUTORS:
        raise SpecError(
            f"executor must be 'spark', 'spark-pool', 'spark-frames', 'local' or a BaseExecutor, got {executor!r}"
        )
    kind = executor if isinstance(executor, str) else ""
    start = ExecutorStart(
        lambda: spark if spark is not None or kind == "local" else get_spark("local[*]"),
        lambda session: _new_executor(kind, session, parallelism),
    )
    return (executor if isinstance(executor, BaseExecutor) else None), start
