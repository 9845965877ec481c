"""Promoting a registered version by hand (``sparksweep champion promote``): through the champion gate, on the test
rows of a sweep file's data, with its metric and its registration rules."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from sparksweep.data import Dataset
    from sparksweep.metrics import Metric
    from sparksweep.registry import ChampionDecision
    from sparksweep.spec import RegisterSpec

__all__ = ["gate_inputs", "promote_champion"]


def gate_inputs(sweep_file: str | Path) -> tuple[Dataset, Metric, RegisterSpec | None]:
    """What the gate needs from a sweep file: its data prepared and split as the sweep splits it (so the test rows
    are the sweep's), its metric (the task's default when the file names none) and its ``register`` section.

    Example:
        >>> dataset, metric, registration = gate_inputs("examples/churn.yaml")  # doctest: +SKIP
    """
    from sparksweep.data import load_table, prepare_dataset
    from sparksweep.metrics import DEFAULT_METRIC, get_metric
    from sparksweep.spec import load_spec

    spec = load_spec(sweep_file)
    dataset = prepare_dataset(load_table(spec.data), spec.data, spec.task)
    metric = get_metric(spec.metric or DEFAULT_METRIC[dataset.task])
    return dataset, metric, spec.registration


def promote_champion(
    client: MlflowClient,
    name: str,
    version: str,
    *,
    tracking_uri: str,
    registry_uri: str | None = None,
    sweep_file: str | Path | None = None,
    force: bool = False,
) -> ChampionDecision:
    """Make ``version`` of ``name`` the champion: through the gate on ``sweep_file``'s test rows (see
    :func:`gate_inputs`) unless ``force``; without a sweep file, only ``force`` promotes. ``client``'s registry is
    ``registry_uri`` (None: the tracking store ``tracking_uri``).

    Example:
        >>> promote_champion(client, "churn", "3", tracking_uri=uri, sweep_file="churn.yaml")  # doctest: +SKIP
    """
    from sparksweep.registry import promote_version

    dataset = metric = registration = None
    if sweep_file is not None:
        dataset, metric, registration = gate_inputs(sweep_file)
    return promote_version(
        client,
        name,
        version,
        tracking_uri=tracking_uri,
        registry_uri=registry_uri,
        dataset=dataset,
        metric=metric,
        registration=registration,
        force=force,
    )
