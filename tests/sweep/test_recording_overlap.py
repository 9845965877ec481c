"""A slot takes its next trial once its last one is computed, while that one is recorded; and the pool's Python
workers are reused from one sweep to the next."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from mlflow import MlflowClient

from sparksweep import Float, optimize
from sparksweep.executors import SparkPoolExecutor
from sparksweep.executors._base import BaseExecutor
from sparksweep.trial import TrialResult, TrialState
from sparksweep.worker import start_trial


class _GatedExecutor(BaseExecutor):
    """One slot, in threads: a trial frees the slot once computed; its recording waits for :attr:`gate`."""

    name = "gated"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.submitted: list[int] = []
        self._computed: dict[Future[TrialResult], Future[float | None]] = {}
        self._threads = ThreadPoolExecutor(max_workers=4)

    @property
    def slots(self) -> int:
        return 1

    def share(self, data: Any) -> Any:
        raise NotImplementedError("user objectives only")

    def submit(self, task: Any) -> Future[TrialResult]:
        self.submitted.append(task.number)
        future: Future[TrialResult] = Future()
        computed: Future[float | None] = Future()
        self._computed[future] = computed

        def run() -> None:
            trial = start_trial(task)
            computed.set_result(trial.value)
            self.gate.wait(30)
            future.set_result(trial.record())

        self._threads.submit(run)
        return future

    def computed(self, future: Future[TrialResult]) -> Future[float | None] | None:
        return self._computed[future]

    def cancel_all(self) -> None:
        self.gate.set()

    def shutdown(self) -> None:
        self.gate.set()
        self._threads.shutdown(wait=True)


def _wait_for(condition: Any, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


def _sweep_in_background(
    executor: _GatedExecutor, tracking_uri: str, **kwargs: Any
) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        out["result"] = optimize(
            lambda p, _t: p["x"],
            {"x": Float(0.0, 1.0)},
            algorithm="optuna.random",
            seed=0,
            executor=executor,
            tracking_uri=tracking_uri,
            experiment="overlap",
            **kwargs,
        )

    sweep = threading.Thread(target=run)
    sweep.start()
    return sweep, out


def test_the_engine_hands_out_the_next_trial_once_the_last_is_computed_not_recorded(tracking_uri: str) -> None:
    executor = _GatedExecutor()
    sweep, out = _sweep_in_background(executor, tracking_uri, n_trials=3)
    try:
        # Trial 0 is computed and held before its recording: trial 1 is handed out anyway.
        _wait_for(lambda: len(executor.submitted) == 2)
        time.sleep(0.3)
        assert executor.submitted == [0, 1], "one trial records while the slot computes the next, not more"
    finally:
        executor.gate.set()
        sweep.join(60)
        executor.shutdown()
    result = out["result"]
    assert [t.state for t in result.trials] == [TrialState.COMPLETE] * 3
    client = MlflowClient(tracking_uri)
    for trial in result.trials:
        run = client.get_run(trial.run_id)
        assert run.info.status == "FINISHED"
        assert run.data.metrics["value"] == pytest.approx(trial.value)


def test_a_computed_trial_that_reaches_the_target_holds_back_the_next_one(tracking_uri: str) -> None:
    executor = _GatedExecutor()
    sweep, out = _sweep_in_background(executor, tracking_uri, n_trials=5, target=1.0)  # every value is <= 1
    try:
        _wait_for(lambda: len(executor.submitted) == 1)
        time.sleep(0.5)
        assert executor.submitted == [0], "the sweep will stop once trial 0 is recorded: nothing more is started"
    finally:
        executor.gate.set()
        sweep.join(60)
        executor.shutdown()
    result = out["result"]
    assert result.stop_reason == "target"
    assert [t.number for t in result.trials] == [0]


def _process_started() -> float:
    """When this process started, in seconds since the machine booted (Linux)."""
    with open(f"/proc/{os.getpid()}/stat") as fh:
        ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
    return ticks / os.sysconf("SC_CLK_TCK")


def _uptime() -> float:
    with open("/proc/uptime") as fh:
        return float(fh.read().split()[0])


@pytest.mark.spark
def test_the_pool_reuses_its_python_workers_from_one_sweep_to_the_next(spark: Any, tracking_uri: str) -> None:
    def sweep(name: str) -> list[float]:
        with SparkPoolExecutor(spark, 2) as executor:
            result = optimize(
                lambda p, _t: _process_started(),
                {"x": Float(0.0, 1.0)},
                n_trials=4,
                algorithm="optuna.random",
                executor=executor,
                tracking_uri=tracking_uri,
                experiment=name,
            )
        return [t.value for t in result.trials if t.value is not None]

    sweep("first")
    before_second = _uptime()
    started = sweep("second")
    assert len(started) == 4
    assert max(started) < before_second, "the second sweep's slots ran in processes that existed before it"
