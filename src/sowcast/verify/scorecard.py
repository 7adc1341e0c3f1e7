"""A scorecard of verification results, its CSV file and its plots.

One row per (metric, variable, period): the forecast's ``value``, the reference forecast's
value (``reference``), the skill score, the number of cases ``n`` and, for the metrics that
are skill scores themselves (RPSS, BSS: their ``value``), its 90 % interval over the years
(``low``, ``high``: :mod:`sowcast.verify.resampling`; NaN for the others, and in scorecards
made before it). The skill score is the
general form (Wilks 2011 eq. 8.4) ``skill = (value - reference) / (perfect - reference)``:
``1 - value/reference`` for scores whose perfect value is 0 (RMSE, CRPS, RPS, Brier), and
``perfect=1`` for ACC or ROC area. Files are written atomically; plots use matplotlib's Agg
renderer through its object interface (no pyplot state, no display needed). Each year's own
figure of those metrics is kept beside (:attr:`Scorecard.by_year`: ``scores_by_year.csv``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.atomic import atomic_path
from sowcast.errors import SowcastError
from sowcast.verify.weights import aligned

COLUMNS = ("metric", "variable", "period", "value", "reference", "skill", "n")
INTERVAL = ("low", "high")


def skill_from(value: float, reference: float, perfect: float = 0.0) -> float:
    """``(value - reference) / (perfect - reference)``; NaN if undefined."""
    if not (math.isfinite(value) and math.isfinite(reference)) or reference == perfect:
        return math.nan
    return (value - reference) / (perfect - reference)


@dataclass
class Scorecard:
    """Rows of verification results; see the module docstring for the columns."""

    rows: list[dict] = field(default_factory=list)
    by_year: list[dict] = field(default_factory=list)   # metric, variable, period, year, value

    def add_by_year(self, metric: str, variable: str, values: xr.DataArray, period_dim: str = "period") -> None:
        """Each year's own figure of a metric: ``values [year]`` or ``[year, period_dim]``."""
        if period_dim not in values.dims:
            values = values.expand_dims({period_dim: ["onset" if metric.startswith("onset") else "all"]}, axis=-1)
        values = values.transpose("year", period_dim)
        for year, row in zip(values["year"].values, values.values, strict=True):
            for period, v in zip(values[period_dim].values, row, strict=True):
                self.by_year.append({"metric": str(metric), "variable": str(variable), "period": str(period),
                                     "year": int(year), "value": float(v)})

    def by_year_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.by_year, columns=["metric", "variable", "period", "year", "value"])

    def add(self, metric: str, variable: str, period: Hashable, value: float,
            reference: float = math.nan, n: int | None = None, skill: float | None = None,
            perfect: float = 0.0, interval: tuple[float, float] = (math.nan, math.nan)) -> None:
        """Add one row; ``skill`` is computed from ``reference`` unless given; ``interval``: the
        value's ``(low, high)``."""
        value, reference = float(value), float(reference)
        if skill is None:
            skill = skill_from(value, reference, perfect)
        self.rows.append({"metric": str(metric), "variable": str(variable), "period": str(period),
                          "value": value, "reference": reference, "skill": float(skill),
                          "n": None if n is None else int(n),
                          "low": float(interval[0]), "high": float(interval[1])})

    def add_scores(self, metric: str, variable: str, value: xr.DataArray,
                   reference: xr.DataArray | None = None, n: xr.DataArray | None = None,
                   period_dim: str = "period", perfect: float = 0.0, skill: bool = True,
                   interval: tuple[xr.DataArray, xr.DataArray] | None = None) -> None:
        """Add one row per ``period_dim`` label of 1-D score arrays (one row "all" if 0-D);
        ``reference``, ``n`` and the value's ``interval`` (low, high; optional) have the same
        shape and labels as ``value``; ``skill=False``: no skill score (NaN), for a signed
        score such as the bias."""
        low, high = (None, None) if interval is None else interval
        if value.ndim == 0:
            value = value.expand_dims({period_dim: ["all"]})
            reference, n, low, high = (None if a is None else a.expand_dims({period_dim: ["all"]})
                                       for a in (reference, n, low, high))
        if value.dims != (period_dim,):
            raise SowcastError(f"scorecard rows need scores on {period_dim!r} only; got {value.dims}")
        nan = xr.full_like(value, math.nan, dtype=float)
        value, reference, n, low, high = aligned(value, *(nan if a is None else a for a in (reference, n, low, high)))
        labels = value[period_dim].values if period_dim in value.coords else range(value.size)
        for label, v, ref, count, lo, hi in zip(labels, value.values, reference.values, n.values, low.values,
                                                high.values, strict=True):
            self.add(metric, variable, label, v, ref, None if np.isnan(count) else count, perfect=perfect,
                     skill=None if skill else math.nan, interval=(lo, hi))

    def to_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.rows, columns=[*COLUMNS, *INTERVAL])
        frame["n"] = frame["n"].astype("Int64")
        return frame

    def to_csv(self, path: str | os.PathLike, overwrite: bool = True) -> None:
        """Write the rows as CSV, atomically."""
        with atomic_path(path, overwrite=overwrite) as tmp:
            self.to_frame().to_csv(tmp, index=False)

    @classmethod
    def from_csv(cls, path: str | os.PathLike) -> Scorecard:
        frame = pd.read_csv(path, dtype={"metric": str, "variable": str, "period": str, "n": "Int64"},
                            keep_default_na=False, na_values={c: ["", "NaN", "nan"] for c in COLUMNS[3:] + INTERVAL})
        card = cls()
        for row in frame.to_dict("records"):
            row["n"] = None if pd.isna(row["n"]) else int(row["n"])
            card.rows.append({c: row.get(c, math.nan) for c in (*COLUMNS, *INTERVAL)})
        return card


