"""The data behind the sweep's figures, built from its :class:`SweepRecord`: typed, so tests check the numbers a
figure shows without reading pixels."""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sparksweep.metrics import Direction
from sparksweep.trial import TrialState

if TYPE_CHECKING:
    from sparksweep.figures._records import SweepRecord
    from sparksweep.trial import TrialResult

__all__ = [
    "BestSoFar",
    "FamilyScores",
    "FinalistPoint",
    "FinalistScores",
    "ParallelCoordinates",
    "ScorePoint",
    "Slot",
    "Timeline",
    "best_so_far",
    "family_scores",
    "finalist_scores",
    "looks_logarithmic",
    "pack_slots",
    "parallel_coordinates",
    "timeline",
]


@dataclass(frozen=True)
class ScorePoint:
    """One completed trial on a best-so-far figure: where it sits on the x axis, its score and its family."""

    x: float
    value: float
    family: str
    number: int


@dataclass(frozen=True)
class BestSoFar:
    """The best score so far against ``axis`` (``trial``: the trial number; ``seconds``: when the trial ended,
    counted from the sweep's start), with every completed trial as a point."""

    axis: str
    metric: str
    direction: Direction
    x: tuple[float, ...]
    best: tuple[float, ...]
    points: tuple[ScorePoint, ...]


def _running_best(values: list[float], direction: Direction) -> list[float]:
    out: list[float] = []
    for value in values:
        out.append(value if not out or direction.better(value, out[-1]) else out[-1])
    return out


def best_so_far(record: SweepRecord, axis: str = "trial") -> BestSoFar:
    """The optimization history of ``record``, by trial number or by wall time (``axis``: ``trial`` or
    ``seconds``)."""
    done = record.completed
    if axis == "seconds":
        done = sorted(done, key=lambda t: (t.ended or t.started, t.number))
        xs = [(t.ended or t.started) - record.started for t in done]
    else:
        xs = [float(t.number) for t in done]
    values = [float(t.value or 0.0) for t in done]
    points = tuple(ScorePoint(x, v, t.family, t.number) for x, v, t in zip(xs, values, done, strict=True))
    best = _running_best(values, record.direction)
    return BestSoFar(axis, record.metric, record.direction, tuple(xs), tuple(best), points)


@dataclass(frozen=True)
class FamilyScores:
    """The completed trials' scores per family (families by their best score, best first)."""

    metric: str
    families: tuple[str, ...]
    scores: tuple[tuple[float, ...], ...]
    failed: tuple[int, ...]
    """Trials of each family that did not complete (failed, pruned or killed)."""


def family_scores(record: SweepRecord) -> FamilyScores:
    by_family: dict[str, list[float]] = {}
    others: dict[str, int] = {}
    for trial in record.trials:
        if not trial.family:
            continue
        if trial.state is TrialState.COMPLETE and trial.value is not None:
            by_family.setdefault(trial.family, []).append(float(trial.value or 0.0))
        else:
            others[trial.family] = others.get(trial.family, 0) + 1
    sign = -1.0 if record.direction is Direction.MAXIMIZE else 1.0
    names = sorted(set(by_family) | set(others), key=lambda f: sign * _best(by_family.get(f), record.direction))
    return FamilyScores(
        metric=record.metric,
        families=tuple(names),
        scores=tuple(tuple(by_family.get(f, [])) for f in names),
        failed=tuple(others.get(f, 0) for f in names),
    )


