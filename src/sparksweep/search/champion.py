"""Champion selection as the engine calls it; the implementation lives in :mod:`sparksweep.registry`."""

from __future__ import annotations

from sparksweep.registry import CHALLENGER, CHAMPION, PREVIOUS, ChampionDecision, evaluate_model, register_champion

__all__ = ["CHALLENGER", "CHAMPION", "PREVIOUS", "ChampionDecision", "evaluate_model", "register_champion"]
