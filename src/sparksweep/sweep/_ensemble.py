"""An ensemble of finalists: a weighted average of their predictions, chosen by greedy forward selection with
replacement on their out-of-fold predictions (Caruana et al., "Ensemble selection from libraries of models", 2004;
what auto-sklearn and AutoGluon do).

With ``search.ensemble: true`` the finalists (:mod:`sparksweep.sweep._finalists`: then the best trial of each
family first, whatever its score, so the ensemble has different kinds of model to draw on) are scored on the same
fresh folds and hand back each row's held-out prediction. The selection starts from the best finalist and adds, one
round at a time, the finalist (again or anew) whose addition makes the average score best; a finalist added m times
of M rounds weighs m / M. The ensemble becomes the champion when it beats the best single finalist on those
predictions; otherwise the single finalist does. Averaging models whose errors differ cancels part of each one's
errors: on breast cancer, the search's folds cannot tell extra trees from LightGBM (5-fold AUCs 0.997 and 0.995) while
the test rows can (0.978 and 0.989), and an average hedges between them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sparksweep.trial import TrialResult

if TYPE_CHECKING:
    import numpy.typing as npt

    from sparksweep.metrics import Metric

__all__ = ["ENSEMBLE_ROUNDS", "Ensemble", "select_ensemble"]

ENSEMBLE_ROUNDS = 20
"""Rounds of the greedy selection: weights are multiples of 1/20."""


@dataclass(frozen=True)
class Ensemble:
    """Finalists and their weights (summing to 1), with the scores the choice was made on."""

    members: list[tuple[TrialResult, float]]
    score: float
    """The weighted average's score on the finalists' shared out-of-fold predictions."""
    single_score: float
    """The best single finalist's score on the same predictions."""

    @property
    def chosen(self) -> bool:
        """Whether the average beats the best single finalist (it has more than one member then)."""
        return len(self.members) > 1

    def describe(self) -> str:
        """The members and weights, e.g. ``trial 12 lightgbm 0.6, trial 3 sklearn.linear 0.4``."""
        return ", ".join(f"trial {t.number} {t.family} {w:.2f}" for t, w in self.members)


def select_ensemble(
    finalists: Sequence[TrialResult],
    y: npt.NDArray[np.generic],
    metric: Metric,
    rounds: int = ENSEMBLE_ROUNDS,
    held: npt.NDArray[np.bool_] | None = None,
) -> Ensemble | None:
    """Greedy forward selection with replacement over ``finalists``' out-of-fold predictions of ``y`` (their
    ``predictions``; finalists without them are left out). None when no finalist has any.

    ``held``: the rows the folds scored, when not all of them (forward-chaining folds, ``data.time_column``, never
    score their first block of rows); the selection is made on those rows alone.

    Example:
        >>> from sparksweep.metrics import get_metric
        >>> from sparksweep.trial import TrialState
        >>> y = np.array([0.0, 1.0, 2.0, 3.0])
        >>> high = TrialResult(0, "", "a", {}, TrialState.COMPLETE, 0.5, predictions=y + 0.5)
        >>> low = TrialResult(1, "", "b", {}, TrialState.COMPLETE, 0.5, predictions=y - 0.5)
        >>> ensemble = select_ensemble([high, low], y, get_metric("rmse"))
        >>> [(t.family, w) for t, w in ensemble.members], ensemble.score, ensemble.single_score
        ([('a', 0.5), ('b', 0.5)], 0.0, 0.5)
    """
    rows = np.ones(len(y), dtype=bool) if held is None else held
    pool = [t for t in finalists if t.predictions is not None and np.all(np.isfinite(t.predictions[rows]))]
    if not pool or not rows.any():
        return None
    y = y[rows]
    predictions = [np.asarray(t.predictions, dtype=np.float64)[rows] for t in pool]
    direction = metric.direction
    scores = [float(metric(y, p)) for p in predictions]
    first = 0
    for i, score in enumerate(scores):
        if direction.better(score, scores[first]):
            first = i
    counts = [0] * len(pool)
    counts[first] = 1
    total = predictions[first].copy()
    best_score, kept = scores[first], list(counts)
    for size in range(2, rounds + 1):
        choice, choice_score = -1, math.nan
        for i, predicted in enumerate(predictions):
            score = float(metric(y, (total + predicted) / size))
            if choice < 0 or direction.better(score, choice_score):
                choice, choice_score = i, score
        counts[choice] += 1
        total += predictions[choice]
        if direction.better(choice_score, best_score):  # the ensemble kept is the best size seen, not the last
            best_score, kept = choice_score, list(counts)
    size = sum(kept)
    members = [(pool[i], kept[i] / size) for i in range(len(pool)) if kept[i]]
    members.sort(key=lambda m: -m[1])
    return Ensemble(members=members, score=best_score, single_score=scores[first])
