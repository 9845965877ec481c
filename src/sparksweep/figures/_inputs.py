"""What drawing a sweep's figures starts from (shared by the sweep's and the champion's figures)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sparksweep.data import Dataset
    from sparksweep.registry import ChampionDecision
    from sparksweep.spec import SweepSpec

__all__ = ["FigureInputs"]


@dataclass(frozen=True)
class FigureInputs:
    """What drawing a sweep's figures starts from: its store and parent run, its spec, and what the sweep still
    holds in memory (``dataset``: the test rows; ``decision``: the gate's bootstrap), else read back or reloaded."""

    tracking_uri: str
    parent_run_id: str
    spec: SweepSpec
    dataset: Dataset | None = None
    decision: ChampionDecision | None = None
    out: Path | None = None
    """A folder to write the figures and the report to as well."""
