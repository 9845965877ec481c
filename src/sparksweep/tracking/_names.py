"""Names sparksweep gives its MLflow tags, params, metrics and artifacts (what a sweep reads back)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


TAG_KIND = "sparksweep.kind"
TAG_TRIAL_NUMBER = "sparksweep.trial_number"
TAG_SWEEP_RUN = "sparksweep.sweep_run_id"
TAG_STATE = "sparksweep.state"
TAG_SEARCHED = "sparksweep.searched_params"
TAG_MODEL_URI = "sparksweep.model_uri"
TAG_MODEL_KEPT = "sparksweep.model"
"""On a trial whose model ``tracking.log_models: improving`` did not keep: why, and how to have it."""
MODEL_NOT_KEPT = (
    "not kept: tracking.log_models is improving, and this trial was not the best so far when it finished; "
    "sparksweep refit <this run's id> fits it again into this run; tracking.log_models: all keeps every model"
)
TAG_ERROR = "sparksweep.error"
TAG_DATA_PATH = "sparksweep.data_path"
TAG_STOP_REASON = "sparksweep.stop_reason"
TAG_RESCORE_OF = "sparksweep.rescore_of"
TAG_RECORDED_BY = "sparksweep.recorded_by"
"""On a run whose worker died while recording it: what recorded its results instead (the driver), and how."""
TAG_SLOT = "sparksweep.slot"
"""The executor slot that ran a trial (0 to parallelism - 1): the timeline figure's row."""
COMPUTE_TIME_METRIC = "compute_time"
"""Seconds from a trial's start (its run's start time) until it was computed; its recording came after."""
SPEC_ARTIFACT = "sweep.yaml"
ELAPSED_METRIC = "elapsed_s"
STATE_LOST = "lost"
"""The ``sparksweep.state`` of a trial whose driver died while it ran (recorded as KILLED, run again on resume)."""
TAG_PARENT = "mlflow.parentRunId"
TAG_RUN_NAME = "mlflow.runName"
_PARAM_LIMIT = 6000
