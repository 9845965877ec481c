"""The plan of a sweep, worked out once before its first trial: the data, the metric, the space, the search
algorithm and its starting points, the resume checks, the tasks and the parent run.

:func:`plan_sweep` plans a sweep over model families from its sweep file (a new one, or a resume of one recorded in
MLflow); :func:`plan_objective` plans a search of a user's objective. :func:`~sparksweep.sweep._study.run_study`
carries either out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparksweep._spark import get_spark
from sparksweep.data import KINDS_ARTIFACT, Dataset, check_folds, kinds_table, load_table, prepare_dataset
from sparksweep.executors import BaseExecutor
from sparksweep.metrics import Metric
from sparksweep.models import get_family
from sparksweep.search import BaseSearcher, make_searcher
from sparksweep.space import SearchSpace
from sparksweep.spec import SearchSpec
from sparksweep.sweep._resume import Resume, check_fingerprint, check_split_columns, told, warm_trials
from sparksweep.sweep._space import build_space, resolve_metric
from sparksweep.sweep._starting import default_point
from sparksweep.sweep._tasks import Objective, TaskFactory, model_tasks, objective_tasks
from sparksweep.tracking import TAG_DATA_PATH, SweepTracker
from sparksweep.trial import TrialResult

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame as SparkDataFrame

    from sparksweep.spec import RegisterSpec, SweepSpec

__all__ = ["ParentRun", "SweepPlan", "plan_objective", "plan_sweep"]


@dataclass(frozen=True)
class ParentRun:
    """The sweep's parent run, as a new sweep creates it."""

    run_name: str
    spec_yaml: str
    params: Callable[[BaseExecutor], dict[str, Any]]
    """Its params, given the executor (its slots and name are known once it has started)."""
    tags: dict[str, str] = field(default_factory=dict)
    tables: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """Table artifacts of the parent run (file name -> columns): the kind of each data column."""


@dataclass(frozen=True)
class SweepPlan:
    """Everything a sweep runs by, decided before its first trial."""

    search: SearchSpec
    metric: Metric
    space: SearchSpace
    searcher: BaseSearcher
    """The search algorithm, already told the sweep's starting points (warm start, a resume's trials)."""
    task: str
    """The learning task (``binary``, ``multiclass``, ``regression``), or ``objective``."""
    tasks: Callable[[BaseExecutor], TaskFactory]
    """Makes, given the executor, the factory of the tasks it runs."""
    parent: ParentRun
    cannot_stop: str
    """The error when ``trial_timeout`` is set and the executor (``{executor}``) cannot stop a running trial."""
    dataset: Dataset | None = None
    """The sweep's data (None: a user objective's search)."""
    resume: Resume | None = None
    earlier: list[TrialResult] = field(default_factory=list)
    """The trials a resumed sweep's earlier run left, as read back (those still RUNNING died with its driver)."""
    registration: RegisterSpec | None = None
    final_tags: dict[str, str] = field(default_factory=dict)
    """Tags the parent run gets when the sweep ends."""
    spec: SweepSpec | None = None
    """The sweep file it was planned from (None: a user objective's search), for the figures drawn at its end."""


