"""The figures' data on typed records, without a sweep: slot packing, best-so-far, the top importances."""

from __future__ import annotations

import itertools

import pytest

from sparksweep.figures import SweepRecord, pack_slots
from sparksweep.figures._champion_data import top_importance
from sparksweep.figures._sweep_data import best_so_far, timeline
from sparksweep.metrics import Direction
from sparksweep.trial import TrialResult, TrialState


def _trial(
    number: int,
    value: float | None,
    start: float,
    end: float,
    family: str = "f",
    slot: int | None = None,
    compute_time: float | None = None,
) -> TrialResult:
    state = TrialState.COMPLETE if value is not None else TrialState.FAILED
    return TrialResult(
        number=number,
        run_id=f"r{number}",
        family=family,
        params={"x": str(number)},
        state=state,
        value=value,
        started=start,
        ended=end,
        slot=slot,
        compute_time=compute_time,
    )


def _record(trials: list[TrialResult], direction: Direction = Direction.MINIMIZE) -> SweepRecord:
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
    assert not drawn.recorded  # runs without the sparksweep.slot tag: slots packed from their times
    assert drawn.span == pytest.approx(4.0)
    assert drawn.idle_share == pytest.approx(0.25)


def test_the_timeline_puts_each_trial_in_the_slot_its_run_records_and_counts_only_computing_as_busy() -> None:
    # Two slots; each slot's next trial starts while its last one is still being recorded (the pool's overlap):
    # packing the runs' (start, end) would need 4 rows, the recorded slots are 2.
    trials = [
        _trial(0, 1.0, 100.0, 103.0, slot=0, compute_time=2.0),
        _trial(1, 1.0, 100.0, 103.0, slot=1, compute_time=2.0),
        _trial(2, 1.0, 102.0, 105.0, slot=0, compute_time=2.0),
        _trial(3, 1.0, 102.0, 105.0, slot=1, compute_time=2.0),
    ]
    assert max(pack_slots([(t.started, t.ended or 0.0) for t in trials])) + 1 == 4
    drawn = timeline(_record(trials), now=200.0)
    assert drawn.recorded
    assert drawn.slots == 2
    assert [b.slot for b in drawn.bars] == [0, 1, 0, 1]
    assert [b.computed for b in drawn.bars] == pytest.approx([2.0, 2.0, 4.0, 4.0])
    assert drawn.span == pytest.approx(5.0)
    # Busy: computing, 0-4 s in each slot; the recording tails (4-5 s) count as idle slot time.
    assert drawn.busy == pytest.approx(8.0)
    assert drawn.idle_share == pytest.approx(0.2)


def test_a_trial_without_a_recorded_slot_fits_into_a_recorded_slot_where_it_is_free_else_a_row_of_its_own() -> None:
    trials = [
        _trial(0, 1.0, 100.0, 102.0, slot=0),
        _trial(1, 1.0, 100.0, 104.0, slot=1),
        _trial(2, None, 102.5, 103.0),  # e.g. a run the driver recorded for a trial lost before its worker made one
        _trial(3, None, 101.0, 101.5),  # overlaps both slots' trials
    ]
    drawn = timeline(_record(trials), now=200.0)
    assert drawn.recorded
    assert [b.slot for b in drawn.bars] == [0, 1, 0, 2]
    assert drawn.slots == 3


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
