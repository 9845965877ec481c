"""The figures' data on typed records, without a sweep: slot packing, best-so-far, the top importances."""

from __future__ import annotations

import itertools

import pytest

from sparksweep.figures import SweepRecord, pack_slots
from sparksweep.figures._champion_data import top_importance
from sparksweep.figures._sweep_data import best_so_far, timeline
from sparksweep.metrics import Direction
from sparksweep.tracking import RecordedTrial
from sparksweep.trial import TrialState


def _trial(number: int, value: float | None, start: float, end: float, family: str = "f") -> RecordedTrial:
    state = TrialState.COMPLETE if value is not None else TrialState.FAILED
    return RecordedTrial(f"r{number}", number, family, {"x": str(number)}, state, value, None, start, end, None)


def _record(trials: list[RecordedTrial], direction: Direction = Direction.MINIMIZE) -> SweepRecord:
    return SweepRecord(
        run_id="p",
        experiment_id="1",
        run_name="sweep",
        settings={},
        metric="rmse",
        direction=direction,
        task="regression",
        started=100.0,
        ended=None,
        trials=tuple(trials),
        rescores=(),
        gate=None,
        stop_reason=None,
    )


def test_slots_are_packed_so_no_two_trials_overlap_in_one_and_no_more_slots_than_overlap_at_once() -> None:
    intervals = [(0.0, 2.0), (0.5, 1.0), (1.0, 3.0), (2.0, 2.5), (2.6, 4.0), (3.0, 5.0)]
    slots = pack_slots(intervals)
    assert max(slots) + 1 == 2
    for slot in set(slots):
        mine = sorted(i for i, s in zip(intervals, slots, strict=True) if s == slot)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(mine))
    assert pack_slots([]) == []


def test_the_timeline_counts_idle_slot_time() -> None:
    record = _record([_trial(0, 1.0, 100.0, 104.0), _trial(1, 2.0, 100.0, 102.0)])
    drawn = timeline(record, now=200.0)
    assert drawn.slots == 2
    assert drawn.span == pytest.approx(4.0)
    assert drawn.idle_share == pytest.approx(0.25)


def test_best_so_far_follows_the_direction_and_skips_trials_without_a_score() -> None:
    trials = [_trial(0, 5.0, 100, 101), _trial(1, None, 100, 103), _trial(2, 3.0, 101, 105), _trial(3, 4.0, 102, 102.5)]
    by_trial = best_so_far(_record(trials), "trial")
    assert by_trial.x == (0.0, 2.0, 3.0)
    assert by_trial.best == (5.0, 3.0, 3.0)
    by_time = best_so_far(_record(trials), "seconds")
    assert by_time.x == (1.0, 2.5, 5.0)  # by end time: trial 3 ended before trial 2
    assert by_time.best == (5.0, 4.0, 3.0)
    assert best_so_far(_record(trials, Direction.MAXIMIZE), "trial").best == (5.0, 5.0, 5.0)


def test_the_top_importances_are_named_and_the_rest_summed() -> None:
    names = [f"f{i}" for i in range(25)]
    values = [float(i) for i in range(25)]
    top = top_importance(names, values, "gain")
    assert top.names[:2] == ("f24", "f23")
    assert len(top.names) == 20
    assert top.n_rest == 5
    assert top.rest == pytest.approx(0 + 1 + 2 + 3 + 4)
