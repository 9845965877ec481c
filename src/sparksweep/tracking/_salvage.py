"""A computed trial recorded by the driver: its worker computed the result and died (or lost its connection) while
writing it to the store, so the driver writes what is missing from the run (the metrics, the model the worker may
have logged, the end) from the result the worker had handed back."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sparksweep.tracking._names import COMPUTE_TIME_METRIC, TAG_MODEL_URI, TAG_RECORDED_BY
from sparksweep.trial import TrialResult

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["finish_computed"]

DURATION_METRIC = "duration"


def finish_computed(
    client: Any, call: Callable[..., Any], experiment_id: str, run_id: str, result: TrialResult
) -> TrialResult:
    """End ``run_id`` FINISHED with ``result``'s metrics (the ones it does not hold yet: the worker may have written
    some), tagged with the model the worker logged before it died, if it got that far; a run the worker ended already
    is left as it is. ``call(what, fn, *args)`` makes each store call (with retries). Returns the result as recorded.
    """
    from mlflow.entities import Metric, RunTag

    run = call("read the trial's run", client.get_run, run_id)
    model_uri = (
        result.model_uri or run.data.tags.get(TAG_MODEL_URI) or _logged_model(client, call, experiment_id, run_id)
    )
    if run.info.status == "FINISHED":  # the worker ended it before it went: recorded
        return replace(result, run_id=run_id, model_uri=model_uri, recorded=True)
    now = int(time.time() * 1000)
    model_id = None if model_uri is None else model_uri.removeprefix("models:/")
    values = {**result.metrics, DURATION_METRIC: result.duration}
    if result.compute_time is not None:
        values.setdefault(COMPUTE_TIME_METRIC, result.compute_time)
    points = [Metric(k, v, now, 0, model_id=model_id) for k, v in values.items() if k not in run.data.metrics]
    how = "the driver, from the result its worker computed (the worker exited while recording it)"
    tags = [RunTag(TAG_RECORDED_BY, how)]
    if model_uri is not None and TAG_MODEL_URI not in run.data.tags:
        tags.append(RunTag(TAG_MODEL_URI, model_uri))
    call("log the trial's results", client.log_batch, run_id, metrics=points, tags=tags)
    call("mark the trial's run FINISHED", client.set_terminated, run_id, status="FINISHED")
    return replace(result, run_id=run_id, model_uri=model_uri, recorded=True)


def _logged_model(client: Any, call: Callable[..., Any], experiment_id: str, run_id: str) -> str | None:
    """The model the run's worker finished logging (READY) before it went, if any."""
    from mlflow.entities import LoggedModelStatus

    found = call(
        "look up the trial's logged model",
        client.search_logged_models,
        [experiment_id],
        filter_string=f"source_run_id = '{run_id}'",
    )
    ready = [m for m in found if m.status == LoggedModelStatus.READY]
    return f"models:/{ready[-1].model_id}" if ready else None
