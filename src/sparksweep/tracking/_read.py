"""Reading a sweep back from MLflow: its parent run, its recorded file and its trials (resume, warm start)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparksweep.errors import SpecError
from sparksweep.space import FAMILY_PARAM
from sparksweep.trial import PastTrial, TrialResult, TrialState

if TYPE_CHECKING:
    from mlflow import MlflowClient
from sparksweep.tracking._names import (
    _PARAM_LIMIT,
    SPEC_ARTIFACT,
    STATE_LOST,
    TAG_ERROR,
    TAG_KIND,
    TAG_MODEL_URI,
    TAG_PARENT,
    TAG_SEARCHED,
    TAG_STATE,
    TAG_TRIAL_NUMBER,
)


def _param_text(value: Any) -> str:
    return str(value)[:_PARAM_LIMIT]


@dataclass(frozen=True)
class RecordedTrial:
    """A trial's child run as MLflow holds it: what resume and warm start read back."""

    run_id: str
    number: int
    family: str
    params: dict[str, str]
    """The searched hyperparameters (strings, as MLflow stores params); autologged settings are left out."""
    state: TrialState
    value: float | None
    model_uri: str | None
    started: float
    ended: float | None
    error: str | None
    lost: bool = False
    """It died with its driver (or was still RUNNING when read): not counted in the budget on resume."""
    intermediate: dict[int, float] = field(default_factory=dict)
    """Its per-round validation scores (``valid_<metric>``), read only when a pruner needs them."""

    @property
    def described(self) -> bool:
        """Whether its family and hyperparameters were recorded: a worker that died between creating the run and
        logging its params leaves a run with neither, which tells a search algorithm nothing."""
        return bool(self.family)

    def to_past(self, space: Any) -> PastTrial:
        """Typed by ``space`` (:meth:`SearchSpace.check` raises when the trial does not fit it)."""
        return PastTrial(
            number=self.number,
            family=self.family,
            params=space.check(self.family, self.params),
            state=self.state,
            value=self.value,
            run_id=self.run_id,
        )

    def to_result(self, space: Any) -> TrialResult:
        return TrialResult(
            number=self.number,
            run_id=self.run_id,
            family=self.family,
            params=space.check(self.family, self.params) if self.described else {},
            state=self.state,
            value=self.value,
            error=self.error,
            model_uri=self.model_uri,
            duration=0.0 if self.ended is None else self.ended - self.started,
            intermediate=dict(self.intermediate),
        )


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


def read_trials(
    client: MlflowClient, experiment_id: str, parent_run_id: str, metric: str, *, curves: bool = False
) -> list[RecordedTrial]:
    """Every child run of the sweep ``parent_run_id``, by trial number (with their per-round scores if ``curves``)."""
    from mlflow.entities import ViewType

    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{TAG_PARENT}` = '{parent_run_id}'",
            run_view_type=ViewType.ALL,
            max_results=1000,
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            break
    out = []
    for run in runs:
        tags = run.data.tags
        if TAG_TRIAL_NUMBER not in tags:
            continue
        family = run.data.params.get(FAMILY_PARAM, "")
        searched = tags.get(TAG_SEARCHED)
        names = searched.split(",") if searched else [k for k in run.data.params if k != FAMILY_PARAM]
        state = _trial_state(run)
        value = run.data.metrics.get(metric) if state is TrialState.COMPLETE else None
        out.append(
            RecordedTrial(
                run_id=run.info.run_id,
                number=int(tags[TAG_TRIAL_NUMBER]),
                family=family,
                params={k: run.data.params[k] for k in names if k and k in run.data.params},
                state=state,
                value=value,
                model_uri=tags.get(TAG_MODEL_URI),
                started=(run.info.start_time or 0) / 1000,
                ended=None if run.info.end_time is None else run.info.end_time / 1000,
                error=tags.get(TAG_ERROR),
                lost=state is TrialState.RUNNING or tags.get(TAG_STATE) == STATE_LOST,
                intermediate=_curve(client, run, metric) if curves and state.is_finished else {},
            )
        )
    return sorted(out, key=lambda t: t.number)
