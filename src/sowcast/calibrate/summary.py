"""What a ``calibration.nc`` found, in lines for people: raw beside calibrated skill.

A skill score over the grid is ``1 - sum(w RPS) / sum(w RPS_ref)`` with cos(latitude)
weights ``w`` over every point and start (a ratio of sums, not a mean of per-point ratios,
which a point with a near-certain climatology would dominate); the share of the area where
the calibrated terciles are skilful is weighted the same way.
"""

from __future__ import annotations

import numpy as np
import xarray as xr


def area_mean(da: xr.DataArray) -> float:
    """cos(latitude)-weighted mean over lat/lon, NaN points left out."""
    w = np.cos(np.deg2rad(da["lat"])).broadcast_like(da).where(da.notnull())
    total = float(w.sum())
    return float((da * w).sum() / total) if total > 0 else float("nan")


def area_skill(score: xr.DataArray, reference: xr.DataArray) -> float:
    """``1 - sum(w score) / sum(w reference)``, w = cos(latitude)."""
    w = np.cos(np.deg2rad(score["lat"])).broadcast_like(score)
    ref = float((reference * w).sum())
    return 1.0 - float((score * w).sum()) / ref if ref > 0 else float("nan")


def tercile_table(cal: xr.Dataset) -> list[dict]:
    """Per variable and period: ``raw_rpss``, ``cv_rpss`` (both against the climatological
    frequencies), ``cv_rpss_equal_odds`` and ``skillful_share``."""
    rows = []
    for name in ("total_precipitation", "2m_temperature"):
        if f"{name}_tercile_rps_cv" not in cal:
            continue
        for period in cal["period"].values:
            one = {k: cal[f"{name}_tercile_{k}"].sel(period=period) for k in
                   ("rps_cv", "rps_climatology", "rps_equal_odds", "rps_raw", "rps_climatology_raw", "skillful")}
            rows.append({"variable": name, "period": str(period),
                         "raw_rpss": area_skill(one["rps_raw"], one["rps_climatology_raw"]),
                         "cv_rpss": area_skill(one["rps_cv"], one["rps_climatology"]),
                         "cv_rpss_equal_odds": area_skill(one["rps_cv"], one["rps_equal_odds"]),
                         "skillful_share": area_mean(one["skillful"].astype(float))})
    return rows


def member_weights(cal: xr.Dataset, name: str) -> dict[str, tuple[float, float]]:
    """Area-mean blend weight of a 16- and a 32-member forecast's fractions per headline period
    (:func:`sowcast.calibrate.tercile_fit.member_weight`); empty without the blend sums."""
    from sowcast.calibrate.tercile_fit import member_weight

    out = {}
    for period in ("week1", "week2", "weeks3-4", "weeks5-6"):
        if period not in [str(p) for p in cal["period"].values]:
            continue
        one = cal.sel(period=period)
        w = [member_weight(one, name, m) for m in (16, 32)]
        if w[0] is None:
            return {}
        out[period] = (area_mean(w[0]), area_mean(w[1]))
    return out


def summary_lines(cal: xr.Dataset) -> list[str]:
    """A few lines: terciles per variable (weeks 1, 2, 3-4, 5-6) and onset per week."""
    lines = []
    short = {"total_precipitation": "rain", "2m_temperature": "2 m temperature"}
    rows = tercile_table(cal)
    for name in dict.fromkeys(r["variable"] for r in rows):
        parts = [f"{r['period']} {r['raw_rpss']:+.2f} -> {r['cv_rpss']:+.2f} ({100 * r['skillful_share']:.0f} %)"
                 for r in rows if r["variable"] == name and r["period"] in ("week1", "week2", "weeks3-4", "weeks5-6")]
        lines.append(f"{short.get(name, name)} terciles, RPSS vs climatology raw (fair) -> regression "
                     f"(cross-validated; share of the area with skill): {'; '.join(parts)}")
        weights = member_weights(cal, name)
        if weights:
            lines.append(f"{short.get(name, name)} terciles, mean weight of the members' fractions (16 / 32 members): "
                         + "; ".join(f"{p} {w16:.2f} / {w32:.2f}" for p, (w16, w32) in weights.items()))
    if "onset_blend_weight" in cal:
        parts = [f"week {int(k)}: w {float(cal['onset_blend_weight'].sel(week=k)):.2f}, BSS raw "
                 f"{float(cal['onset_raw_bss'].sel(week=k)):+.2f} -> {float(cal['onset_cv_bss'].sel(week=k)):+.2f}"
                 for k in cal["week"].values]
        moved = "onset_ocean_days_per_k" in cal and float(cal["onset_ocean_days_per_k"]) != 0
        reference = "the climatology moved by the ocean" if moved else "climatology"
        lines.append(f"onset by week k, ensemble weight against {reference} and Brier skill against it "
                     "(cross-validated): " + "; ".join(parts))
    if "onset_ocean_slope" in cal:
        years = str(cal.attrs.get("onset_ocean_years", "")).replace(" ", "-")
        lines.append(f"onset climatology and the ocean ({cal.attrs.get('onset_ocean_variable')} over "
                     f"{cal.attrs.get('onset_ocean_box')}, {cal.attrs.get('onset_ocean_days')} days; "
                     f"{years}): {float(cal['onset_ocean_slope']):+.1f} days per K, "
                     f"left-out-year onset MAE {float(cal['onset_ocean_cv_mae']):.2f} days against "
                     f"{float(cal['onset_ocean_cv_mae_unshifted']):.2f} unmoved: {cal.attrs.get('onset_ocean', '')}")
    elif "onset_ocean" in cal.attrs:
        lines.append(f"onset climatology and the ocean: {cal.attrs['onset_ocean']}")
    lines.append(str(cal.attrs.get("daily", "")))
    return [line for line in lines if line]
