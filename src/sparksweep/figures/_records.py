"""A sweep as MLflow holds it, read back for its figures: the parent run, its trials, its finalists' re-scorings and
the version it registered. The same record serves a sweep that has just finished and an earlier one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sparksweep.metrics import Direction
from sparksweep.tracking import TAG_KIND, TAG_RESCORE_OF, child_runs, read_sweep_run, read_trials
from sparksweep.trial import TrialState

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from sparksweep.trial import TrialResult

__all__ = ["GateRecord", "Rescore", "SweepRecord", "read_sweep_record"]


@dataclass(frozen=True)
class Rescore:
    """A finalist's re-scoring on fresh folds: the trial run it scores again and the score it got (None: lost)."""

    run_id: str
    trial_run_id: str
    value: float | None


@dataclass(frozen=True)
class GateRecord:
    """The gate's decision as the parent run's tags hold it (see ``ChampionDecision.tags``)."""

    name: str
    version: str
    promoted: bool
    reason: str
    candidate_score: float | None
    champion_version: str | None
    champion_score: float | None
    gain: float | None
    interval: tuple[float, float] | None
    test_scores: dict[str, float]
    """The gate's threshold metrics on the test rows, by metric name."""


@dataclass(frozen=True)
class SweepRecord:
    """One sweep read back from MLflow."""

    run_id: str
    experiment_id: str
    run_name: str
    settings: dict[str, str]
    """The parent run's params: the sweep's settings as it recorded them."""
    metric: str
    direction: Direction
    task: str
    started: float
    """The parent run's start (epoch seconds)."""
    ended: float | None
    trials: tuple[TrialResult, ...]
    rescores: tuple[Rescore, ...]
    gate: GateRecord | None
    stop_reason: str | None

    @property
    def completed(self) -> list[TrialResult]:
        """The trials with a score, by trial number."""
        return [t for t in self.trials if t.state is TrialState.COMPLETE and t.value is not None]

    def best(self) -> TrialResult | None:
        """The completed trial with the best search score."""
        done = self.completed
        if not done:
            return None
        key = (lambda t: -(t.value or 0.0)) if self.direction is Direction.MAXIMIZE else (lambda t: t.value or 0.0)
        return min(done, key=key)


def _float(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    return float(text)


def _interval(text: str | None) -> tuple[float, float] | None:
    if not text:
        return None
    low, high = (float(part) for part in text.strip("[]").split(","))
    return low, high


def _gate(tags: dict[str, str], name: str | None) -> GateRecord | None:
    version = tags.get("sparksweep.registered_version")
    if not version or "sparksweep.gate" not in tags:
        return None
    prefix = "sparksweep.test."
    return GateRecord(
        name=name or "",
        version=version,
        promoted=tags["sparksweep.gate"] == "promoted",
        reason=tags.get("sparksweep.gate_reason", ""),
        candidate_score=_float(tags.get("sparksweep.gate_candidate_score")),
        champion_version=tags.get("sparksweep.gate_champion_version") or None,
        champion_score=_float(tags.get("sparksweep.gate_champion_score")),
        gain=_float(tags.get("sparksweep.gate_gain")),
        interval=_interval(tags.get("sparksweep.gate_interval")),
        test_scores={k[len(prefix) :]: float(v) for k, v in tags.items() if k.startswith(prefix)},
    )


def _rescores(runs: list[Any], metric: str) -> tuple[Rescore, ...]:
    """The finalists' re-scorings among a sweep's child runs."""
    out = []
    for run in (r for r in runs if r.data.tags.get(TAG_KIND) == "rescore"):
        value = run.data.metrics.get(metric) if run.info.status == "FINISHED" else None
        out.append(Rescore(run.info.run_id, run.data.tags.get(TAG_RESCORE_OF, ""), value))
    return tuple(sorted(out, key=lambda r: r.trial_run_id))


def read_sweep_record(client: MlflowClient, parent_run_id: str, registered_name: str | None = None) -> SweepRecord:
    """The sweep whose parent run is ``parent_run_id`` (a :class:`~sparksweep.errors.SpecError` when it is not one).

    ``registered_name``: the registered model the sweep's gate decided for (its sweep file's ``register.name``).

    Example:
        >>> record = read_sweep_record(MlflowClient("sqlite:///mlflow.db"), "3f2a...")  # doctest: +SKIP
        >>> record.best().value  # doctest: +SKIP
    """
    parent = read_sweep_run(client, parent_run_id)
    params = dict(parent.data.params)
    metric = params.get("metric", "")
    experiment_id = str(parent.info.experiment_id)
    runs = child_runs(client, experiment_id, parent_run_id)  # read once: the trials and the re-scorings
    trials = read_trials(client, experiment_id, parent_run_id, metric, runs=runs)
    tags = dict(parent.data.tags)
    return SweepRecord(
        run_id=parent_run_id,
        experiment_id=experiment_id,
        run_name=parent.info.run_name or parent_run_id,
        settings=params,
        metric=metric,
        direction=Direction(params.get("direction", "maximize")),
        task=params.get("task", ""),
        started=(parent.info.start_time or 0) / 1000,
        ended=None if parent.info.end_time is None else parent.info.end_time / 1000,
        trials=tuple(trials),
        rescores=_rescores(runs, metric),
        gate=_gate(tags, registered_name),
        stop_reason=tags.get("sparksweep.stop_reason"),
    )
