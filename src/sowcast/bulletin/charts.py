"""Chart of the onset probabilities by week, one small bar chart per location (small
multiples on a shared 0-100 % axis), as PNG bytes; the dashed line is the probability that
opens the planting window."""

from __future__ import annotations

import math

import numpy as np

from sowcast.bulletin.maps import FONT, _png

BAR = "#2b8cbe"


def onset_chart(names: list[str], probabilities: np.ndarray, weeks: list[int], week_labels: list[str],
                threshold: float, title: str, week_axis: str, probability_axis: str, columns: int = 4,
                dpi: int = 120) -> bytes:
    """``probabilities[location, week]`` in [0, 1] (NaN: not drawn)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(names)
    columns = max(1, min(columns, n))
    rows = max(1, math.ceil(n / columns))
    fig = Figure(figsize=(6.8, 0.6 + 1.45 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, columns, sharey=True, squeeze=False)
    x = np.arange(len(weeks))
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.set_visible(False)
            continue
        values = 100 * np.asarray(probabilities[i], dtype=float)
        ax.bar(x, np.nan_to_num(values), width=0.7, color=BAR)
        ax.axhline(100 * threshold, color="#444444", lw=0.8, ls="--")
        ax.set_title(names[i], fontsize=8, family=FONT, pad=2)
        ax.set_ylim(0, 100)
        ax.set_yticks([0, 50, 100])
        ax.set_xticks(x, week_labels)
        ax.tick_params(labelsize=6.5, length=2)
        ax.spines[["top", "right"]].set_visible(False)
    fig.supxlabel(week_axis, fontsize=7.5)
    fig.supylabel(probability_axis, fontsize=7.5)
    fig.suptitle(title, fontsize=9.5, family=FONT)
    return _png(fig, dpi)
