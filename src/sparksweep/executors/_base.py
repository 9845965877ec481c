"""The executor interface: where trials run."""

from __future__ import annotations

import abc
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from sparksweep.data import TrainingData
    from sparksweep.trial import TrialResult
    from sparksweep.worker import DataHandle, TrialTask

__all__ = ["BaseExecutor"]

_E = TypeVar("_E", bound="BaseExecutor")


class BaseExecutor(abc.ABC):
    """Runs trials somewhere else than the driver thread and hands back futures.

    The engine keeps at most :attr:`slots` trials computing; whenever one is computed (see :meth:`computed`) or
    finishes it submits the next at once.
    An executor is a context manager: leaving the ``with`` block shuts it down.
    """

    name: str = ""

    @property
    @abc.abstractmethod
    def slots(self) -> int:
        """How many trials can run at the same time."""

    @property
    def cores_per_trial(self) -> int:
        """Threads one trial may use (its models' ``n_jobs``)."""
        return 1

    @abc.abstractmethod
    def share(self, data: TrainingData) -> DataHandle:
        """Make the training data available to the workers once, and return the handle trials carry."""

    def prepare(self, tracking_uri: str | None = None) -> None:
        """Start the workers now, in the background, so the first trial does not wait for them (called after
        :meth:`share`, while the driver still sets the sweep up); workers that can also open ``tracking_uri``
        beforehand (opening a SQLite store costs a new process ~0.7 s)."""
        del tracking_uri  # nothing starts early here

    @abc.abstractmethod
    def submit(self, task: TrialTask) -> Future[TrialResult]:
        """Start a trial; the future resolves to its result (or raises when the task itself was lost)."""

    def computed(self, future: Future[TrialResult]) -> Future[float | None] | None:
        """A future that resolves when ``future``'s trial is computed and its slot free for the next trial, while
        its results are still being recorded, to the trial's value as computed (None: it failed or was pruned);
        None: the slot is free when ``future`` resolves."""
        del future  # trials here hold their slot until they are recorded
        return None

    @abc.abstractmethod
    def cancel_all(self) -> None:
        """Cancel the trials still running or queued."""

    @property
    def can_cancel_running(self) -> bool:
        """Whether :meth:`cancel` stops a trial that is already running (what ``trial_timeout`` needs)."""
        return False

    def cancel(self, number: int) -> None:
        """Cancel trial ``number`` if it is still running; executors that cannot do so do nothing."""
        del number  # nothing to cancel here: see can_cancel_running

    @abc.abstractmethod
    def shutdown(self) -> None:
        """Release what :meth:`share` and :meth:`submit` created."""

    def __enter__(self: _E) -> _E:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
