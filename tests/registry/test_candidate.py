"""The candidate the registry is offered: a trial's own logged model, or nothing to register."""

from __future__ import annotations

import pytest

from sparksweep.errors import RegistryError
from sparksweep.registry import Candidate
from sparksweep.trial import TrialResult, TrialState


def _trial(model_uri: str | None) -> TrialResult:
    return TrialResult(3, "run-3", "lightgbm", {}, TrialState.COMPLETE, 0.81, model_uri=model_uri)


def test_a_trial_with_a_model_is_its_own_candidate_unrefitted() -> None:
    candidate = Candidate.from_trial(_trial("models:/m-abc"))
    assert candidate == Candidate(
        model_uri="models:/m-abc", run_id="run-3", trial_run_id="run-3", family="lightgbm", valid_score=0.81
    )
    assert not candidate.refit
    assert dict(candidate.tags) == {}


def test_a_trial_without_a_model_says_how_to_get_one() -> None:
    with pytest.raises(RegistryError, match=r"trial 3 \(run run-3\) logged no model.*register\.refit: true"):
        Candidate.from_trial(_trial(None))
