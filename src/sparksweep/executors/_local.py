"""Trials in a local process pool: no Java or Spark needed, the same ``run_trial`` as on Spark."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import tempfile
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sparksweep.executors._base import BaseExecutor

if TYPE_CHECKING:
    from sparksweep.data import TrainingData
    from sparksweep.trial import TrialResult
    from sparksweep.worker import TrialTask

__all__ = ["FileData", "LocalExecutor"]


@dataclass(frozen=True)
class FileData:
    """A data handle backed by a file this process wrote (read once per pool process)."""

    fingerprint: str
    path: str

    def load(self) -> TrainingData:
        with open(self.path, "rb") as fh:
            return pickle.load(fh)  # type: ignore[no-any-return]  # our own file, written by share()


def _run(task: TrialTask) -> TrialResult:
    from sparksweep.worker import run_trial

    return run_trial(task)


class LocalExecutor(BaseExecutor):
    """Run trials in ``parallelism`` worker processes (started with ``spawn``, so no state leaks from the driver).

    Example:
        >>> executor = LocalExecutor(parallelism=2)  # doctest: +SKIP
    """

    name = "local"

    def __init__(self, parallelism: int | None = None) -> None:
        self._parallelism = parallelism or max(1, os.cpu_count() or 1)
        self._pool = ProcessPoolExecutor(max_workers=self._parallelism, mp_context=multiprocessing.get_context("spawn"))
        self._tmp = tempfile.TemporaryDirectory(prefix="sparksweep-data-")

    @property
    def slots(self) -> int:
        return self._parallelism

    def share(self, data: TrainingData) -> FileData:
        path = Path(self._tmp.name) / f"{data.fingerprint}.pkl"
        with open(path, "wb") as fh:
            pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return FileData(fingerprint=data.fingerprint, path=str(path))

    def submit(self, task: TrialTask) -> Future[TrialResult]:
        return self._pool.submit(_run, task)

    def cancel_all(self) -> None:
        """Cancel queued trials; a trial already running in a pool process runs to its end."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._tmp.cleanup()
