"""What a sweep learns from the store before it starts: an earlier run of itself (a resume: its sweep file, its
trials, the time it spent, whether it had finished) or another sweep's trials (a warm start), with their checks."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from sparksweep.errors import DataError, SpecError
from sparksweep.metrics import Direction
from sparksweep.spec import DEFAULT_TRACKING_URI, validate_spec
from sparksweep.sweep._ranking import best_trial
from sparksweep.sweep._result import SweepResult
from sparksweep.sweep._space import build_space
from sparksweep.tracking import (
    ELAPSED_METRIC,
    TAG_DATA_PATH,
    TAG_STOP_REASON,
    prepare_store,
    read_spec_yaml,
    read_sweep_run,
    read_trials,
    resolve_tracking_uri,
)
from sparksweep.trial import TrialResult, TrialState

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mlflow import MlflowClient

    from sparksweep.data import Dataset, DataSpec
    from sparksweep.metrics import Metric
    from sparksweep.space import SearchSpace
    from sparksweep.spec import SweepSpec

__all__ = [
    "Resume",
    "check_fingerprint",
    "check_split_columns",
    "read_resume",
    "recorded_result",
    "store_uri",
    "told",
    "warm_trials",
]


def store_uri(tracking_uri: str | None) -> str:
    """The tracking store a front door was given, else ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``."""
    return resolve_tracking_uri(tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI)


@dataclass(frozen=True)
class Resume:
    """What an earlier run of the same sweep left in MLflow."""

    parent: Any
    """Its parent run (an :class:`mlflow.entities.Run`)."""
    metric: str
    elapsed: float
    """The time the sweep ran before (logged with each finished trial), not the wall clock since it started."""

    @property
    def parent_run_id(self) -> str:
        return str(self.parent.info.run_id)

    @property
    def finished(self) -> bool:
        """Whether that run went to its end (its champion, if any, registered): resuming it changes nothing."""
        return bool(self.parent.info.status == "FINISHED")

    def read(self, client: MlflowClient, space: SearchSpace | None, *, curves: bool = False) -> list[TrialResult]:
        """Its trials, typed by ``space`` (with their per-round scores if ``curves``)."""
        experiment_id = self.parent.info.experiment_id
        return read_trials(client, experiment_id, self.parent_run_id, self.metric, space=space, curves=curves)


def read_resume(parent_run_id: str, tracking_uri: str, has_data: bool) -> tuple[SweepSpec, Resume]:
    """The sweep file recorded on ``parent_run_id`` (its store set to ``tracking_uri``; its data path, when it moved
    and the parent recorded where it was read from, set to that) and what the run left."""
    client = prepare_store(tracking_uri)
    parent = read_sweep_run(client, parent_run_id)
    raw = yaml.safe_load(read_spec_yaml(client, parent_run_id))
    spec = validate_spec(raw, source=f"the sweep file recorded on run {parent_run_id}").with_overrides(
        **{"tracking.uri": tracking_uri}
    )
    if not has_data and spec.data.path is not None and not Path(spec.data.path).exists():
        recorded = parent.data.tags.get(TAG_DATA_PATH)
        if recorded and Path(recorded).exists():
            spec = spec.with_overrides(**{"data.path": recorded})
    metric = parent.data.params.get("metric") or spec.metric or ""
    elapsed = float(parent.data.metrics.get(ELAPSED_METRIC, 0.0))
    return spec, Resume(parent, metric, elapsed)


def check_fingerprint(recorded: str | None, dataset: Dataset, run_id: str) -> None:
    """Refuse to resume sweep ``run_id`` on data other than it ran on."""
    if recorded and recorded != dataset.fingerprint:
        raise DataError(
            f"the data differs from what sweep {run_id} was run on (fingerprint {dataset.fingerprint} vs recorded "
            f"{recorded}); resume with the same data, or start a new sweep (warm_start: {run_id} reuses its trials)"
        )


def check_split_columns(params: Mapping[str, str], data: DataSpec, run_id: str) -> None:
    """Refuse to resume sweep ``run_id`` (its parent run's ``params``) with another ``data.time_column`` or
    ``data.group_column`` than it ran with: its trials were scored on another split."""
    for key, now in (("time_column", data.time_column), ("group_column", data.group_column)):
        recorded = params.get(key, "None")  # a sweep from before these keys split neither way
        if recorded != str(now):
            before = "without data." + key if recorded == "None" else f"with data.{key} {recorded!r}"
            this = "none" if now is None else repr(now)
            raise DataError(
                f"sweep {run_id} split its rows {before}, and this run has data.{key} {this}; its trials were "
                f"scored on another split. Resume {before}, or start a new sweep (warm_start: {run_id} reuses its "
                "trials)"
            )


def warm_trials(client: MlflowClient, run_id: str, space: SearchSpace, metric: Metric) -> list[TrialResult]:
    """The finished trials of the earlier sweep ``run_id`` to learn from, checked against this sweep's space and
    metric."""
    parent = read_sweep_run(client, run_id)
    their_metric = parent.data.params.get("metric")
    if their_metric != metric.name:
        raise SpecError(
            f"search.warm_start: sweep {run_id} optimized {their_metric!r}, this one optimizes {metric.name!r}; "
            "warm-start from a sweep with the same metric"
        )
    try:
        recorded = read_trials(client, parent.info.experiment_id, run_id, metric.name, space=space)
    except SpecError as exc:
        raise SpecError(
            f"search.warm_start: {exc}. Warm-start from a sweep over the same families and ranges (or widen "
            "search.space)"
        ) from None
    return told(recorded)


def told(trials: list[TrialResult]) -> list[TrialResult]:
    """The trials read back that a search algorithm learns from: described, and finished other than killed."""
    return [t for t in trials if t.described and t.state not in (TrialState.RUNNING, TrialState.KILLED)]


def recorded_result(spec: SweepSpec, resume: Resume, tracking_uri: str) -> SweepResult:
    """The result of a sweep that went to its end, read back from the store without writing to it: what resuming
    it returns (running nothing, registering nothing). Its champion decision is in the parent run's tags
    (``sparksweep.gate``, ``sparksweep.registered_version``), not in :attr:`SweepResult.champion`."""
    parent = resume.parent
    params, tags = parent.data.params, parent.data.tags
    task = params.get("task") or spec.task or ""
    space = build_space(spec.models, task, spec.search.space)
    trials = resume.read(prepare_store(tracking_uri), space)
    direction = Direction(params.get("direction", Direction.MINIMIZE.value))
    best_id = tags.get("sparksweep.best_trial_run_id")
    best = next((t for t in trials if t.run_id == best_id), None) or best_trial(trials, direction)
    return SweepResult(
        sweep_run_id=resume.parent_run_id,
        experiment_id=parent.info.experiment_id,
        tracking_uri=tracking_uri,
        task=task,
        metric=resume.metric,
        direction=direction,
        trials=trials,
        best=best,
        champion=None,
        duration=resume.elapsed,
        stop_reason=tags.get(TAG_STOP_REASON, "n_trials"),
    )
