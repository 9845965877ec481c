"""The sweep's figures, drawn from their typed data (:mod:`sparksweep.figures._sweep_data`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sparksweep.figures._canvas import family_colours, new_figure, png

if TYPE_CHECKING:
    from sparksweep.figures._gate_view import GateView
    from sparksweep.figures._param_importance import ParamImportance
    from sparksweep.figures._sweep_data import (
        BestSoFar,
        FamilyScores,
        FinalistScores,
        ParallelCoordinates,
        Timeline,
    )

__all__ = [
    "draw_best_so_far",
    "draw_family_scores",
    "draw_finalists",
    "draw_gate",
    "draw_parallel_coordinates",
    "draw_param_importance",
    "draw_timeline",
]


def draw_best_so_far(data: BestSoFar) -> bytes:
    figure = new_figure()
    ax = figure.add_subplot()
    colours = family_colours(p.family for p in data.points)
    for family, colour in colours.items():
        mine = [p for p in data.points if p.family == family]
        ax.scatter([p.x for p in mine], [p.value for p in mine], s=14, color=colour, alpha=0.7, label=family)
    ax.step(data.x, data.best, where="post", color="black", linewidth=1.6, label="best so far")
    ax.set_xlabel("trial number" if data.axis == "trial" else "seconds since the sweep started")
    ax.set_ylabel(f"{data.metric} ({data.direction.value})")
    ax.set_title(f"Best {data.metric} so far, by {'trial' if data.axis == 'trial' else 'wall time'}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return png(figure)


def draw_family_scores(data: FamilyScores) -> bytes:
    figure = new_figure(7.0, 1.2 + 0.5 * max(2, len(data.families)))
    ax = figure.add_subplot()
    colours = family_colours(data.families)
    positions = list(range(len(data.families)))[::-1]
    with_scores = [(pos, s) for pos, s in zip(positions, data.scores, strict=True) if s]
    if with_scores:
        boxes = [s for _, s in with_scores]
        ax.boxplot(boxes, positions=[p for p, _ in with_scores], orientation="horizontal", widths=0.6)
    for pos, family, scores in zip(positions, data.families, data.scores, strict=True):
        jitter = [pos + 0.15 * ((i % 5) - 2) / 2 for i in range(len(scores))]
        ax.scatter(scores, jitter, s=10, color=colours[family], alpha=0.6, zorder=3)
    labels = [
        f"{f} ({len(s)}" + (f", {n} not completed)" if n else ")")
        for f, s, n in zip(data.families, data.scores, data.failed, strict=True)
    ]
    ax.set_yticks(positions, labels, fontsize=8)
    ax.set_xlabel(data.metric)
    ax.set_title(f"{data.metric} per family (completed trials)")
    ax.grid(alpha=0.3, axis="x")
    return png(figure)


def draw_parallel_coordinates(data: ParallelCoordinates) -> bytes:
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    figure = new_figure(max(6.0, 1.4 * len(data.params) + 2), 4.4)
    ax = figure.add_subplot()
    if not data.params:
        ax.text(0.5, 0.5, f"{data.family} has no hyperparameter that varied", ha="center", va="center")
        ax.set_axis_off()
        return png(figure)
    norm = Normalize(min(data.values), max(data.values))
    cmap = colormaps["viridis"]
    order = sorted(range(len(data.values)), key=lambda i: data.values[i])  # the best drawn last (on top)
    xs = list(range(len(data.params)))
    # One collection rather than a line per trial: 500 trials draw in one call.
    lines = LineCollection(
        [list(zip(xs, data.positions[i], strict=True)) for i in order],
        colors=[cmap(norm(data.values[i])) for i in order],
        linewidths=1,
        alpha=0.6,
    )
    ax.add_collection(lines)
    if len(xs) == 1:  # a line over one axis is a point
        ax.scatter([0] * len(order), [data.positions[i][0] for i in order], s=6, c=[data.values[i] for i in order])
    ax.set_xlim(-0.3, max(xs) + 0.3)
    for x, low, high, log, cats in zip(xs, data.low, data.high, data.log, data.categories, strict=True):
        ax.axvline(x, color="grey", linewidth=0.8)
        top, bottom = (cats[-1], cats[0]) if cats else (f"{high:.3g}", f"{low:.3g}")
        ax.text(x, 1.03, top + (" (log)" if log else ""), ha="center", fontsize=7)
        ax.text(x, -0.07, bottom, ha="center", fontsize=7)
    ax.set_xticks(xs, data.params, rotation=20, fontsize=8)
    ax.set_yticks([])
    ax.set_ylim(-0.12, 1.1)
    figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=data.metric)
    ax.set_title(f"{data.family}: {len(data.values)} completed trial(s)", fontsize=10)
    return png(figure)


def draw_param_importance(data: ParamImportance) -> bytes:
    figure = new_figure(7.0, 1.2 + 0.4 * max(2, len(data.params)))
    ax = figure.add_subplot()
    ys = list(range(len(data.params)))[::-1]
    ax.barh(ys, data.importances, color="#4c72b0")
    ax.set_yticks(ys, data.params, fontsize=8)
    ax.set_xlabel(f"importance for {data.metric} ({data.evaluator}, share of variance)")
    of = f" (a sample of {data.of_trials})" if data.of_trials else ""
    ax.set_title(f"Hyperparameter importance: {data.family}, {data.n_trials} trials{of}")
    ax.grid(alpha=0.3, axis="x")
    return png(figure)


def draw_timeline(data: Timeline) -> bytes:
    """One row per slot: each trial solid while it computes, its recording a thin lighter band beneath (the slot
    may compute its next trial meanwhile), idle time blank."""
    from matplotlib.patches import Patch

    figure = new_figure(8.0, 1.4 + 0.35 * max(2, data.slots))
    ax = figure.add_subplot()
    colours = family_colours(b.family for b in data.bars)
    for slot in range(data.slots):  # two collections per slot: 500 trials draw in a few calls
        mine = [b for b in data.bars if b.slot == slot]
        ax.broken_barh(
            [(b.start, max(b.busy_until - b.start, 1e-3)) for b in mine],
            (slot - 0.35, 0.5),
            facecolors=[colours[b.family] for b in mine],
            edgecolors=["red" if b.state != "complete" else "white" for b in mine],
            linewidth=0.5,
        )
        tails = [b for b in mine if b.computed is not None and b.end > b.computed]
        if tails:
            ax.broken_barh(
                [(b.busy_until, b.end - b.busy_until) for b in tails],
                (slot + 0.17, 0.18),
                facecolors=[colours[b.family] for b in tails],
                alpha=0.35,
                linewidth=0,
            )
    ax.set_yticks(range(data.slots), [f"slot {i}" for i in range(data.slots)], fontsize=8)
    ax.set_ylim(data.slots - 0.5, -0.5)
    ax.set_xlim(0, max(data.span, 1e-3) * 1.01)
    how = "light band: recording" if data.recorded else "slots inferred from the runs' times"
    ax.set_xlabel(f"seconds since the sweep started ({how}; red edge: failed, pruned or killed)")
    ax.set_title(f"Trials per slot: {data.slots} slots, {data.idle_share:.0%} of slot time idle")
    handles = [Patch(color=colour, label=family) for family, colour in colours.items()]
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the rows
    ax.grid(alpha=0.3, axis="x")
    return png(figure)


def draw_finalists(data: FinalistScores) -> bytes:
    figure = new_figure(5.5, 5.0)
    ax = figure.add_subplot()
    colours = family_colours(p.family for p in data.points)
    scored = [p for p in data.points if p.fresh is not None]
    for p in scored:
        ax.scatter(p.search, p.fresh or 0.0, color=colours[p.family], s=40, zorder=3)
        ax.annotate(
            f"#{p.number} {p.family}", (p.search, p.fresh or 0.0), fontsize=7, xytext=(4, 4), textcoords="offset points"
        )
    values = [p.search for p in scored] + [p.fresh or 0.0 for p in scored]
    if values:
        low, high = min(values), max(values)
        pad = (high - low) * 0.1 or 0.01
        ax.plot([low - pad, high + pad], [low - pad, high + pad], color="grey", linestyle="--", linewidth=1)
    lost = len(data.points) - len(scored)
    ax.set_xlabel(f"search {data.metric}")
    ax.set_ylabel(f"fresh-fold {data.metric}")
    ax.set_title("Finalists: search score vs fresh folds" + (f" ({lost} not scored)" if lost else ""))
    ax.grid(alpha=0.3)
    return png(figure)


def draw_gate(data: GateView) -> bytes:
    figure = new_figure()
    ax = figure.add_subplot()
    verdict = "promoted" if data.promoted else "rejected"
    verdict += " (forced past the gate)" if data.reason.startswith("forced") else ""
    if data.gains is not None:
        unit = "relative gain" if data.relative else f"gain in {data.metric}"
        ax.hist(data.gains, bins=40, color="#4c72b0", alpha=0.8)
        ax.axvline(data.min_improvement, color="red", linestyle="--", label=f"min_improvement {data.min_improvement:g}")
        ax.axvline(0.0, color="black", linewidth=0.8)
        if data.gain is not None:
            ax.axvline(data.gain, color="green", label=f"gain {data.gain:+.4g}")
        if data.interval is not None and data.confidence is not None:
            ax.axvspan(*data.interval, color="orange", alpha=0.15, label=f"{data.confidence:.0%} interval")
        ax.set_xlabel(f"{unit}, v{data.version} over champion v{data.champion_version} (paired bootstrap)")
        ax.set_ylabel("resamples")
        ax.legend(fontsize=8)
    else:
        names = [f"test {data.metric}"] + [t.text for t in data.thresholds]
        scores = [data.candidate_score or 0.0] + [t.score or 0.0 for t in data.thresholds]
        colours = ["#4c72b0"] + ["green" if t.holds else "red" for t in data.thresholds]
        ax.barh(range(len(names))[::-1], scores, color=colours)
        ax.set_yticks(range(len(names))[::-1], names, fontsize=8)
        ax.set_xlabel("score on the test rows (no champion to compare with)")
    ax.set_title(f"Gate: v{data.version} {verdict}", fontsize=11)
    figure.text(0.01, 0.005, _wrap(data.reason, 130), fontsize=6.5, va="bottom")
    figure.get_layout_engine().set(rect=(0, 0.12, 1, 0.88))  # type: ignore[union-attr,call-arg]
    return png(figure)


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)[:3])
