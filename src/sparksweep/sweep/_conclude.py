"""The conclusion of a sweep: its champion candidate decided on by the registry's gate.

For now :func:`conclude` forwards to :func:`sparksweep.registry.register_champion` (which also refits the model);
the refit moves here (finalists -> ensemble -> refit -> registry), behind the same signature.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sparksweep.registry import ChampionDecision, register_champion

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from sparksweep.data import Dataset
    from sparksweep.metrics import Metric
    from sparksweep.spec import RegisterSpec
    from sparksweep.trial import TrialResult

__all__ = ["conclude"]


def conclude(
    *,
    client: MlflowClient,
    tracking_uri: str,
    registration: RegisterSpec,
    best: TrialResult,
    dataset: Dataset,
    metric: Metric,
    sweep_run_id: str,
    ensemble: Sequence[tuple[TrialResult, float]] | None,
) -> ChampionDecision:
    """Register the sweep's champion candidate (``best``, or the ``ensemble`` of finalists and their weights) as a
    new version of ``registration.name``, gated against the current ``@champion``."""
    return register_champion(
        client=client,
        tracking_uri=tracking_uri,
        registration=registration,
        best=best,
        dataset=dataset,
        metric=metric,
        sweep_run_id=sweep_run_id,
        ensemble=ensemble,
    )
