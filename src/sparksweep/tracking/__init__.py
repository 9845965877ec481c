"""MLflow records of a sweep: the parent run, one child run per trial, and the best value so far.

All writes go through :class:`mlflow.MlflowClient` with explicit run ids, never the fluent API's global active run,
so parallel trials and a user's own active run are never confused. Transient store errors (a server restarting, a 5xx,
a dropped connection) are retried with :class:`RetryPolicy`; a store that stays down stops the sweep with a
:class:`~sparksweep.errors.TrackingError`.
"""

from __future__ import annotations

from sparksweep.tracking._autolog import (
    AutologMode,
    EstimatorRecord,
    autolog_mode,
    configure_mlflow_autolog,
    estimator_record,
)
from sparksweep.tracking._names import (
    COMPUTE_TIME_METRIC,
    ELAPSED_METRIC,
    MODEL_NOT_KEPT,
    SPEC_ARTIFACT,
    STATE_LOST,
    TAG_DATA_PATH,
    TAG_ERROR,
    TAG_KIND,
    TAG_MODEL_KEPT,
    TAG_MODEL_URI,
    TAG_PARENT,
    TAG_RECORDED_BY,
    TAG_RESCORE_OF,
    TAG_RUN_NAME,
    TAG_SEARCHED,
    TAG_SLOT,
    TAG_STATE,
    TAG_STOP_REASON,
    TAG_SWEEP_RUN,
    TAG_TRIAL_NUMBER,
)
from sparksweep.tracking._read import child_runs, read_spec_yaml, read_sweep_run, read_trials
from sparksweep.tracking._retry import RetryPolicy, is_transient
from sparksweep.tracking._runs import TrialRunSpec
from sparksweep.tracking._tracker import SweepTracker
from sparksweep.tracking._uri import (
    DEFAULT_TRACKING_URI,
    UNITY_CATALOG,
    artifact_location,
    is_unity_catalog,
    prepare_store,
    registry_uri,
    resolve_tracking_uri,
    store_prepared,
    tracking_uri,
    use_wal,
)

__all__ = [
    "COMPUTE_TIME_METRIC",
    "DEFAULT_TRACKING_URI",
    "ELAPSED_METRIC",
    "MODEL_NOT_KEPT",
    "SPEC_ARTIFACT",
    "STATE_LOST",
    "TAG_DATA_PATH",
    "TAG_ERROR",
    "TAG_KIND",
    "TAG_MODEL_KEPT",
    "TAG_MODEL_URI",
    "TAG_PARENT",
    "TAG_RECORDED_BY",
    "TAG_RESCORE_OF",
    "TAG_RUN_NAME",
    "TAG_SEARCHED",
    "TAG_SLOT",
    "TAG_STATE",
    "TAG_STOP_REASON",
    "TAG_SWEEP_RUN",
    "TAG_TRIAL_NUMBER",
    "UNITY_CATALOG",
    "AutologMode",
    "EstimatorRecord",
    "RetryPolicy",
    "SweepTracker",
    "TrialRunSpec",
    "artifact_location",
    "autolog_mode",
    "child_runs",
    "configure_mlflow_autolog",
    "estimator_record",
    "is_transient",
    "is_unity_catalog",
    "prepare_store",
    "read_spec_yaml",
    "read_sweep_run",
    "read_trials",
    "registry_uri",
    "resolve_tracking_uri",
    "store_prepared",
    "tracking_uri",
    "use_wal",
]
