"""What runs inside a Spark task (or a pool process): one trial, from creating its child run to recording it.

The worker creates the trial's child run (from the :class:`~sparksweep.tracking.TrialRunSpec` the driver
sends: parent tag, name, params), so the driver's sweep loop never waits on the store to hand out a trial. The run is
created in a background thread while the trial starts (:class:`RunOpening`). The trial's results are recorded only
once the run exists, and a trial whose run cannot be created is not recorded at all (the driver records it). The
worker logs through explicit run ids; only MLflow's own autologging (``tracking.autolog: mlflow``) needs the fluent
active run, so only then is the run opened before the fit.

In the order a trial goes through them: ``_task`` (the task types), ``_runs`` (the child run), ``_process`` (the
process's store clients), ``_fit`` (computing a model trial; ``_cv``: its folds and racing) or ``_objective`` (a user
objective's trial), ``_record`` (its metrics, model, final status, or failure), ``_start`` (the entry points).
"""

from __future__ import annotations

from sparksweep.worker._cv import STOPPING_SHARE, cv_folds, race_lost
from sparksweep.worker._fit import ROUNDS_METRIC
from sparksweep.worker._objective import run_objective
from sparksweep.worker._process import tracking_client
from sparksweep.worker._runs import RunOpening, open_trial_run
from sparksweep.worker._start import run_trial, start_trial
from sparksweep.worker._task import ComputedTrial, DataHandle, ObjectiveTask, TrialContext, TrialTask

__all__ = [
    "ROUNDS_METRIC",
    "STOPPING_SHARE",
    "ComputedTrial",
    "DataHandle",
    "ObjectiveTask",
    "RunOpening",
    "TrialContext",
    "TrialTask",
    "cv_folds",
    "open_trial_run",
    "race_lost",
    "run_objective",
    "run_trial",
    "start_trial",
    "tracking_client",
]
