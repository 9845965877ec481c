"""Reading a sweep back from MLflow: its parent run, its recorded file and its trials as :class:`TrialResult`
(resume, warm start); the only place that parses the fold scores back out of their metric names."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparksweep.errors import SpecError
from sparksweep.space import FAMILY_PARAM
from sparksweep.tracking._names import (
    _PARAM_LIMIT,
    COMPUTE_TIME_METRIC,
    SPEC_ARTIFACT,
    STATE_LOST,
    TAG_ERROR,
    TAG_KIND,
    TAG_MODEL_URI,
    TAG_PARENT,
    TAG_SEARCHED,
    TAG_SLOT,
    TAG_STATE,
    TAG_TRIAL_NUMBER,
)
from sparksweep.trial import TrialResult, TrialState

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from sparksweep.space import SearchSpace


def _param_text(value: Any) -> str:
    return str(value)[:_PARAM_LIMIT]


def read_sweep_run(client: MlflowClient, run_id: str) -> Any:
    """The parent run of a sweep, or :class:`SpecError` saying what ``run_id`` is instead."""
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise SpecError(
            f"no MLflow run {run_id!r} in the tracking store; give the parent run id of a sweep "
            "(the `parent run` the sweep printed, or the run tagged sparksweep.kind=sweep)"
        ) from None
    kind = run.data.tags.get(TAG_KIND)
    if kind != "sweep":
        raise SpecError(
            f"run {run_id!r} is not a sweep's parent run (its {TAG_KIND} tag is {kind!r}); "
            f"for a trial run, use its parent: {run.data.tags.get(TAG_PARENT)!r}"
        )
    return run


def _curve(client: MlflowClient, run: Any, metric: str) -> dict[int, float]:
    name = f"valid_{metric}"
    if name not in run.data.metrics:
        return {}
    return {int(m.step): float(m.value) for m in client.get_metric_history(run.info.run_id, name)}


def read_spec_yaml(client: MlflowClient, run_id: str) -> str:
    """The sweep file recorded on a sweep's parent run."""
    with tempfile.TemporaryDirectory(prefix="sparksweep-spec-") as tmp:
        path = client.download_artifacts(run_id, SPEC_ARTIFACT, tmp)
        return Path(path).read_text()


def _trial_state(run: Any) -> TrialState:
    status = run.info.status
    if status == "FINISHED":
        return TrialState.COMPLETE
    if status == "FAILED":
        return TrialState.FAILED
    if status == "KILLED":
        return TrialState.PRUNED if run.data.tags.get(TAG_STATE) == "pruned" else TrialState.KILLED
    return TrialState.RUNNING


def child_runs(client: MlflowClient, experiment_id: str, parent_run_id: str, *, kind: str | None = None) -> list[Any]:
    """Every child run of ``parent_run_id`` (deleted ones too), page by page; with ``kind``, only those whose
    ``sparksweep.kind`` tag is ``kind`` (e.g. ``rescore``)."""
    from mlflow.entities import ViewType

    where = f"tags.`{TAG_PARENT}` = '{parent_run_id}'" + ("" if kind is None else f" and tags.`{TAG_KIND}` = '{kind}'")
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id], filter_string=where, run_view_type=ViewType.ALL, max_results=1000, page_token=token
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def read_trials(
    client: MlflowClient,
    experiment_id: str,
    parent_run_id: str,
    metric: str,
    *,
    space: SearchSpace | None = None,
    curves: bool = False,
    runs: list[Any] | None = None,
) -> list[TrialResult]:
    """Every child run of the sweep ``parent_run_id`` as a trial, by trial number.

    Args:
        metric: The sweep's metric: a completed trial's value, its fold scores (``<metric>_fold_<i>``) and, with
            ``curves``, its per-round scores (``valid_<metric>``) are read under its name.
        space: Types the hyperparameters by this space (:meth:`SearchSpace.check`; a trial that does not fit it
            raises :class:`SpecError` naming it); None leaves them the strings MLflow stores.
        curves: Also read each finished trial's per-round scores (what a pruner learns from).
        runs: The sweep's child runs when the caller has read them already (:func:`child_runs`): not read again.
    """
    if runs is None:
        runs = child_runs(client, experiment_id, parent_run_id)
    out = [_trial(client, run, metric, space, curves) for run in runs if TAG_TRIAL_NUMBER in run.data.tags]
    return sorted(out, key=lambda t: t.number)


def _trial(client: MlflowClient, run: Any, metric: str, space: SearchSpace | None, curves: bool) -> TrialResult:
    tags, metrics = run.data.tags, run.data.metrics
    number = int(tags[TAG_TRIAL_NUMBER])
    family = run.data.params.get(FAMILY_PARAM, "")
    searched = tags.get(TAG_SEARCHED)
    names = searched.split(",") if searched else [k for k in run.data.params if k != FAMILY_PARAM]
    params: dict[str, Any] = {k: run.data.params[k] for k in names if k and k in run.data.params}
    if space is not None:
        try:
            params = space.check(family, params) if family else {}
        except SpecError as exc:
            raise SpecError(
                f"trial {number} of sweep {tags.get(TAG_PARENT)} does not fit this sweep's space: {exc}"
            ) from None
    state = _trial_state(run)
    started = (run.info.start_time or 0) / 1000
    return TrialResult(
        number=number,
        run_id=run.info.run_id,
        family=family,
        params=params,
        state=state,
        value=metrics.get(metric) if state is TrialState.COMPLETE else None,
        duration=0.0 if run.info.end_time is None else run.info.end_time / 1000 - started,
        error=tags.get(TAG_ERROR),
        model_uri=tags.get(TAG_MODEL_URI),
        intermediate=_curve(client, run, metric) if curves and state.is_finished else {},
        fold_scores=_fold_scores(metrics, metric),
        lost=state is TrialState.RUNNING or tags.get(TAG_STATE) == STATE_LOST,
        started=started,
        ended=None if run.info.end_time is None else run.info.end_time / 1000,
        slot=_slot(tags.get(TAG_SLOT)),
        compute_time=metrics.get(COMPUTE_TIME_METRIC),
    )


def _slot(text: str | None) -> int | None:
    """The ``sparksweep.slot`` tag as a slot index; None when absent or not a non-negative integer."""
    return int(text) if text is not None and text.isdigit() else None


def _fold_scores(metrics: dict[str, float], metric: str) -> tuple[float, ...]:
    """The CV fold scores a trial's run holds as the metrics ``<metric>_fold_<i>``, in fold order."""
    scores: list[float] = []
    while f"{metric}_fold_{len(scores)}" in metrics:
        scores.append(float(metrics[f"{metric}_fold_{len(scores)}"]))
    return tuple(scores)
