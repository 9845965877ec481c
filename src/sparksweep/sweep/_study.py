"""The one lifecycle of a sweep, shared by :func:`run_sweep`, :func:`resume_sweep` and :func:`optimize`: start the
executor (in the background) while the store opens and the sweep is planned, open the parent run, run the loop,
release the executor while the sweep concludes (the best trial, the ensemble, the champion), and end the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, cast

from sparksweep.errors import SpecError
from sparksweep.executors import BaseExecutor
from sparksweep.figures import FigureInputs, draw_sweep_figures, preload_matplotlib
from sparksweep.sweep._background import ExecutorShutdown, ExecutorStartup
from sparksweep.sweep._conclude import conclude
from sparksweep.sweep._ensemble import Ensemble, select_ensemble
from sparksweep.sweep._finalists import Finalist, choose_finalist
from sparksweep.sweep._loop import Loop
from sparksweep.sweep._outcome import DRIVER_STOPPED, killed_if_running
from sparksweep.sweep._plan import SweepPlan
from sparksweep.sweep._ranking import best_trial
from sparksweep.sweep._result import SweepProgress, SweepResult
from sparksweep.sweep._tasks import rescore_tasks
from sparksweep.tracking import TAG_STOP_REASON, SweepTracker, registry_uri, store_prepared
from sparksweep.trial import TrialResult, TrialState

__all__ = ["BACKGROUND_START", "ExecutorStart", "run_study"]

BACKGROUND_START = True
"""Start Spark and the executor in a background thread during the sweep's set-up (False: one step after another,
as before; the first-trial benchmark compares the two)."""

OnTrial = Callable[[TrialResult, SweepProgress], None]
Planner = Callable[[SweepTracker, "Callable[[], Any] | None"], SweepPlan]
"""(the sweep's tracker, the SparkSession as it starts (None: the executor was given)) -> the sweep's plan."""


@dataclass(frozen=True)
class ExecutorStart:
    """How to start the sweep's own executor: its SparkSession (None for none), then the executor on it."""

    make_session: Callable[[], Any]
    make_executor: Callable[[Any], BaseExecutor]


def run_study(
    planner: Planner,
    *,
    tracking_uri: str,
    experiment: str,
    executor: BaseExecutor | None,
    start: ExecutorStart,
    on_trial: OnTrial | None,
    started: float,
    prepare_first: bool = False,
) -> SweepResult:
    """Plan and run one sweep to its end on ``executor`` (given by the caller, not shut down) or on one started by
    ``start``; ``started``: when the sweep's clock started (``time.monotonic()``), which its timeout counts from;
    ``prepare_first``: a given executor's workers may start before the sweep is planned (they need no data)."""
    # Spark (the JVM, the session, the executors' check) starts in the background while the store opens, the data
    # loads and the search algorithm is built; none of those needs it (unless the data is a Spark table).
    startup = None
    if executor is None:
        startup = ExecutorStartup(start.make_session, start.make_executor, background=BACKGROUND_START)
    try:
        if executor is not None and prepare_first and store_prepared(tracking_uri):
            # A store this process has prepared already: the workers start first (a pool's slots take ~0.2 s to
            # reach Spark's Python workers), and the store is checked and the parent run created meanwhile.
            executor.prepare(tracking_uri)
        tracker = SweepTracker(tracking_uri, experiment)  # the store is created in the driver before any worker
        plan = planner(tracker, None if startup is None else startup.session)
        runner = startup.executor() if startup is not None else cast(BaseExecutor, executor)
    except BaseException as exc:
        if startup is not None:
            startup.abandon(exc)
        raise
    own = executor is None
    try:
        if plan.search.trial_timeout is not None and not runner.can_cancel_running:
            raise SpecError(plan.cannot_stop.format(executor=runner.name))
        # The workers start (and load the data) while the parent run is created.
        handle = None if plan.dataset is None else runner.share(plan.dataset.training)
        runner.prepare(tracking_uri)
        _open_parent(tracker, plan, runner)
        if plan.spec is not None and plan.spec.tracking.figures:
            preload_matplotlib()  # imported while the trials run, drawn once after them
    except BaseException:
        if own:
            runner.shutdown()
        raise
    status = "FAILED"
    stopping: ExecutorShutdown | None = None
    try:
        earlier = [killed_if_running(t) for t in plan.earlier]
        loop = _loop(plan, earlier, runner, tracker, handle, on_trial, started)
        trials, stop_reason = loop.run()
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        if own:
            if status == "FINISHED":  # released while the sweep concludes (the champion refitted and registered)
                stopping = ExecutorShutdown(runner)
            else:
                runner.shutdown()
        if status != "FINISHED":
            tracker.finish(status)
    return _finish_sweep(plan, tracker, trials, stop_reason, loop.finalists(), stopping, started)


def _open_parent(tracker: SweepTracker, plan: SweepPlan, runner: BaseExecutor) -> None:
    """Create the sweep's parent run, or (a resume) attach to it and end the trials its dead driver left RUNNING."""
    if plan.resume is None:
        parent = plan.parent
        tracker.start(
            run_name=parent.run_name,
            params=parent.params(runner),
            spec_yaml=parent.spec_yaml,
            tags=parent.tags,
            tables=parent.tables,
        )
        return
    tracker.attach(plan.resume.parent_run_id)
    for trial in plan.earlier:
        if trial.state is TrialState.RUNNING:
            tracker.fail_trial(trial.run_id, TrialState.KILLED, DRIVER_STOPPED, lost=True)


def _loop(
    plan: SweepPlan,
    earlier: list[TrialResult],
    runner: BaseExecutor,
    tracker: SweepTracker,
    handle: Any,
    on_trial: OnTrial | None,
    started: float,
) -> Loop:
    make_task = plan.tasks(runner)
    search = plan.search
    rescore = None if plan.dataset is None else rescore_tasks(make_task, search.seed or 0, search.ensemble)
    return Loop(
        spec=search,
        metric=plan.metric,
        searcher=plan.searcher,
        runner=runner,
        tracker=tracker,
        on_trial=on_trial,
        make_task=make_task,
        data=handle,
        rescore=rescore,
        earlier=earlier,
        elapsed_before=0.0 if plan.resume is None else plan.resume.elapsed,
        started=started,
    )


def _finish_sweep(
    plan: SweepPlan,
    tracker: SweepTracker,
    trials: list[TrialResult],
    stop_reason: str,
    finalists: list[Finalist],
    stopping: ExecutorShutdown | None,
    started: float,
) -> SweepResult:
    """The sweep's conclusion, while its executor shuts down: the best trial (the finalist best on fresh folds,
    else the best of the search), the ensemble, the parent's tags, the champion; then the parent run ends."""
    metric = plan.metric
    chosen = choose_finalist(finalists, metric.direction)
    best = chosen.trial if chosen is not None else best_trial(trials, metric.direction)
    ensemble: Ensemble | None = None
    champion = None
    try:
        if plan.search.ensemble and plan.dataset is not None:
            ensemble = _ensemble(finalists, plan)
        tracker.set_tags(_summary_tags(plan, stop_reason, best, finalists, chosen, ensemble))
        if plan.registration is not None and plan.dataset is not None and best is not None:
            champion = conclude(
                client=tracker.client,
                tracking_uri=tracker.tracking_uri,
                registry_uri=registry_uri(
                    plan.spec.tracking.registry_uri if plan.spec is not None else None, tracker.tracking_uri
                ),
                registration=plan.registration,
                best=best,
                dataset=plan.dataset,
                metric=metric,
                sweep_run_id=tracker.parent_run_id,
                ensemble=ensemble.members if ensemble is not None and ensemble.chosen else None,
                refit_missing=plan.spec is not None and plan.spec.tracking.log_models == "improving",
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
        if plan.spec is not None:  # drawn once, while the executor shuts down; a figure that fails only warns
            draw_sweep_figures(
                FigureInputs(tracker.tracking_uri, tracker.parent_run_id, plan.spec, plan.dataset, champion)
            )
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
        tracking_uri=tracker.tracking_uri,
        task=plan.task,
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


def _summary_tags(
    plan: SweepPlan,
    stop_reason: str,
    best: TrialResult | None,
    finalists: list[Finalist],
    chosen: Finalist | None,
    ensemble: Ensemble | None,
) -> dict[str, str]:
    """The parent run's record of how the sweep ended: why it stopped, its best trial, finalists and ensemble."""
    tags = {TAG_STOP_REASON: stop_reason, **plan.final_tags}
    if best is None:
        return tags
    tags.update({"sparksweep.best_trial_run_id": best.run_id, "sparksweep.best_family": best.family})
    if finalists:
        tags["sparksweep.finalists"] = _finalists_text(finalists, chosen)
    if ensemble is not None:
        head = "chosen" if ensemble.chosen else "not chosen"
        tags["sparksweep.ensemble"] = (
            f"{head}: {ensemble.describe()}; {plan.metric.name} {ensemble.score:.6g} on the finalists' folds, "
            f"best single {ensemble.single_score:.6g}"
        )
    return tags


def _ensemble(finalists: list[Finalist], plan: SweepPlan) -> Ensemble | None:
    """The finalists' best weighted average on their out-of-fold predictions (the rows in the order CV concatenates
    them: the training rows, then the validation rows); its members are the finalists' trials."""
    import numpy as np

    dataset = cast(Any, plan.dataset)
    scored = [replace(f.trial, predictions=f.rescored.predictions) for f in finalists if f.value is not None]
    y = np.concatenate([np.asarray(dataset.training.y_train), np.asarray(dataset.training.y_valid)])
    held = None
    if dataset.training.time_ordered:  # forward-chaining folds never score their first block of rows (left NaN)
        predicted = [np.asarray(t.predictions, dtype=np.float64) for t in scored if t.predictions is not None]
        if predicted:
            held = np.any([np.isfinite(p).reshape(len(y), -1).all(axis=1) for p in predicted], axis=0)
    return select_ensemble(scored, y, plan.metric, held=held)


def _finalists_text(finalists: list[Finalist], chosen: Finalist | None) -> str:
    """The parent run's record of the finalists: each trial with its search score and its fresh-fold score."""
    parts = [
        f"trial {f.trial.number} {f.trial.family} {f.trial.value:.6g} -> "
        + ("not scored" if f.value is None else f"{f.value:.6g}")
        for f in finalists
    ]
    head = "none scored on fresh folds" if chosen is None else f"chose trial {chosen.trial.number}"
    return f"{head}: " + "; ".join(parts)
