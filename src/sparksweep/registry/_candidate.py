"""What the registry is offered: a :class:`Candidate`, a logged model with the trial it stands for.

The registry decides on a model that exists; fitting one (a refit on train + valid, an ensemble) is the sweep's job
(:mod:`sparksweep.sweep._conclude`), which hands over the result as a candidate.

Example:
    >>> c = Candidate(model_uri="models:/m-1", run_id="r1", trial_run_id="r1", family="lightgbm", valid_score=0.9)
    >>> c.refit
    False
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sparksweep.errors import RegistryError

if TYPE_CHECKING:
    from sparksweep.trial import TrialResult

__all__ = ["Candidate"]


@dataclass(frozen=True)
class Candidate:
    """A logged model offered to the registry, and its lineage."""

    model_uri: str
    """The logged model (``models:/m-<id>``)."""
    run_id: str
    """The run that logged the model: the trial's own, or the refit's."""
    trial_run_id: str
    """The sweep's trial the model stands for (for an ensemble: the sweep's best trial)."""
    family: str
    """The model family, or ``"ensemble"``."""
    valid_score: float | None
    """The trial's validation score (the sweep's metric)."""
    refit: bool = False
    """Whether the model was fitted again on train + valid after the sweep."""
    every_row: str | None = None
    """``register.refit: all``: the same model fitted again on every row (train, valid and test; a ``models:/``
    URI), registered in place of :attr:`model_uri` when the candidate is promoted. The gate judges
    :attr:`model_uri`, the model that has not seen the test rows."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """More lineage tags for the model version (an ensemble's members under ``sparksweep.ensemble``)."""

    @classmethod
    def from_trial(cls, trial: TrialResult) -> Candidate:
        """The model ``trial`` logged, as it is (no refit).

        Raises:
            RegistryError: the trial logged no model.
        """
        if trial.model_uri is None:
            raise RegistryError(
                f"trial {trial.number} (run {trial.run_id}) logged no model, so there is nothing to register; "
                "set tracking.log_models: improving or all, or set register.refit: true (the best trial's family and "
                "params are then fitted again on train + valid and that model is registered)"
            )
        return cls(
            model_uri=trial.model_uri,
            run_id=trial.run_id,
            trial_run_id=trial.run_id,
            family=trial.family,
            valid_score=trial.value,
        )
