"""A run's figures while they are drawn: a staging folder, and a guard per figure that turns a failure into a
:class:`FigureWarning` naming it."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

__all__ = ["Board", "FigureWarning", "attempt"]

_log = logging.getLogger(__name__)
T = TypeVar("T")


class FigureWarning(UserWarning):
    """A figure (or the report) could not be drawn or logged; the sweep and the other figures are not affected."""


class Board:
    """Collects a run's figures in a staging folder, each drawn under its own guard."""

    def __init__(self, root: Path, failed: list[str]) -> None:
        self.root = root
        self.failed = failed
        self.pictures: list[tuple[str, bytes]] = []

    def attempt(self, name: str, fn: Callable[[], T]) -> T | None:
        return attempt(name, fn, self.failed)

    def draw(self, name: str, data: T | None, drawer: Callable[[T], bytes]) -> None:
        if data is None:
            return
        picture = self.attempt(name, lambda: drawer(data))
        if picture is not None:
            path = self.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(picture)
            self.pictures.append((name, picture))

    @property
    def names(self) -> list[str]:
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file())


def attempt(name: str, fn: Callable[[], T], failed: list[str]) -> T | None:
    """``fn()``, or None with a :class:`FigureWarning` naming ``name`` when it raises."""
    try:
        return fn()
    except Exception as exc:  # reported, never raised: a figure must not lose the sweep
        failed.append(name)
        _log.debug("figure %s failed", name, exc_info=True)
        warnings.warn(f"sparksweep could not draw {name}: {type(exc).__name__}: {exc}", FigureWarning, stacklevel=3)
        return None
