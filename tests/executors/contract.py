"""The contract every executor passes (as optuna's storages pass ``optuna/testing/pytest_storages.py``): a trial
completes, a raising trial is a failed result, a trial whose process dies fails alone, a trial is cancelled, and a
shut-down executor takes no more trials.

A new executor gets the suite by subclassing :class:`ExecutorContract` with a ``make_executor`` fixture (see
``test_contract.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Future, wait
from typing import Any

import pytest
from mlflow import MlflowClient
from pyspark import cloudpickle

from sparksweep.errors import TrialError, TrialLostError
from sparksweep.executors import BaseExecutor
from sparksweep.tracking import prepare_store
from sparksweep.trial import TrialState
from sparksweep.worker import ObjectiveTask
from tests.executors import objectives

cloudpickle.register_pickle_by_value(objectives)

MakeExecutor = Callable[[], BaseExecutor]


class _Store:
    """A SQLite store with one experiment; each task gets a run created beforehand (as the driver would)."""

    def __init__(self, uri: str) -> None:
        prepare_store(uri)
        self.uri = uri
        self.client = MlflowClient(uri)
        self.experiment_id = self.client.create_experiment("executor-contract")

    def task(self, number: int, **params: Any) -> ObjectiveTask:
        run_id = self.client.create_run(self.experiment_id).info.run_id
        return ObjectiveTask(number, run_id, self.uri, objectives.behave, "objective", params, "value", seed=number)


def _outcome(future: Future[Any], seconds: float) -> Any:
    """The trial's result, or the exception its future holds (waiting at most ``seconds``)."""
    done, _ = wait([future], timeout=seconds)
    assert done, f"the trial did not finish within {seconds}s"
    try:
        return future.result()
    except (CancelledError, Exception) as exc:
        return exc


class ExecutorContract:
    """Subclasses provide the ``make_executor`` fixture: a callable that builds a new executor with 2 slots."""

    @pytest.fixture
    def store(self, tracking_uri: str) -> _Store:
        return _Store(tracking_uri)

    @pytest.fixture
    def executor(self, make_executor: MakeExecutor) -> Iterator[BaseExecutor]:
        executor = make_executor()
        yield executor
        executor.shutdown()

    def test_a_trial_completes_and_is_recorded(self, executor: BaseExecutor, store: _Store) -> None:
        assert executor.slots == 2
        task = store.task(0, x=0.25)
        result = _outcome(executor.submit(task), 120)
        assert result.state is TrialState.COMPLETE, result
        assert result.value == pytest.approx(0.25)
        run = store.client.get_run(task.run_id)
        assert run.info.status == "FINISHED"
        assert run.data.metrics["value"] == pytest.approx(0.25)

    def test_a_raising_trial_is_a_failed_result_and_the_next_one_runs(
        self, executor: BaseExecutor, store: _Store
    ) -> None:
        failed = _outcome(executor.submit(store.task(0, fail=True)), 120)
        assert failed.state is TrialState.FAILED
        assert "deliberate failure of trial 0" in failed.error
        assert _outcome(executor.submit(store.task(1, x=2.0)), 60).value == pytest.approx(2.0)

    def test_a_trial_whose_process_dies_fails_alone(self, executor: BaseExecutor, store: _Store) -> None:
        _outcome(executor.submit(store.task(0)), 120)  # the workers are up
        healthy = executor.submit(store.task(1, sleep=2.0, x=1.0))
        dead = executor.submit(store.task(2, sleep=0.5, die=True))
        lost = _outcome(dead, 60)
        assert isinstance(lost, TrialLostError), lost
        assert "worker" in str(lost)
        assert "trial 2 exited" in str(lost)
        assert _outcome(healthy, 60).state is TrialState.COMPLETE, "the trial beside the dead one was hit"
        after = [executor.submit(store.task(n, x=float(n))) for n in (3, 4, 5)]
        assert [_outcome(f, 120).value for f in after] == [3.0, 4.0, 5.0], "the executor took trials after it"

    def test_cancel(self, executor: BaseExecutor, store: _Store) -> None:
        _outcome(executor.submit(store.task(0)), 120)  # the workers are up
        if executor.can_cancel_running:
            running = executor.submit(store.task(1, sleep=60.0))
            time.sleep(3.0)
            t0 = time.monotonic()
            executor.cancel(1)
            outcome = _outcome(running, 20)
            assert isinstance(outcome, (TrialLostError, CancelledError)), outcome
            assert time.monotonic() - t0 < 15
        else:  # the running trials run to their end; the queued one is cancelled
            futures = [executor.submit(store.task(n, sleep=1.5)) for n in (1, 2, 3)]
            time.sleep(0.5)
            executor.cancel_all()
            assert isinstance(_outcome(futures[2], 20), CancelledError)
            assert [_outcome(f, 20).state for f in futures[:2]] == [TrialState.COMPLETE] * 2

    def test_a_shut_down_executor_takes_no_trials(self, make_executor: MakeExecutor, store: _Store) -> None:
        executor = make_executor()
        _outcome(executor.submit(store.task(0)), 120)
        t0 = time.monotonic()
        executor.shutdown()
        assert time.monotonic() - t0 < 10, "shutdown waited on idle workers"
        with pytest.raises(TrialError, match="shut down"):
            executor.submit(store.task(1))