def plan_sweep(
    spec: SweepSpec,
    *,
    tracker: SweepTracker,
    tracking_uri: str,
    data: pd.DataFrame | SparkDataFrame | None,
    spark: Any,
    session: Callable[[], Any] | None,
    resume: Resume | None = None,
    run_tags: dict[str, str] | None = None,
) -> SweepPlan:
    """Plan the sweep ``spec`` describes: load and split its data, check its families fit it, build its space and
    search algorithm, and give it its starting points (``session``: the sweep's SparkSession as it starts, if
    the executor is being started; a Spark table is read through it)."""
    if data is None and spec.data.table is not None and spark is None and spec.search.executor != "local":
        # the session that reads the table runs the trials
        spark = session() if session is not None else get_spark(spec.spark.master, spec.spark.conf)
    dataset = prepare_dataset(load_table(spec.data, data, spark), spec.data, spec.task)
    metric = resolve_metric(spec.metric, dataset.task)
    space = build_space(spec.models, dataset.task, spec.search.space)
    for name in spec.models:  # data a family cannot fit is refused before any trial runs
        get_family(name).check_data(dataset.training)
    if spec.search.cv is not None:
        check_folds(dataset.training, spec.search.cv)
    # Starting from each family's defaults, TPE models those trials at once rather than after 10 random ones
    # (as FLAML searches on from its starting points): under a tight budget the random start was most of it.
    search = spec.search
    defaults = resume is None and search.warm_start is None and search.start_from_defaults
    startup = len(spec.models) if defaults else None
    searcher = make_searcher(search.algorithm, space, metric.direction, search.seed, startup=startup)
    earlier: list[TrialResult] = []
    if resume is not None:
        check_split_columns(resume.parent.data.params, spec.data, resume.parent_run_id)
        check_fingerprint(resume.parent.data.params.get("data_fingerprint"), dataset, resume.parent_run_id)
        curves = search.pruner != "none"  # the pruner's evidence: the finished trials' per-round scores
        earlier = resume.read(tracker.client, space, curves=curves)
    if search.warm_start is not None:
        searcher.add_past(warm_trials(tracker.client, search.warm_start, space, metric))
    if resume is not None:
        searcher.add_past(told(earlier))
    elif search.warm_start is None and search.start_from_defaults:
        for name in spec.models:
            searcher.enqueue(name, default_point(get_family(name), dataset.task, space.families[name]))
    tags = dict(run_tags or {})
    if data is None and spec.data.path is not None:
        tags[TAG_DATA_PATH] = str(Path(spec.data.path).resolve())
    return SweepPlan(
        search=search,
        metric=metric,
        space=space,
        searcher=searcher,
        task=dataset.task,
        tasks=lambda runner: model_tasks(spec, dataset, metric, runner, tracking_uri),
        parent=ParentRun(
            run_name=f"sweep-{search.algorithm}-{time.strftime('%Y%m%d-%H%M%S')}",
            spec_yaml=spec.to_yaml(),
            params=lambda runner: _sweep_params(spec, runner, metric, dataset),
            tags=tags,
            tables={KINDS_ARTIFACT: kinds_table(dataset.kinds)},
        ),
        cannot_stop=(
            "search.trial_timeout needs an executor that can stop a running trial; the {executor!r} executor "
            "cannot. Use search.executor: spark-pool or spark, or remove trial_timeout"
        ),
        dataset=dataset,
        resume=resume,
        earlier=earlier,
        spec=spec,
        registration=spec.registration,
    )


def plan_objective(
    objective: Objective,
    space: SearchSpace,
    search: SearchSpec,
    metric: Metric,
    *,
    tracker: SweepTracker,
    tracking_uri: str,
) -> SweepPlan:
    """Plan a search of ``objective`` over ``space`` (``metric``: the name its value is logged under, and its
    direction), warm-started from ``search.warm_start``."""
    searcher = make_searcher(search.algorithm, space, metric.direction, search.seed)
    if search.warm_start is not None:
        searcher.add_past(warm_trials(tracker.client, search.warm_start, space, metric))
    name = getattr(objective, "__qualname__", type(objective).__name__)

    def params(runner: BaseExecutor) -> dict[str, Any]:
        return {
            "algorithm": search.algorithm,
            "n_trials": search.n_trials,
            "parallelism": runner.slots,
            "metric": metric.name,
            "direction": metric.direction.value,
            "executor": runner.name,
            "seed": search.seed,
            "objective": name,
            "warm_start": search.warm_start,
        }

    return SweepPlan(
        search=search,
        metric=metric,
        space=space,
        searcher=searcher,
        task="objective",
        tasks=lambda runner: objective_tasks(objective, metric.name, search.seed, tracking_uri),
        parent=ParentRun(
            run_name=f"optimize-{name}-{time.strftime('%Y%m%d-%H%M%S')}",
            spec_yaml=f"# optimize({name}) over\n{space!r}\n",
            params=params,
        ),
        cannot_stop="trial_timeout needs the spark executor; the {executor!r} executor cannot stop a trial",
        final_tags={"sparksweep.objective": name},
    )


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
        "time_column": spec.data.time_column,
        "group_column": spec.data.group_column,
        "n_rows": dataset.n_rows,
        "n_features": len(dataset.features),
    }
