"""The champion's figures, drawn from their typed data (:mod:`sparksweep.figures._champion_data`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sparksweep.figures._canvas import new_figure, png

if TYPE_CHECKING:
    from sparksweep.figures._champion_data import Calibration, ConfusionMatrix, Curve, Importance, RegressionFit

__all__ = [
    "draw_calibration",
    "draw_confusion",
    "draw_curves",
    "draw_importance",
    "draw_predicted_vs_actual",
    "draw_residuals",
]


def draw_importance(data: Importance, title: str) -> bytes:
    names = list(data.names) + ([f"the other {data.n_rest} features"] if data.n_rest else [])
    values = list(data.values) + ([data.rest] if data.n_rest else [])
    figure = new_figure(7.0, 1.2 + 0.28 * max(3, len(names)))
    ax = figure.add_subplot()
    ys = list(range(len(names)))[::-1]
    colours = ["#4c72b0"] * len(data.names) + (["#999999"] if data.n_rest else [])
    ax.barh(ys, values, color=colours)
    ax.set_yticks(ys, names, fontsize=7)
    ax.set_xlabel(data.kind)
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="x")
    return png(figure)


def draw_curves(curves: tuple[Curve, ...], kind: str) -> bytes:
    figure = new_figure(5.5, 5.0)
    ax = figure.add_subplot()
    area = "AUC" if kind == "roc" else "AP"
    for curve in curves:
        ax.plot(curve.x, curve.y, linewidth=1.4, label=f"{curve.label} ({area} {curve.area:.3f})")
    if kind == "roc":
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_title("ROC curve on the test rows")
    else:
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_title("Precision-recall curve on the test rows")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right" if kind == "roc" else "lower left")
    return png(figure)


def draw_confusion(data: ConfusionMatrix) -> bytes:
    n = len(data.labels)
    figure = new_figure(max(4.5, 0.6 * n + 3), max(4.0, 0.6 * n + 2.5))
    ax = figure.add_subplot()
    counts = np.asarray(data.counts)
    image = ax.imshow(counts, cmap="Blues")
    for i in range(n):
        for j in range(n):
            colour = "white" if counts[i, j] > counts.max() / 2 else "black"
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", color=colour, fontsize=8)
    ax.set_xticks(range(n), data.labels, rotation=30, fontsize=8)
    ax.set_yticks(range(n), data.labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    at = f" at threshold {data.threshold:g}" if data.threshold is not None else ""
    ax.set_title(f"Confusion matrix{at}: {data.total} test rows", fontsize=10)
    figure.colorbar(image, ax=ax)
    return png(figure)


def draw_calibration(data: Calibration) -> bytes:
    figure = new_figure(5.5, 5.0)
    ax = figure.add_subplot()
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfectly calibrated")
    ax.plot(data.predicted, data.observed, marker="o", linewidth=1.4, label="champion")
    for x, y, n in zip(data.predicted, data.observed, data.counts, strict=True):
        ax.annotate(str(n), (x, y), fontsize=6, xytext=(3, -8), textcoords="offset points")
    ax.set_xlabel(f"mean predicted {data.label}")
    ax.set_ylabel("observed frequency")
    ax.set_title("Calibration on the test rows (rows per bin)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return png(figure)


def draw_predicted_vs_actual(data: RegressionFit) -> bytes:
    figure = new_figure(5.5, 5.0)
    ax = figure.add_subplot()
    ax.scatter(data.actual, data.predicted, s=8, alpha=0.5)
    low, high = min(*data.actual, *data.predicted), max(*data.actual, *data.predicted)
    ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    ax.set_title(f"Predicted vs actual: {len(data.actual)} test rows")
    ax.grid(alpha=0.3)
    return png(figure)


def draw_residuals(data: RegressionFit) -> bytes:
    figure = new_figure(8.0, 3.8)
    left, right = figure.subplots(1, 2)
    residuals = data.residuals
    left.scatter(data.predicted, residuals, s=8, alpha=0.5)
    left.axhline(0, color="grey", linestyle="--", linewidth=1)
    left.set_xlabel("predicted")
    left.set_ylabel("actual - predicted")
    left.grid(alpha=0.3)
    right.hist(residuals, bins=30, color="#4c72b0")
    right.set_xlabel("actual - predicted")
    right.set_ylabel("test rows")
    figure.suptitle("Residuals on the test rows")
    return png(figure)
