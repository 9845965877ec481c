"""The model registry side of sparksweep: the champion gate, aliases, promotion history, rollback and the lease
that keeps concurrent registrations consistent.

Example:
    >>> from sparksweep.registry import show_champion
    >>> view = show_champion(client, "churn-model")  # doctest: +SKIP
    >>> view.aliases  # doctest: +SKIP
    {'champion': '3', 'previous': '1', 'challenger': '2'}
"""

from __future__ import annotations

from sparksweep.registry._champion import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    ChampionDecision,
    ChampionView,
    champion_history,
    evaluate_model,
    promote_version,
    register_champion,
    rollback_champion,
    show_champion,
)
from sparksweep.registry._gate import GateResult, judge, paired_bootstrap
from sparksweep.registry._history import PromotionEvent
from sparksweep.registry._lease import lease_name, registry_lease

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "PREVIOUS",
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
