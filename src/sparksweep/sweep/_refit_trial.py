"""Fit one recorded trial again and log its model into its own run: the model ``tracking.log_models: improving``
(or ``none``) did not keep, on demand (``sparksweep refit RUN_ID``).

The trial is rebuilt from what MLflow holds: the sweep file on its parent run, the trial's params and number (its
seed is the sweep's ``search.seed`` + the number, as when it ran), the same data and split (checked by the sweep's
fingerprint). The model is fitted on the training split, as the trial's was, and scored on the validation split
again, so the refit can be compared with the recorded value.

Example:
    >>> refit = refit_trial("9c1e...", tracking_uri="sqlite:///mlflow.db")  # doctest: +SKIP
    >>> refit.model_uri  # doctest: +SKIP
    'models:/m-...'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sparksweep.data import load_table, prepare_dataset
from sparksweep.errors import SpecError
from sparksweep.models import get_family, log_fitted_model
from sparksweep.sweep._resume import check_fingerprint, read_resume, store_uri
from sparksweep.sweep._space import build_space, resolve_metric
from sparksweep.tracking import TAG_KIND, TAG_MODEL_KEPT, TAG_MODEL_URI, prepare_store, read_trials

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient
    from pyspark.sql import DataFrame as SparkDataFrame

    from sparksweep.trial import TrialResult

__all__ = ["Refit", "refit_trial"]


@dataclass(frozen=True)
class Refit:
    """What :func:`refit_trial` did."""

    run_id: str
    model_uri: str
    fitted: bool
    """False when the trial already had its model (nothing was fitted or logged)."""
    metric: str
    recorded: float | None
    """The trial's recorded value of the sweep's metric."""
    value: float | None = None
    """The refitted model's value on the validation split (None when nothing was fitted)."""


def _trial_run(client: MlflowClient, run_id: str) -> Any:
    """The run ``run_id``, checked to be a sweep's model trial."""
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        raise SpecError(
            f"run {run_id!r} is not in the tracking store ({exc.message}); pass a trial's run id (a child run of a "
            "sweep, tag sparksweep.kind = trial) and the store it is in (--tracking-uri)"
        ) from None
    kind = run.data.tags.get(TAG_KIND)
    if kind != "trial" or "mlflow.parentRunId" not in run.data.tags:
        raise SpecError(
            f"run {run_id} is not a sweep's trial (its sparksweep.kind is {kind!r}); pass the run id of one of a "
            "sweep's child runs"
        )
    return run


def _recorded_trial(client: MlflowClient, run: Any, parent_id: str, metric: str, space: Any) -> TrialResult:
    trials = read_trials(client, run.info.experiment_id, parent_id, metric, space=space)
    trial = next((t for t in trials if t.run_id == run.info.run_id), None)
    if trial is None or not trial.described:
        raise SpecError(f"run {run.info.run_id} holds no model trial's family and params to fit again")
    return trial


def refit_trial(
    run_id: str,
    *,
    tracking_uri: str | None = None,
    data: pd.DataFrame | SparkDataFrame | None = None,
    spark: Any = None,
) -> Refit:
    """Fit the trial ``run_id`` again (its family, params and seed, on the sweep's training split) and log the model
    into the trial's own run, as ``tracking.log_models: all`` would have; its ``sparksweep.model`` tag (not kept)
    is removed. A trial that has its model is left as it is.

    Args:
        run_id: The trial's run id (a child run of a sweep).
        tracking_uri: The store the sweep recorded into (default: ``MLFLOW_TRACKING_URI``, else
            ``sqlite:///mlflow.db``).
        data: The sweep's data, instead of reading the path or table its sweep file names.
        spark: A SparkSession, for a sweep whose data is a Spark table.

    Raises:
        SpecError: the run is not a sweep's model trial.
        DataError: the data differs from what the sweep ran on.
    """
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    uri = store_uri(tracking_uri)
    client = prepare_store(uri)
    run = _trial_run(client, run_id)
    parent_id = run.data.tags["mlflow.parentRunId"]
    spec, resume = read_resume(parent_id, uri, has_data=data is not None)
    existing = run.data.tags.get(TAG_MODEL_URI)
    recorded = run.data.metrics.get(resume.metric)
    if existing:
        return Refit(run_id, existing, False, resume.metric, recorded)
    dataset = prepare_dataset(load_table(spec.data, data, spark), spec.data, spec.task)
    check_fingerprint(resume.parent.data.params.get("data_fingerprint"), dataset, parent_id)
    metric = resolve_metric(spec.metric, dataset.task)
    trial = _recorded_trial(
        client, run, parent_id, resume.metric, build_space(spec.models, dataset.task, spec.search.space)
    )
    family = get_family(trial.family)
    seed = (spec.search.seed or 0) + trial.number
    training = dataset.training
    estimator = family.fit(
        family.build(trial.params, task=dataset.task, n_jobs=os.cpu_count() or 1, seed=seed), training
    )
    value = float(metric(training.y_valid, family.predict(estimator, training.X_valid, dataset.task)))
    with _use_tracking_uri(uri):  # log_model writes through MLflow's fluent API: this store, for the call only
        model_uri = log_fitted_model(
            family,
            estimator,
            task=dataset.task,
            features=dataset.features,
            data=training,
            classes=dataset.classes,
            run=run,
        )
    client.set_tag(run_id, TAG_MODEL_URI, model_uri)
    if TAG_MODEL_KEPT in run.data.tags:
        client.delete_tag(run_id, TAG_MODEL_KEPT)
    return Refit(run_id, model_uri, True, resume.metric, recorded, value)
