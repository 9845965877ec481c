"""``sparksweep report``: the figures of an earlier sweep (one run with ``tracking.figures: false``, say), drawn from
what MLflow holds, logged on its runs and, if asked, written to a folder."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from sparksweep.figures._report import FigureInputs, FigureReport, draw_sweep_figures

__all__ = ["report_sweep"]


def report_sweep(parent_run_id: str, *, tracking_uri: str | None = None, out: str | Path | None = None) -> FigureReport:
    """Draw the figures and ``report.html`` of the sweep ``parent_run_id`` again, from MLflow alone (and the sweep's
    data file, for the champion's test rows).

    Args:
        parent_run_id: The sweep's parent run id (tag ``sparksweep.kind=sweep``).
        tracking_uri: The store the sweep recorded into (default: ``MLFLOW_TRACKING_URI``, else
            ``sqlite:///mlflow.db``).
        out: A folder to write the figures and the report to, as well as logging them on the runs.

    Example:
        >>> report = report_sweep("3f2a...", tracking_uri="sqlite:///mlflow.db")  # doctest: +SKIP
        >>> report.parent_artifacts[:1]  # doctest: +SKIP
        ['figures/best_so_far_by_time.png']
    """
    from sparksweep.errors import SparkSweepError
    from sparksweep.spec import DEFAULT_TRACKING_URI, validate_spec
    from sparksweep.tracking import prepare_store, read_spec_yaml, read_sweep_run, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI)
    client = prepare_store(uri)
    read_sweep_run(client, parent_run_id)  # a SpecError naming the run when it is not a sweep's
    raw = yaml.safe_load(read_spec_yaml(client, parent_run_id))
    spec = validate_spec(raw, source=f"the sweep file recorded on run {parent_run_id}").with_overrides(
        **{"tracking.uri": uri, "tracking.figures": True}
    )
    inputs = FigureInputs(uri, parent_run_id, spec, out=None if out is None else Path(out))
    report = draw_sweep_figures(inputs)
    if report is None:
        raise SparkSweepError(f"the sweep {parent_run_id} could not be read back from {uri}; see the warning above")
    return report
