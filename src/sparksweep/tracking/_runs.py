"""A trial's child run as the driver describes it, for the worker to create."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sparksweep.tracking._names import TAG_SLOT
from sparksweep.tracking._retry import RetryPolicy

if TYPE_CHECKING:
    from mlflow import MlflowClient


@dataclass(frozen=True)
class TrialRunSpec:
    """A trial's child run before it exists: the worker that runs the trial creates it, so creating runs costs the
    sweep loop nothing and slots get their next trial at once. Picklable; the tags carry ``mlflow.parentRunId``.

    Example:
        >>> spec = TrialRunSpec(experiment_id="1", tags={"mlflow.runName": "trial-000-lightgbm"}, params={})
        >>> spec.tags["mlflow.runName"]
        'trial-000-lightgbm'
    """

    experiment_id: str
    tags: dict[str, str]
    params: dict[str, str]

    def create(
        self, client: MlflowClient, retry: RetryPolicy, *, slot: int | None = None, started: float | None = None
    ) -> str:
        """Create the run (RUNNING) with its tags and params; returns its id.

        ``slot``: the executor slot running the trial (the ``sparksweep.slot`` tag); ``started``: when the trial
        started (seconds since the epoch; default: now), the run's start time.
        """
        from mlflow.entities import Param

        tags = self.tags if slot is None else {**self.tags, TAG_SLOT: str(slot)}
        run = retry.call(
            "create the trial's run",
            client.create_run,
            self.experiment_id,
            tags=tags,
            start_time=int((time.time() if started is None else started) * 1000),
        )
        run_id = str(run.info.run_id)
        batch = [Param(k, v) for k, v in self.params.items()]
        retry.call("log the trial's hyperparameters", client.log_batch, run_id, params=batch)
        return run_id
