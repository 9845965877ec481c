"""The sweep's last step: its best trial (refitted on train + valid when ``register.refit``), or the chosen
ensemble of finalists refitted, offered to the registry as a :class:`~sparksweep.registry.Candidate`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sparksweep.errors import RegistryError
from sparksweep.registry import Candidate, ChampionDecision, register_champion
from sparksweep.sweep._refit import refit_best, refit_ensemble

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
    registry_uri: str | None = None,
    registration: RegisterSpec,
    best: TrialResult,
    dataset: Dataset,
    metric: Metric,
    sweep_run_id: str,
    ensemble: Sequence[tuple[TrialResult, float]] | None = None,
    refit_missing: bool = False,
) -> ChampionDecision:
    """Register ``best`` (refit on train + valid when ``registration.refit``) as a new version of
    ``registration.name`` through the champion gate (:func:`~sparksweep.registry.register_champion`), in the
    registry ``registry_uri`` (None: the tracking store; see :func:`sparksweep.tracking.registry_uri`). ``client`` is
    the tracking store's; refits are logged there.

    With ``ensemble`` (finalists and their weights; needs ``registration.refit``) the candidate is their weighted
    average, each member refitted (:func:`~sparksweep.sweep._refit.refit_ensemble`), instead of ``best`` alone.

    With ``registration.refit`` ``"all"`` the same model is also fitted on every row (train, valid and test) before
    the gate, so the registry lease is held only for the registration; a promoted candidate registers that model, with
    the gate's scores of the model that did not see the test rows (a candidate that is not promoted registers the
    latter as the challenger).

    With ``refit_missing`` (``tracking.log_models: improving``) a best trial that has no model (a finalist that never
    was the best so far, or one whose worker died while logging it) is refitted rather than refused.

    Example:
        >>> decision = conclude(  # doctest: +SKIP
        ...     client=client, tracking_uri=uri, registry_uri=registry, registration=spec.registration,
        ...     best=result.best, dataset=ds, metric=metric, sweep_run_id=run_id, ensemble=None)
    """
    from mlflow import MlflowClient

    if refit_missing and best.model_uri is None and not registration.refit:
        registration = registration.model_copy(update={"refit": True})
    candidate = _candidate(client, tracking_uri, registration, best, dataset, sweep_run_id, ensemble)
    registry = client if registry_uri is None else MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)
    return register_champion(
        client=registry,
        tracking_uri=tracking_uri,
        registry_uri=registry_uri,
        registration=registration,
        candidate=candidate,
        dataset=dataset,
        metric=metric,
        sweep_run_id=sweep_run_id,
    )


def _candidate(
    client: MlflowClient,
    tracking_uri: str,
    registration: RegisterSpec,
    best: TrialResult,
    dataset: Dataset,
    sweep_run_id: str,
    ensemble: Sequence[tuple[TrialResult, float]] | None,
) -> Candidate:
    """The model to register: ``best``'s own, or (``registration.refit``) ``best`` or ``ensemble`` fitted again."""
    if ensemble and not registration.refit:
        raise RegistryError(
            "an ensemble is registered refitted on all the training rows, and register.refit is false; "
            "set register.refit: true, or set search.ensemble: false"
        )
    if not registration.refit:
        return Candidate.from_trial(best)
    tags: dict[str, str] = {}
    every_row: str | None = None
    if ensemble:
        model_uri = refit_ensemble(client, tracking_uri, ensemble, dataset, sweep_run_id)
        tags["sparksweep.ensemble"] = ", ".join(f"{t.family} {w:.2f} (run {t.run_id})" for t, w in ensemble)
        if registration.refit == "all":
            every_row = refit_ensemble(client, tracking_uri, ensemble, dataset, sweep_run_id, every_row=True)
    else:  # the refit model is registered: the trial's own model is not needed
        model_uri = refit_best(client, tracking_uri, best, dataset, sweep_run_id)
        if registration.refit == "all":
            every_row = refit_best(client, tracking_uri, best, dataset, sweep_run_id, every_row=True)
    return Candidate(
        model_uri=model_uri,
        run_id=client.get_logged_model(model_uri.removeprefix("models:/")).source_run_id or best.run_id,
        trial_run_id=best.run_id,
        family="ensemble" if ensemble else best.family,
        valid_score=best.value,
        refit=True,
        every_row=every_row,
        tags=tags,
    )
