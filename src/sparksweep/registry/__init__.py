"""The model registry side of sparksweep: a :class:`Candidate` (a logged model and its lineage) goes through the
champion gate and becomes a version with aliases; promotion by hand, history, rollback, and the lease that keeps
concurrent registrations consistent. The registry fits nothing: the sweep refits before it offers a candidate.

Example:
    >>> from sparksweep.registry import show_champion
    >>> view = show_champion(client, "churn-model")  # doctest: +SKIP
    >>> view.aliases  # doctest: +SKIP
    {'champion': '3', 'previous': '1', 'challenger': '2'}
"""

from __future__ import annotations

from sparksweep.registry._aliases import CHALLENGER, CHAMPION, PREVIOUS
from sparksweep.registry._candidate import Candidate
from sparksweep.registry._decision import ChampionDecision, evaluate_model
from sparksweep.registry._gate import GateResult, judge, paired_bootstrap
from sparksweep.registry._history import PromotionEvent
from sparksweep.registry._lease import lease_name, registry_lease
from sparksweep.registry._manage import (
    ChampionView,
    champion_history,
    promote_version,
    rollback_champion,
    show_champion,
)
from sparksweep.registry._register import register_champion

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "PREVIOUS",
    "Candidate",
    "ChampionDecision",
    "ChampionView",
    "GateResult",
    "PromotionEvent",
    "champion_history",
    "evaluate_model",
    "judge",
    "lease_name",
    "paired_bootstrap",
    "promote_version",
    "register_champion",
    "registry_lease",
    "rollback_champion",
    "show_champion",
]
