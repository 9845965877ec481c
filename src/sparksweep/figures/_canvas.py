"""What every figure shares: a matplotlib figure on the Agg canvas (no pyplot, no display, no global state), its PNG
bytes, and one colour per model family."""

from __future__ import annotations

import importlib
import io
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DPI", "family_colours", "new_figure", "png", "preload_matplotlib"]

DPI = 100


_MODULES = (
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
    "matplotlib.collections",
    "matplotlib.patches",
    "matplotlib.cm",
)


def _import_all() -> None:
    for name in _MODULES:
        importlib.import_module(name)


def preload_matplotlib() -> threading.Thread:
    """Import matplotlib in a background thread (about 0.8 s on 2 cores) while the trials run, so the figures drawn
    after them do not pay for it. An import error surfaces, as a figure warning, when the figures are drawn."""
    thread = threading.Thread(target=_preload, name="sparksweep-figures-preload", daemon=True)
    thread.start()
    return thread


def _preload() -> None:
    try:
        _import_all()
    except ImportError:  # drawing imports it again and reports why (with the install hint)
        return


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