# ---------------------------------------------------------------- plots
def _figure(nrows: int = 1, height_ratios=None, size=(6.4, 4.8)):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, 1, gridspec_kw={"height_ratios": height_ratios} if height_ratios else None)
    return fig, axes


def _save_png(fig, path: str | os.PathLike, overwrite: bool) -> None:
    with atomic_path(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png", dpi=120)


def plot_reliability(table: xr.Dataset, path: str | os.PathLike, title: str = "Reliability diagram",
                     overwrite: bool = True) -> None:
    """Reliability diagram of a :func:`~sowcast.verify.categorical.reliability_table` (1-D on
    ``bin``): observed frequency against forecast probability, with the diagonal (perfect
    reliability), the climatological frequency and the no-skill line halfway between them
    (Wilks 2011 fig. 8.8); below it, the number of forecasts in each bin."""
    extra = [d for d in table.dims if d != "bin"]
    if extra:
        raise SowcastError(f"plot one reliability table at a time: select along {extra} first")
    count = np.asarray(table["count"], dtype=float)
    prob = np.asarray(table["forecast_probability"], dtype=float)
    freq = np.asarray(table["observed_frequency"], dtype=float)
    total = np.nansum(count)
    climate = np.nansum(count * np.nan_to_num(freq)) / total if total > 0 else math.nan

    fig, (ax, hist) = _figure(2, height_ratios=(3, 1), size=(5.5, 7.0))
    diagonal = np.array([0.0, 1.0])
    ax.plot(diagonal, diagonal, color="0.4", linestyle="--", label="Perfect reliability")
    if math.isfinite(climate):
        ax.axhline(climate, color="0.6", linestyle=":", label=f"Climatology ({climate:.2f})")
        ax.plot(diagonal, (diagonal + climate) / 2, color="tab:orange", linestyle="-.", label="No skill")
    shown = count > 0
    ax.plot(prob[shown], freq[shown], marker="o", color="tab:blue", label="Forecast")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="Forecast probability", ylabel="Observed frequency",
           title=title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")

    lower = np.asarray(table["bin_lower"], dtype=float)
    upper = np.asarray(table["bin_upper"], dtype=float)
    hist.bar(lower, count, width=upper - lower, align="edge", color="tab:blue", edgecolor="white")
    hist.set(xlim=(0, 1), xlabel="Forecast probability", ylabel="Number of forecasts")
    _save_png(fig, path, overwrite)


def plot_skill_by_lead(frame: pd.DataFrame | Scorecard, path: str | os.PathLike,
                       column: str = "skill", title: str = "Skill by lead period",
                       overwrite: bool = True) -> None:
    """One line per (metric, variable) of ``column`` (default the skill score) against the
    lead period, periods in the order they first appear; 0 = as good as the reference."""
    if isinstance(frame, Scorecard):
        frame = frame.to_frame()
    missing = {"metric", "variable", "period", column} - set(frame.columns)
    if missing:
        raise SowcastError(f"the skill table lacks the columns {sorted(missing)}")
    periods = list(dict.fromkeys(frame["period"].astype(str)))
    position = {p: i for i, p in enumerate(periods)}

    fig, ax = _figure(1, size=(7.0, 4.5))
    for (metric, variable), rows in frame.groupby(["metric", "variable"], sort=False):
        x = [position[str(p)] for p in rows["period"]]
        ax.plot(x, rows[column].astype(float), marker="o", label=f"{metric} ({variable})")
    ax.axhline(0.0, color="0.4", linewidth=1, linestyle="--")
    ax.set_xticks(range(len(periods)), periods)
    ylabel = "Skill score (1 = perfect, 0 = reference)" if column == "skill" else column
    ax.set(xlabel="Lead period", ylabel=ylabel, title=title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    _save_png(fig, path, overwrite)
