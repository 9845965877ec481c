"""The parent run's progress metrics are written by a background writer: all of them, in order, and its errors
reach the sweep."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from mlflow import MlflowClient

from sparksweep.errors import TrackingError
from sparksweep.tracking import SweepTracker
from sparksweep.tracking._tracker import _MetricWriter


def test_progress_is_written_in_full_by_the_time_the_sweep_run_ends(tracking_uri: str) -> None:
    tracker = SweepTracker(tracking_uri, "writer")
    run_id = tracker.start(run_name="sweep", params={}, spec_yaml="{}")
    for step in range(300):
        tracker.log_progress("auc", best=step / 300, step=step, elapsed=step * 0.1)
    tracker.finish("FINISHED")
    client = MlflowClient(tracking_uri)
    history = sorted(client.get_metric_history(run_id, "best_auc"), key=lambda m: m.step)
    assert [m.step for m in history] == list(range(300))
    assert history[-1].value == pytest.approx(299 / 300)
    assert client.get_run(run_id).data.metrics["trials_finished"] == 300
    assert client.get_run(run_id).info.status == "FINISHED"


def test_a_failed_write_is_raised_by_flush_and_later_puts_and_nothing_is_dropped() -> None:
    written: list[Any] = []
    fail = threading.Event()
    fail.set()

    def write(batch: list[Any]) -> None:
        if fail.is_set():
            raise TrackingError("could not log the sweep's progress: the store is down")
        written.extend(batch)

    writer = _MetricWriter(write)
    writer.put([1, 2])
    with pytest.raises(TrackingError, match="store is down"):
        writer.flush()
    with pytest.raises(TrackingError, match="store is down"):
        writer.put([3])
    assert written == []
    assert writer._pending == [1, 2], "what could not be written is kept, not dropped"


def test_metrics_queued_between_two_writes_go_in_one_batch_and_flush_does_not_wait_for_the_interval() -> None:
    batches: list[list[Any]] = []
    first_written = threading.Event()

    def write(batch: list[Any]) -> None:
        batches.append(list(batch))
        first_written.set()

    writer = _MetricWriter(write, interval=60.0)
    writer.put([0])
    assert first_written.wait(30), "the first metrics are written at once"
    for step in range(1, 200):  # a burst of short trials' progress, within the interval after the first write
        writer.put([step])
    started = time.monotonic()
    writer.flush()
    assert time.monotonic() - started < 30, "flush wrote at once instead of waiting out the 60 s interval"
    assert batches == [[0], list(range(1, 200))]
