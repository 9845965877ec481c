"""Finalists: the sweep's best trials scored again by k-fold CV on a fresh partition of the rows, so that the
champion is chosen on scores its own selection did not flatter.

Every trial of a CV sweep is scored on the same folds (their fold scores pair up), so after hundreds of trials the
best of them is, in part, the one luckiest on those folds: its CV score is biased upwards by the selection (the
winner's curse), and the more trials, the more. On scikit-learn's diabetes, a 60 s sweep's best CV trial (LightGBM,
RMSE 54.6 on the search folds) scored 55.3-56.0 on fresh folds and 57.7 on the test rows, while a linear model 1.3
behind it on the search folds scored 55.2-55.3 on fresh folds and 54.5 on the test rows.

With ``search.finalists: N`` the engine keeps back, from a timeout, the time N such trials take; the trials within
one standard error of the best (its fold-to-fold standard deviation over the root of the folds: the classical
one-standard-error rule), the best of each family first, are then scored again on folds drawn with another seed,
each in a child run of the sweep tagged ``sparksweep.kind=rescore``; the champion is the finalist best on those
fresh scores, which no trial was selected on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sparksweep.metrics import Direction
from sparksweep.trial import TrialResult, TrialState

__all__ = [
    "FINALISTS_SHARE",
    "HANDOVER",
    "RESCORE_SEED_OFFSET",
    "Finalist",
    "affordable",
    "choose_finalist",
    "finalist_time",
    "pick_finalists",
]

RESCORE_SEED_OFFSET = 7919
"""Added to the sweep's seed for the finalists' folds: a partition none of the search's trials was scored on."""


FINALISTS_SHARE = 0.25
"""At most this share of a sweep's timeout is kept back for its finalists (see :func:`affordable`)."""
HANDOVER = 1.0
"""Seconds added to the finalists' time for handing them out and recording them. In 60 s sweeps of the search-quality
benchmark with none, a finalist of a few tenths of a second was still cut off by the timeout on diabetes."""


@dataclass(frozen=True)
class Finalist:
    """A trial the sweep scored again on fresh folds, and that re-scoring's outcome."""

    trial: TrialResult
    rescored: TrialResult
    """The re-scoring run's result: its ``value`` is the mean over the fresh folds (None: it failed or was killed)."""

    @property
    def value(self) -> float | None:
        """The finalist's score on the fresh folds; None when it was not scored there."""
        done = self.rescored.state is TrialState.COMPLETE
        return self.rescored.value if done else None


def _complete(trials: Sequence[TrialResult], direction: Direction) -> list[TrialResult]:
    """The completed trials, best first (ties: earlier first)."""
    done = [t for t in trials if t.state is TrialState.COMPLETE and t.value is not None and math.isfinite(t.value)]
    sign = -1.0 if direction is Direction.MAXIMIZE else 1.0
    return sorted(done, key=lambda t: (sign * (t.value or 0.0), t.number))


def _standard_error(best: TrialResult, metric: str) -> float:
    """The standard error of the best trial's CV mean: its fold-to-fold standard deviation over the root of its
    folds; infinite when the trial holds no fold scores (every completed trial is then within it)."""
    folds = 0
    while f"{metric}_fold_{folds}" in best.metrics:
        folds += 1
    sd = best.metrics.get(f"{metric}_cv_std")
    if folds < 2 or sd is None or not math.isfinite(sd):
        return math.inf
    return sd / math.sqrt(folds)


def pick_finalists(
    trials: Sequence[TrialResult], direction: Direction, metric: str, n: int, *, diverse: bool = False
) -> list[TrialResult]:
    """Up to ``n`` completed trials to score again: those within one standard error of the best trial's CV score,
    the best of each family first (in the order of their scores), then the next best of any family. ``diverse`` (an
    ensemble's finalists): the best of each family first whatever its score, then the others within the margin.

    Example:
        >>> from sparksweep.trial import TrialResult, TrialState
        >>> def trial(number, family, value):
        ...     metrics = {"rmse_fold_0": value - 1, "rmse_fold_1": value + 1, "rmse_cv_std": 2.0}
        ...     return TrialResult(number, "", family, {}, TrialState.COMPLETE, value, metrics)
        >>> trials = [trial(0, "lightgbm", 54.6), trial(1, "lightgbm", 54.7), trial(2, "sklearn.linear", 55.9),
        ...           trial(3, "xgboost", 58.0)]
        >>> [t.number for t in pick_finalists(trials, Direction.MINIMIZE, "rmse", 2)]
        [0, 2]
    """
    if n < 1:
        return []
    ranked = _complete(trials, direction)
    if not ranked:
        return []
    best = ranked[0]
    margin = _standard_error(best, metric)
    close = [t for t in ranked if abs((t.value or 0.0) - (best.value or 0.0)) <= margin]
    firsts: dict[str, TrialResult] = {}
    for trial in ranked if diverse else close:
        firsts.setdefault(trial.family, trial)
    picked = list(firsts.values())[:n]
    chosen = {t.number for t in picked}
    picked += [t for t in close if t.number not in chosen][: n - len(picked)]
    return picked


def finalist_time(picked: Sequence[TrialResult], slots: int, *, diverse: bool = False) -> float:
    """Seconds to keep back from a timeout for the finalists ``picked``: their trials' durations spread over the
    slots, plus the longest of them for the trials still running when the search stops (they finish first), plus
    :data:`HANDOVER` seconds; with ``diverse`` (an ensemble's finalists), also their refits after the sweep, one after
    another on all the rows (each a fold's fit time and a quarter: a fold fits on (k-1)/k of them)."""
    if not picked:
        return 0.0
    durations = [t.duration for t in picked]
    refits = 1.25 * sum(t.fit_time for t in picked) if diverse else 0.0
    return sum(durations) / max(1, slots) + max(durations) + HANDOVER + refits


def affordable(picked: Sequence[TrialResult], slots: int, limit: float, *, diverse: bool = False) -> list[TrialResult]:
    """The first of ``picked`` whose :func:`finalist_time` fits in ``limit`` seconds (at least the first one): on
    scikit-learn's digits, four finalists of slow families (10-class HistGradientBoosting, XGBoost) would have kept
    back 16 s of a 55 s sweep, and the search ran 8 trials."""
    kept = list(picked)
    while len(kept) > 1 and finalist_time(kept, slots, diverse=diverse) > limit:
        kept.pop()
    return kept


def choose_finalist(finalists: Sequence[Finalist], direction: Direction) -> Finalist | None:
    """The finalist best on the fresh folds (ties: the better search score first); None when none was scored."""
    scored = [f for f in finalists if f.value is not None]
    if not scored:
        return None
    order = {id(t): i for i, t in enumerate(_complete([f.trial for f in scored], direction))}
    sign = -1.0 if direction is Direction.MAXIMIZE else 1.0
    return min(scored, key=lambda f: (sign * (f.value or 0.0), order[id(f.trial)]))
