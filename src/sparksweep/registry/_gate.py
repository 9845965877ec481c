"""The gate: does a candidate beat the current champion on the same held-out rows, by enough, with confidence?

Pure computation on predictions (no MLflow), so every rule is tested without a registry.

Example:
    >>> import numpy as np
    >>> from sparksweep.spec import RegisterSpec
    >>> from sparksweep.metrics import get_metric
    >>> y = np.array([0, 0, 1, 1] * 25)
    >>> good, bad = y * 0.8 + 0.1, np.full(100, 0.5)
    >>> judge(get_metric("auc_roc"), RegisterSpec(name="m"), y, good, bad, task="binary").passed
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from sparksweep.metrics import get_metric

if TYPE_CHECKING:
    import numpy.typing as npt

    from sparksweep.metrics import Metric
    from sparksweep.spec import RegisterSpec

__all__ = ["GateResult", "judge", "paired_bootstrap"]

BOOTSTRAP_SEED = 20261127


@dataclass(frozen=True)
class GateResult:
    """What the gate found: whether the candidate passes, the scores behind it and a one-line reason."""

    passed: bool
    reason: str
    candidate_score: float
    champion_score: float | None = None
    gain: float | None = None
    """The candidate's improvement over the champion (metric units, or a share when improvement is relative)."""
    interval: tuple[float, float] | None = None
    """The bootstrap interval of ``gain``: the one-sided lower bound at ``confidence`` and the matching upper bound."""
    threshold_scores: dict[str, float] = field(default_factory=dict)
    failed_thresholds: list[str] = field(default_factory=list)
    gains: npt.NDArray[np.float64] | None = field(default=None, repr=False, compare=False)
    """The paired bootstrap's resampled gains behind ``interval`` (None without ``confidence``): the gate's figure."""


def _resample(y: npt.NDArray[np.generic], rng: np.random.Generator, stratify: bool) -> npt.NDArray[np.int64]:
    if not stratify:
        return rng.integers(0, len(y), size=len(y))
    # Resampling within each class keeps every class present, so metrics such as AUC stay defined.
    parts = [rng.choice(np.flatnonzero(y == c), size=int(np.sum(y == c))) for c in np.unique(y)]
    return np.concatenate(parts)


def _rank_auc(y: npt.NDArray[np.generic], p: npt.NDArray[np.float64]) -> float:
    """ROC AUC by the Mann-Whitney rank sum (ties share their average rank): equal to scikit-learn's value, without
    its per-call input validation, which dominates a bootstrap's cost."""
    from scipy.stats import rankdata

    positive = np.asarray(y) == 1
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    ranks = rankdata(p)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _scorer(metric: Metric) -> Callable[[npt.NDArray[np.generic], npt.NDArray[np.float64]], float]:
    return _rank_auc if metric.name == "auc_roc" else metric


def _gain(metric: Metric, candidate: float, champion: float, relative: bool) -> float:
    gain = metric.direction.improvement(candidate, champion)
    if not relative:
        return gain
    if champion == 0:
        return 0.0 if gain == 0 else float(np.sign(gain) * np.inf)
    return gain / abs(champion)


def paired_bootstrap(
    metric: Metric,
    y: npt.NDArray[np.generic],
    candidate: npt.NDArray[np.float64],
    champion: npt.NDArray[np.float64],
    *,
    samples: int,
    relative: bool = False,
    stratify: bool = True,
    seed: int = BOOTSTRAP_SEED,
) -> npt.NDArray[np.float64]:
    """The candidate's gain over the champion on ``samples`` resamples of the same rows (paired: both models are
    scored on each resample), seeded so a decision can be reproduced."""
    rng = np.random.default_rng(seed)
    score = _scorer(metric)
    gains = np.empty(samples, dtype=np.float64)
    for i in range(samples):
        idx = _resample(y, rng, stratify)
        gains[i] = _gain(metric, score(y[idx], candidate[idx]), score(y[idx], champion[idx]), relative)
    return gains


def _threshold_scores(
    spec: RegisterSpec, y: npt.NDArray[np.generic], candidate: npt.NDArray[np.float64]
) -> tuple[dict[str, float], list[str]]:
    scores: dict[str, float] = {}
    failed: list[str] = []
    for threshold in spec.thresholds:
        score = scores.setdefault(threshold.metric, get_metric(threshold.metric)(y, candidate))
        if not threshold.holds(score):
            failed.append(f"{threshold} (got {score:.5f})")
    return scores, failed


def judge(
    metric: Metric,
    spec: RegisterSpec,
    y: npt.NDArray[np.generic],
    candidate: npt.NDArray[np.float64],
    champion: npt.NDArray[np.float64] | None,
    *,
    task: str,
    champion_version: str | None = None,
) -> GateResult:
    """Decide whether ``candidate`` (predictions on the test rows) may replace ``champion`` (predictions of the
    current champion on the same rows, or None when there is none).

    The candidate passes when every threshold in ``spec.thresholds`` holds and, against a champion, its gain is
    positive and at least ``spec.min_improvement`` (absolute, or relative to the champion's score); with
    ``spec.confidence`` set, the one-sided lower bound of a paired bootstrap of the gain must also exceed it.
    """
    candidate_score = metric(y, candidate)
    threshold_scores, failed = _threshold_scores(spec, y, candidate)
    failing = f"; fails the threshold(s) {', '.join(failed)}" if failed else ""
    if champion is None:
        return GateResult(
            passed=not failed,
            reason=f"no current champion; {metric.name} {candidate_score:.5f} on the test rows{failing}",
            candidate_score=candidate_score,
            threshold_scores=threshold_scores,
            failed_thresholds=failed,
        )
    relative = spec.improvement == "relative"
    champion_score = metric(y, champion)
    gain = _gain(metric, candidate_score, champion_score, relative)
    needed = spec.min_improvement
    unit = "relative" if relative else metric.name
    passed = gain > 0 and gain >= needed
    against = f"champion v{champion_version}" if champion_version else "champion"
    reason = (
        f"{metric.name} {candidate_score:.5f} vs {against} {champion_score:.5f}: gain {gain:+.5f} ({unit}), "
        f"needed > 0 and >= {needed:g}"
    )
    interval: tuple[float, float] | None = None
    gains: npt.NDArray[np.float64] | None = None
    if spec.confidence is not None:
        gains = paired_bootstrap(
            metric,
            y,
            candidate,
            champion,
            samples=spec.bootstrap_samples,
            relative=relative,
            stratify=task != "regression",
        )
        low, high = (float(v) for v in np.quantile(gains, [1 - spec.confidence, spec.confidence]))
        interval = (low, high)
        sure = low > 0 and low >= needed
        passed = passed and sure
        reason += (
            f"; paired bootstrap ({spec.bootstrap_samples} resamples) puts the gain at >= {low:+.5f} with "
            f"{spec.confidence:.0%} confidence ({'enough' if sure else 'not enough'})"
        )
    reason = f"{'better' if passed else 'not better enough'}: {reason}{failing}"
    return GateResult(
        passed=passed and not failed,
        reason=reason,
        candidate_score=candidate_score,
        champion_score=champion_score,
        gain=gain,
        interval=interval,
        threshold_scores=threshold_scores,
        failed_thresholds=failed,
        gains=gains,
    )
