"""Which trial is best: the completed trials ranked by their value, the one rule the loop, the stop rules, the
finalists and the result all use.

Example:
    >>> from sparksweep.metrics import Direction
    >>> from sparksweep.trial import TrialResult, TrialState
    >>> trials = [TrialResult(n, "", "f", {}, TrialState.COMPLETE, v) for n, v in enumerate([0.3, 0.1, 0.1])]
    >>> best_trial(trials, Direction.MINIMIZE).number
    1
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from sparksweep.metrics import Direction
from sparksweep.trial import TrialResult, TrialState

__all__ = ["best_trial", "ranked"]


def ranked(trials: Iterable[TrialResult | None], direction: Direction) -> list[TrialResult]:
    """The completed trials with a finite value, best first; equal values keep the order they are given in."""
    done = [
        t
        for t in trials
        if t is not None and t.state is TrialState.COMPLETE and t.value is not None and math.isfinite(t.value)
    ]
    sign = -1.0 if direction is Direction.MAXIMIZE else 1.0
    return sorted(done, key=lambda t: sign * (t.value or 0.0))


def best_trial(trials: Iterable[TrialResult | None], direction: Direction) -> TrialResult | None:
    """The best completed trial (the first of equals in the order given); None while none has completed."""
    order = ranked(trials, direction)
    return order[0] if order else None
