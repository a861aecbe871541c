"""The report's figures, drawn with matplotlib and returned as PNG bytes.

Figures are drawn on an explicit Agg canvas and never through pyplot, so building a report
touches no global matplotlib state (backend, current figure) of the process that calls it.
Inputs are plain arrays and label strings; labels are made safe for matplotlib here.
"""

from __future__ import annotations

import io
from typing import Mapping, Optional, Sequence, Tuple

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def _figure_png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)  # Agg explicitly; no pyplot, so no global backend state is touched
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def _plot_text(text: str, limit: int = 24) -> str:
    """A label safe for matplotlib: no mathtext (`$`), bounded length."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def confusion_matrix_png(
    counts: np.ndarray, row_labels: Sequence[str], column_labels: Sequence[str], integral: bool
) -> bytes:
    """Heatmap of `counts` (actual x predicted), coloured by row fraction, counts written in."""
    totals = counts.sum(axis=1)
    n = len(row_labels)
    size = min(max(4.0, 0.5 * n + 2.5), 16.0)
    figure = Figure(figsize=(size + 1.0, size))
    axes = figure.add_subplot(1, 1, 1)
    normalised = counts / np.where(totals[:, None] > 0, totals[:, None], 1.0)
    image = axes.imshow(normalised, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    figure.colorbar(image, ax=axes, label="fraction of actual class")
    if n <= 40:
        axes.set_xticks(range(len(column_labels)), [_plot_text(c) for c in column_labels], rotation=45, ha="right")
        axes.set_yticks(range(n), [_plot_text(r) for r in row_labels])
    if n <= 25:
        for i in range(n):
            for j in range(len(column_labels)):
                text = f"{counts[i, j]:.0f}" if integral else f"{counts[i, j]:.1f}"
                axes.text(j, i, text, ha="center", va="center", fontsize=8,
                          color="white" if normalised[i, j] > 0.5 else "black")
    axes.set_xlabel("predicted")
    axes.set_ylabel("actual")
    axes.set_title("Confusion matrix (row-normalised colour, counts)")
    return _figure_png(figure)


def reliability_diagram_png(curves: Mapping[str, Tuple[np.ndarray, np.ndarray]], num_bins: int) -> bytes:
    """Reliability diagram: {label: (mean predicted probability, observed frequency)} per curve."""
    figure = Figure(figsize=(6.5, 5.5))
    axes = figure.add_subplot(1, 1, 1)
    axes.plot([0, 1], [0, 1], color="gray", linestyle="--", label="perfectly calibrated")
    for label, (confidence, observed) in curves.items():
        axes.plot(confidence, observed, marker="o", label=_plot_text(label, 30))
    axes.set_xlim(-0.02, 1.02)
    axes.set_ylim(-0.02, 1.02)
    axes.set_xlabel("mean predicted probability")
    axes.set_ylabel("observed frequency")
    axes.set_title(f"Reliability diagram ({num_bins} bins)")
    if len(curves) <= 20:
        axes.legend(fontsize=8, loc="upper left")
    return _figure_png(figure)


def accuracy_by_C_png(points: Sequence[Tuple[float, float]], chosen: Optional[float]) -> bytes:
    """The probe's validation accuracy against its regularisation C (log axis), the C used marked."""
    figure = Figure(figsize=(5.0, 2.8))
    axes = figure.add_subplot(1, 1, 1)
    xs, ys = zip(*points)
    axes.plot(xs, ys, marker="o", color="#1f77b4")
    if chosen is not None and chosen in xs:
        axes.plot([chosen], [ys[xs.index(chosen)]], marker="o", markersize=11, fillstyle="none", color="#1a7f37",
                  linestyle="none", label="C used")
        axes.legend(fontsize=8, loc="lower right")
    axes.set_xscale("log")
    axes.set_xlabel("C (inverse regularisation)")
    axes.set_ylabel("validation accuracy")
    axes.set_title("Probe head: validation accuracy per C")
    return _figure_png(figure)
