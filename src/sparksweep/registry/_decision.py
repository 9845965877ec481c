"""The decision on a candidate: its predictions and the current champion's on the same test rows, put through the
gate (:mod:`sparksweep.registry._gate`), and the :class:`ChampionDecision` that records the verdict."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sparksweep.registry._aliases import CHAMPION, version_model_uri
from sparksweep.registry._gate import GateResult, judge
from sparksweep.scoring import load_model, match_columns, model_input_types, pandas_column_types

if TYPE_CHECKING:
    import numpy.typing as npt
    import pandas as pd
    from mlflow.entities.model_registry import ModelVersion

    from sparksweep.data import Dataset
    from sparksweep.metrics import Metric
    from sparksweep.spec import RegisterSpec

__all__ = ["ChampionDecision", "decision_from_gate", "evaluate_model", "gate_candidate", "predict"]


@dataclass(frozen=True)
class ChampionDecision:
    """What the gate decided for a candidate version, with the scores and the reason behind it."""

    name: str
    version: str
    promoted: bool
    alias: str | None
    metric: str
    candidate_score: float
    champion_score: float | None
    champion_version: str | None
    reason: str
    forced: bool = False
    gain: float | None = None
    interval: tuple[float, float] | None = None
    threshold_scores: dict[str, float] = field(default_factory=dict)
    schema_changed: bool = False
    refit: bool = False
    gains: npt.NDArray[np.float64] | None = field(default=None, repr=False, compare=False)
    """The gate's bootstrap resamples of the gain (None without ``confidence``): what the gate's figure draws."""

    def tags(self) -> dict[str, str]:
        """The decision as tags (for the model version and the sweep's parent run)."""
        out = {
            "sparksweep.gate": "promoted" if self.promoted else "rejected",
            "sparksweep.gate_reason": self.reason[:4900],
            "sparksweep.gate_forced": str(self.forced).lower(),
            "sparksweep.gate_metric": self.metric,
            "sparksweep.gate_candidate_score": repr(self.candidate_score),
            "sparksweep.gate_champion_version": self.champion_version or "",
            "sparksweep.gate_champion_score": "" if self.champion_score is None else repr(self.champion_score),
            "sparksweep.gate_gain": "" if self.gain is None else repr(self.gain),
            "sparksweep.gate_schema_changed": str(self.schema_changed).lower(),
        }
        if self.interval is not None:
            out["sparksweep.gate_interval"] = f"[{self.interval[0]!r}, {self.interval[1]!r}]"
        for metric, score in self.threshold_scores.items():
            out[f"sparksweep.test.{metric}"] = repr(score)
        return out


def decision_from_gate(
    gate: GateResult,
    *,
    name: str,
    version: str,
    current: ModelVersion | None,
    metric: str,
    force: bool,
    schema_changed: bool,
    rejected_alias: str | None,
    refit: bool = False,
) -> ChampionDecision:
    """The decision the gate's verdict makes: promoted when it passed or ``force``; a rejected candidate gets
    ``rejected_alias``."""
    promoted = gate.passed or force
    forced = promoted and not gate.passed
    return ChampionDecision(
        name=name,
        version=version,
        promoted=promoted,
        alias=CHAMPION if promoted else rejected_alias,
        metric=metric,
        candidate_score=gate.candidate_score,
        champion_score=gate.champion_score,
        champion_version=None if current is None else str(current.version),
        reason=f"forced: {gate.reason}" if forced else gate.reason,
        forced=forced,
        gain=gate.gain,
        interval=gate.interval,
        threshold_scores=gate.threshold_scores,
        schema_changed=schema_changed,
        refit=refit,
        gains=gate.gains,
    )


def predict(model: Any, X: pd.DataFrame) -> npt.NDArray[np.float64]:
    """A pyfunc model's predictions on ``X`` as floats."""
    return np.asarray(model.predict(X), dtype=np.float64)


def evaluate_model(model: Any, dataset: Dataset, metric: Metric) -> float:
    """Score a pyfunc model on the data set's test split with ``metric``."""
    return metric(dataset.y_test, predict(model, dataset.X_test))


def _champion_predictions(
    current: ModelVersion, dataset: Dataset, tracking_uri: str, shape: tuple[int, ...]
) -> tuple[npt.NDArray[np.float64] | None, str | None]:
    """The current champion's predictions on the test rows, or why it cannot make them (its schema changed)."""
    model = load_model(version_model_uri(current), tracking_uri)
    match = match_columns(model_input_types(model), pandas_column_types(dataset.X_test))
    if not match.ok:
        return None, (
            f"the champion v{current.version} was trained on other features: the test rows {match.problems()}"
        )
    try:
        predictions = predict(model, dataset.X_test)
    except Exception as exc:  # reported in the decision; the champion stays unless the promotion is forced
        return None, f"the champion v{current.version} cannot score the test rows: {type(exc).__name__}: {exc}"
    if predictions.shape != shape:
        return None, (
            f"the champion v{current.version} predicts shape {predictions.shape} on the test rows, the candidate "
            f"{shape}: it was trained for another task or other classes"
        )
    return predictions, None


def gate_candidate(
    name: str,
    current: ModelVersion | None,
    candidate: npt.NDArray[np.float64],
    dataset: Dataset,
    metric: Metric,
    registration: RegisterSpec,
    tracking_uri: str,
) -> tuple[GateResult, bool]:
    """The gate's verdict on ``candidate``'s test predictions against the ``current`` champion of ``name``, and
    whether the champion's schema no longer fits the data."""
    if current is None:
        return judge(metric, registration, dataset.y_test, candidate, None, task=dataset.task), False
    champion, problem = _champion_predictions(current, dataset, tracking_uri, candidate.shape)
    if problem is not None:
        alone = judge(metric, registration, dataset.y_test, candidate, None, task=dataset.task)
        force = "promoted because the promotion is forced" if registration.force else "promote it with --force"
        return dataclasses.replace(alone, passed=False, reason=f"schema changed: {problem}; {force}"), True
    result = judge(
        metric, registration, dataset.y_test, candidate, champion, task=dataset.task, champion_version=current.version
    )
    fingerprint = current.tags.get("sparksweep.data_fingerprint")
    if fingerprint and fingerprint != dataset.fingerprint:
        note = f" (the champion was trained on other data, fingerprint {fingerprint}: its training rows may overlap)"
        result = dataclasses.replace(result, reason=result.reason + note)
    return result, False