def _best(values: list[float] | None, direction: Direction) -> float:
    if not values:
        return math.inf if direction is Direction.MINIMIZE else -math.inf
    return max(values) if direction is Direction.MAXIMIZE else min(values)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class ParallelCoordinates:
    """The best family's completed trials across its hyperparameters: one line per trial.

    ``positions`` holds each trial's place on each axis in [0, 1]: numbers scaled between the axis's ``low`` and
    ``high`` (on a log scale where ``log``), categories spread evenly in ``categories`` order."""

    family: str
    metric: str
    params: tuple[str, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    log: tuple[bool, ...]
    categories: tuple[tuple[str, ...], ...]
    """Per axis: its categories (empty for a numeric axis)."""
    positions: tuple[tuple[float, ...], ...]
    values: tuple[float, ...]
    numbers: tuple[int, ...]


def looks_logarithmic(values: list[float]) -> bool:
    """Whether values look drawn on a log scale (the recorded trials do not say how their space was defined): all
    positive, over two decades or more, with the median in the lowest tenth of the range, as log-uniform samples are.

    Example:
        >>> looks_logarithmic([0.001, 0.01, 0.03, 0.2, 1.0]), looks_logarithmic([0.001, 0.4, 0.5, 0.7, 1.0])
        (True, False)
    """
    low, high = min(values), max(values)
    if low <= 0 or high / low < 100:
        return False
    median = sorted(values)[len(values) // 2]
    return median - low < (high - low) / 10


def _axis(texts: list[str]) -> tuple[float, float, bool, tuple[str, ...]]:
    numbers = [_number(t) for t in texts]
    if all(n is not None for n in numbers):
        vals = [float(n) for n in numbers if n is not None]
        return min(vals), max(vals), looks_logarithmic(vals), ()
    return 0.0, 1.0, False, tuple(sorted(set(texts)))


def _position(text: str, low: float, high: float, log: bool, categories: tuple[str, ...]) -> float:
    if categories:
        return 0.5 if len(categories) == 1 else categories.index(text) / (len(categories) - 1)
    value = float(text)
    if high == low:
        return 0.5
    if log:
        return (math.log(value) - math.log(low)) / (math.log(high) - math.log(low))
    return (value - low) / (high - low)


def parallel_coordinates(record: SweepRecord) -> ParallelCoordinates | None:
    """None when the sweep has no completed trial."""
    best = record.best()
    if best is None:
        return None
    trials = [t for t in record.completed if t.family == best.family]
    names = [p for p in best.params if all(p in t.params for t in trials)]
    axes = [_axis([t.params[p] for t in trials]) for p in names]
    positions = tuple(tuple(_position(t.params[p], *axis) for p, axis in zip(names, axes, strict=True)) for t in trials)
    return ParallelCoordinates(
        family=best.family,
        metric=record.metric,
        params=tuple(names),
        low=tuple(a[0] for a in axes),
        high=tuple(a[1] for a in axes),
        log=tuple(a[2] for a in axes),
        categories=tuple(a[3] for a in axes),
        positions=positions,
        values=tuple(float(t.value or 0.0) for t in trials),
        numbers=tuple(t.number for t in trials),
    )


@dataclass(frozen=True)
class Slot:
    """One trial on the timeline: the slot it ran in, its start, when it was computed and its end (seconds from
    the sweep's start; from ``computed`` to ``end`` it was being recorded, while its slot could start the next)."""

    slot: int
    start: float
    end: float
    number: int
    family: str
    state: str
    computed: float | None = None
    """None: not known (a failed trial, or a run without ``compute_time``); the whole bar counts as computing."""

    @property
    def busy_until(self) -> float:
        """The end of its computation (its slot's busy time), else its end."""
        return self.end if self.computed is None else self.computed


@dataclass(frozen=True)
class Timeline:
    """The trials per slot over time: the parallelism and the idle time."""

    bars: tuple[Slot, ...]
    slots: int
    span: float
    """Seconds from the sweep's start to its last trial's end."""
    busy: float
    """Seconds the slots spent computing trials, summed over slots (recording tails overlap the next trial)."""
    recorded: bool = False
    """Whether the slots are the ones the runs record (``sparksweep.slot``); False: packed from the runs' times (a
    sweep recorded before the tag existed), so a slot's recording overlapping its next trial adds rows."""

    @property
    def idle_share(self) -> float:
        """The share of slot time spent without a trial computing (0 when nothing ran)."""
        total = self.slots * self.span
        return 0.0 if total <= 0 else max(0.0, 1.0 - self.busy / total)


def pack_slots(intervals: list[tuple[float, float]]) -> list[int]:
    """A slot for each (start, end) interval such that intervals in one slot never overlap, using as few slots as
    the most intervals that overlap at once (the greedy interval-partitioning rule: each interval, by start, takes
    the slot that freed earliest, if it is free by then).

    Example:
        >>> pack_slots([(0, 2), (1, 3), (2, 4), (3.5, 5)])
        [0, 1, 0, 1]
    """
    order = sorted(range(len(intervals)), key=lambda i: (intervals[i][0], intervals[i][1]))
    free: list[tuple[float, int]] = []  # (the time a slot frees, the slot)
    slots = [0] * len(intervals)
    count = 0
    for i in order:
        start, end = intervals[i]
        if free and free[0][0] <= start:
            _, slot = heapq.heappop(free)
        else:
            slot, count = count, count + 1
        slots[i] = slot
        heapq.heappush(free, (max(end, start), slot))
    return slots


def _place(intervals: list[tuple[float, float]], recorded: list[int | None]) -> list[int]:
    """Each interval's row: its recorded slot, else the first row (recorded slots first) with nothing computing
    over it, else a new row."""
    rows: dict[int, list[tuple[float, float]]] = {}
    for (start, end), slot in zip(intervals, recorded, strict=True):
        if slot is not None:
            rows.setdefault(slot, []).append((start, end))
    out: list[int] = []
    count = max(rows, default=-1) + 1
    for (start, end), slot in zip(intervals, recorded, strict=True):
        if slot is None:
            free = (r for r in sorted(rows) if all(e <= start or end <= s for s, e in rows[r]))
            slot = next(free, None)
            if slot is None:
                slot, count = count, count + 1
            rows.setdefault(slot, []).append((start, end))
        out.append(slot)
    return out


def _union_length(intervals: list[tuple[float, float]]) -> float:
    total, reach = 0.0, -math.inf
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def timeline(record: SweepRecord, now: float) -> Timeline:
    """The trials per slot (the slot each run records; packed from the runs' times for runs that record none); a
    trial still without an end is drawn until ``now`` (epoch seconds)."""
    trials: list[TrialResult] = [t for t in record.trials if t.started > 0]
    origin = record.started
    intervals = [(t.started - origin, max((t.ended or now) - origin, t.started - origin)) for t in trials]
    computed = [
        None if t.compute_time is None else min(t.started - origin + t.compute_time, end)
        for t, (_, end) in zip(trials, intervals, strict=True)
    ]
    recorded = any(t.slot is not None for t in trials)
    if recorded:
        busy_spans = [(s, e if c is None else c) for (s, e), c in zip(intervals, computed, strict=True)]
        slots = _place(busy_spans, [t.slot for t in trials])
    else:
        slots = pack_slots(intervals)
    bars = tuple(
        Slot(slot, start, end, t.number, t.family, t.state.value, done)
        for slot, (start, end), done, t in zip(slots, intervals, computed, trials, strict=True)
    )
    span = max((b.end for b in bars), default=0.0)
    rows = max(slots, default=-1) + 1
    busy = sum(_union_length([(b.start, b.busy_until) for b in bars if b.slot == row]) for row in range(rows))
    return Timeline(bars, rows, span, busy, recorded)


@dataclass(frozen=True)
class FinalistPoint:
    number: int
    family: str
    search: float
    fresh: float | None


@dataclass(frozen=True)
class FinalistScores:
    """Each finalist's search score against its fresh-fold score."""

    metric: str
    points: tuple[FinalistPoint, ...]


def finalist_scores(record: SweepRecord) -> FinalistScores | None:
    """None when the sweep scored no finalist again."""
    if not record.rescores:
        return None
    by_run = {t.run_id: t for t in record.trials}
    points = []
    for rescore in record.rescores:
        trial = by_run.get(rescore.trial_run_id)
        if trial is None or trial.value is None:
            continue
        points.append(FinalistPoint(trial.number, trial.family, float(trial.value), rescore.value))
    return FinalistScores(record.metric, tuple(sorted(points, key=lambda p: p.number)))
