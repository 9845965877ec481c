"""What every figure shares: a matplotlib figure on the Agg canvas (no pyplot, no display, no global state), its PNG
bytes, and one colour per model family."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DPI", "family_colours", "new_figure", "png"]

DPI = 100


def new_figure(width: float = 7.0, height: float = 4.2) -> Figure:
    """A figure drawn by the Agg backend (matplotlib imported here, not when sparksweep is)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def family_colours(families: Iterable[str]) -> dict[str, str]:
    """One colour per family, the same for the same set of families in every figure."""
    from matplotlib import colormaps

    names = sorted(set(families))
    cmap = colormaps["tab10"]
    return {name: _hex(cmap(i % cmap.N)) for i, name in enumerate(names)}


def _hex(rgb: tuple[float, ...]) -> str:
    return "#" + "".join(f"{round(c * 255):02x}" for c in rgb[:3])
