"""``report.html``: the sweep on one page (settings, top trials, the champion decision and every figure), readable
opened on its own: the figures are inlined, so the file needs nothing beside it."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sparksweep.metrics import Direction

if TYPE_CHECKING:
    from sparksweep.figures._records import SweepRecord

__all__ = ["PictureSection", "render_report"]

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;
padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .5rem;
text-align:left}th{background:#f4f4f4}figure{margin:1rem 0}img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.8rem;color:#555}.verdict{font-weight:600}.grid{display:flex;flex-wrap:wrap;gap:1rem}
.grid figure{flex:1 1 480px}
"""


@dataclass(frozen=True)
class PictureSection:
    """A titled group of figures: each (artifact path, PNG bytes)."""

    title: str
    pictures: tuple[tuple[str, bytes], ...]


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>" if any(header) else ""
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _short(text: str) -> str:
    """A hyperparameter's value as a person reads it (``0.0329`` for ``0.032922418141147804``)."""
    try:
        number = float(text)
    except ValueError:
        return text
    return text if number.is_integer() and "." not in text else f"{number:.4g}"


def _top_trials(record: SweepRecord, n: int) -> str:
    reverse = record.direction is Direction.MAXIMIZE
    top = sorted(record.completed, key=lambda t: t.value or 0.0, reverse=reverse)[:n]
    rows = [
        [
            str(t.number),
            t.family,
            f"{t.value:.6g}",
            f"{(t.ended or t.started) - t.started:.2f}",
            ", ".join(f"{k}={_short(v)}" for k, v in t.params.items()),
        ]
        for t in top
    ]
    return _table(["trial", "family", record.metric, "seconds", "hyperparameters"], rows)


def _champion(record: SweepRecord) -> str:
    gate = record.gate
    if gate is None:
        return "<p>No model was registered by this sweep (no <code>register</code> section).</p>"
    verdict = "promoted to @champion" if gate.promoted else "kept as @challenger; the champion stays"
    rows = [["registered", f"{gate.name} version {gate.version}"], ["decision", verdict]]
    if gate.candidate_score is not None:
        rows.append([f"test {record.metric}", f"{gate.candidate_score:.6g}"])
    if gate.champion_score is not None:
        rows.append([f"champion v{gate.champion_version} test {record.metric}", f"{gate.champion_score:.6g}"])
    if gate.interval is not None:
        rows.append(["bootstrap interval of the gain", f"[{gate.interval[0]:+.5g}, {gate.interval[1]:+.5g}]"])
    rows.append(["reason", gate.reason])
    return _table(["", ""], rows)


def _pictures(section: PictureSection) -> str:
    figures = []
    for path, data in section.pictures:
        encoded = base64.b64encode(data).decode("ascii")
        name = html.escape(path)
        figures.append(
            f'<figure><img alt="{name}" src="data:image/png;base64,{encoded}"><figcaption>{name}</figcaption></figure>'
        )
    return f"<h2>{html.escape(section.title)}</h2><div class='grid'>{''.join(figures)}</div>"


def render_report(record: SweepRecord, sections: list[PictureSection], *, top: int = 10) -> str:
    """The whole page as text."""
    settings = _table(["setting", "value"], [[k, v] for k, v in sorted(record.settings.items())])
    title = html.escape(f"sparksweep: {record.run_name}")
    summary = (
        f"{len(record.trials)} trials, {len(record.completed)} completed; {record.metric} ({record.direction.value}); "
        f"stopped by {record.stop_reason or 'unknown'}; parent run {record.run_id}."
    )
    body = [
        f"<h1>{title}</h1><p>{html.escape(summary)}</p>",
        f"<h2>Champion decision</h2>{_champion(record)}",
        f"<h2>Top trials</h2>{_top_trials(record, top)}",
        *(_pictures(s) for s in sections if s.pictures),
        f"<h2>Settings</h2>{settings}",
    ]
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>"
    )
