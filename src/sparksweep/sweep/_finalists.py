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
from sparksweep.sweep._ranking import ranked
from sparksweep.trial import TrialResult, TrialState

__all__ = [
    "FINALISTS_SHARE",
    "HANDOVER",
    "RESCORE_SEED_OFFSET",
    "Finalist",
    "FinalistRound",
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
    by_number: list[TrialResult] = sorted(trials, key=lambda t: t.number)
    return ranked(by_number, direction)


def _standard_error(best: TrialResult) -> float:
    """The standard error of the best trial's CV mean: its fold-to-fold standard deviation over the root of its
    folds; infinite when the trial holds no fold scores (every completed trial is then within it)."""
    folds = best.fold_scores
    if len(folds) < 2:
        return math.inf
    mean = sum(folds) / len(folds)
    sd = math.sqrt(sum((v - mean) ** 2 for v in folds) / len(folds))
    return sd / math.sqrt(len(folds)) if math.isfinite(sd) else math.inf


def pick_finalists(
    trials: Sequence[TrialResult], direction: Direction, n: int, *, diverse: bool = False
) -> list[TrialResult]:
    """Up to ``n`` completed trials to score again: those within one standard error of the best trial's CV score,
    the best of each family first (in the order of their scores), then the next best of any family. ``diverse`` (an
    ensemble's finalists): the best of each family first whatever its score, then the others within the margin.

    Example:
        >>> from sparksweep.trial import TrialResult, TrialState
        >>> def trial(number, family, value):
        ...     folds = (value - 2, value + 2)
        ...     return TrialResult(number, "", family, {}, TrialState.COMPLETE, value, fold_scores=folds)
        >>> trials = [trial(0, "lightgbm", 54.6), trial(1, "lightgbm", 54.7), trial(2, "sklearn.linear", 55.9),
        ...           trial(3, "xgboost", 58.0)]
        >>> [t.number for t in pick_finalists(trials, Direction.MINIMIZE, 2)]
        [0, 2]
    """
    if n < 1:
        return []
    ranked = _complete(trials, direction)
    if not ranked:
        return []
    best = ranked[0]
    margin = _standard_error(best)
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


class FinalistRound:
    """One sweep's finalists as its results come in: which trials they are now, the time kept back from the
    timeout for them, and their re-scorings so far.

    Args:
        n: ``search.finalists``.
        direction: The metric's direction.
        slots: Trials the executor runs at once.
        timeout: The sweep's timeout (None: no time is kept back, and every pick is affordable).
        diverse: ``search.ensemble``: the best of each family first (see :func:`pick_finalists`).
    """

    def __init__(self, n: int, direction: Direction, slots: int, timeout: float | None, *, diverse: bool) -> None:
        self.n, self.direction, self.slots, self.timeout, self.diverse = n, direction, slots, timeout, diverse
        self.rescored: dict[int, Finalist] = {}
        """The finalists dispatched so far, by trial number (their ``rescored`` is a placeholder until recorded)."""
        self._reserve: tuple[int, float] = (-1, 0.0)

    def now(self, results: Sequence[TrialResult]) -> list[TrialResult]:
        """The finalists as ``results`` stand: :func:`pick_finalists`, as many as fit in a :data:`FINALISTS_SHARE`
        of the timeout."""
        picked = pick_finalists(results, self.direction, self.n, diverse=self.diverse)
        if self.timeout is None:
            return picked
        return affordable(picked, self.slots, FINALISTS_SHARE * self.timeout, diverse=self.diverse)

    def reserve(self, results: Sequence[TrialResult]) -> float:
        """Seconds kept back from the timeout for the finalists (see :func:`finalist_time`)."""
        if self._reserve[0] != len(results):
            self._reserve = (len(results), finalist_time(self.now(results), self.slots, diverse=self.diverse))
        return self._reserve[1]

    def undispatched(self, results: Sequence[TrialResult]) -> list[TrialResult]:
        """The finalists as ``results`` stand that are not being (or have not been) scored again yet."""
        return [t for t in self.now(results) if t.number not in self.rescored]

    def dispatched(self, trial: TrialResult) -> None:
        pending = TrialResult(trial.number, "", trial.family, trial.params, TrialState.RUNNING)
        self.rescored[trial.number] = Finalist(trial, pending)

    def record(self, trial: TrialResult, rescored: TrialResult) -> None:
        self.rescored[trial.number] = Finalist(trial, rescored)

    def finalists(self) -> list[Finalist]:
        """The finalists scored again (or not, if that failed or ran out of time), best search score first."""
        sign = -1.0 if self.direction is Direction.MAXIMIZE else 1.0
        return sorted(self.rescored.values(), key=lambda f: (sign * (f.trial.value or 0.0), f.trial.number))
