"""The data behind the gate's figure: the paired bootstrap of the candidate's gain over the champion against
``min_improvement``, or, with no champion to beat, the candidate's test scores against the thresholds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sparksweep.registry import paired_bootstrap

if TYPE_CHECKING:
    import numpy.typing as npt

    from sparksweep.figures._records import GateRecord
    from sparksweep.metrics import Metric
    from sparksweep.spec import RegisterSpec

__all__ = ["GateView", "ThresholdView", "bootstrap_gains", "gate_view"]


@dataclass(frozen=True)
class ThresholdView:
    text: str
    score: float | None
    holds: bool


@dataclass(frozen=True)
class GateView:
    """The gate's decision: its scores, the resampled gains (None without a champion) and the rules it applied."""

    metric: str
    version: str
    promoted: bool
    reason: str
    candidate_score: float | None
    champion_version: str | None
    champion_score: float | None
    gain: float | None
    min_improvement: float
    relative: bool
    confidence: float | None
    interval: tuple[float, float] | None
    gains: tuple[float, ...] | None
    thresholds: tuple[ThresholdView, ...]


def bootstrap_gains(
    metric: Metric,
    registration: RegisterSpec,
    y: npt.NDArray[np.generic],
    candidate: npt.NDArray[np.float64],
    champion: npt.NDArray[np.float64],
    task: str,
) -> npt.NDArray[np.float64]:
    """The resamples the gate draws (the same seed and settings as ``judge``), for a gate that ran without
    ``confidence`` or a decision read back from MLflow."""
    return paired_bootstrap(
        metric,
        y,
        candidate,
        champion,
        samples=registration.bootstrap_samples,
        relative=registration.improvement == "relative",
        stratify=task != "regression",
    )


def gate_view(
    metric: str, gate: GateRecord, registration: RegisterSpec, gains: npt.NDArray[np.float64] | None
) -> GateView:
    thresholds = tuple(
        ThresholdView(str(t), gate.test_scores.get(t.metric), t.holds(gate.test_scores[t.metric]))
        if t.metric in gate.test_scores
        else ThresholdView(str(t), None, False)
        for t in registration.thresholds
    )
    return GateView(
        metric=metric,
        version=gate.version,
        promoted=gate.promoted,
        reason=gate.reason,
        candidate_score=gate.candidate_score,
        champion_version=gate.champion_version,
        champion_score=gate.champion_score,
        gain=gate.gain,
        min_improvement=registration.min_improvement,
        relative=registration.improvement == "relative",
        confidence=registration.confidence,
        interval=gate.interval,
        gains=None if gains is None else tuple(float(g) for g in np.asarray(gains)),
        thresholds=thresholds,
    )
