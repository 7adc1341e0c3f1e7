"""Daily rain of a model's hindcasts against the truth: how often it rains, how much, and
how often a 46-day forecast holds a dry spell longer than 7 days (the Sivakumar onset's
false-start test), how often 3 days bring the onset's 20 mm, and how persistent daily rain is.

Reads the daily series of a ``sowcast hindcast`` folder (``hindcast.keep_daily=true``; the
demo keeps them for the training years' hindcasts under ``<root>/hindcast``) and the truth
of the store at the same days, at the points whose mean rain in the truth is above
``--wet-mm`` mm/day over those days. A day is wet at ``--dry-day-mm`` (0.1 mm, as the
Sivakumar preset). The spells use the products' own run lengths
(:func:`sowcast.products.dry_spells.dry_run_lengths`).

    .venv/bin/python benchmarks/rain_occurrence.py --root /tmp/demo     # training-year hindcasts
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

RAIN = "total_precipitation"


def paired_daily(root: Path, hindcast: str | None = None, lat: slice = slice(None), lon: slice = slice(None)):
    """The daily rain of a hindcast folder (default ``root/hindcast``) over ``lat, lon``, and per
    start ``(start, forecast [member, lead_day, lat, lon], truth [lead_day, lat, lon] numpy)``,
    the truth from ``root/demo.zarr`` on the forecast's days."""
    import pandas as pd
    import xarray as xr

    from sowcast.forecast.hindcast import open_hindcast
    from sowcast.products.daily import store_daily

    daily = open_hindcast(hindcast or root / "hindcast", "daily")[RAIN].sel(lat=lat, lon=lon).load()
    truth = store_daily(xr.open_zarr(root / "demo.zarr", consolidated=False)[[RAIN]])[RAIN].sel(lat=lat, lon=lon)
    pairs = []
    for s in daily["start"].values:
        fc = daily.sel(start=s).transpose("member", "lead_day", "lat", "lon")
        days = pd.Timestamp(s) + pd.to_timedelta(fc["lead_day"].values, "D")
        pairs.append((pd.Timestamp(s), fc, truth.sel(time=days).transpose("time", "lat", "lon").values))
    return daily, pairs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="a 'sowcast demo' root (hindcast/, demo.zarr)")
    parser.add_argument("--hindcast", help="a hindcast folder with daily series (default: ROOT/hindcast)")
    parser.add_argument("--wet-mm", type=float, default=2.0, help="points whose truth mean exceeds this (mm/day)")
    parser.add_argument("--dry-day-mm", type=float, default=0.1)
    parser.add_argument("--spell-days", type=int, default=7)
    parser.add_argument("--onset-mm", type=float, default=20.0, help="3-day rain of the onset rule (Sivakumar 1988: 20 mm)")
    args = parser.parse_args()

    from sowcast.products.dry_spells import dry_run_lengths, wet_dry_unknown

    daily, pairs = paired_daily(Path(args.root), args.hindcast)
    m = np.stack([fc.values for _, fc, _ in pairs])          # [S, M, L, H, W]
    o = np.stack([truth for _, _, truth in pairs])           # [S, L, H, W]
    wet_points = o.mean(axis=(0, 1)) > args.wet_mm
    m, o = m[..., wet_points], o[..., wet_points]            # [S, M, L, P], [S, L, P]

    def spells(x: np.ndarray, lead_axis: int) -> np.ndarray:
        _, dry, _ = wet_dry_unknown(np.moveaxis(x, lead_axis, -1), args.dry_day_mm)
        return dry_run_lengths(dry).max(axis=-1)

    def three_day(x: np.ndarray, lead_axis: int) -> np.ndarray:
        """3-day sums along the lead (the Sivakumar onset's rain condition)."""
        c = np.cumsum(np.moveaxis(x, lead_axis, -1), axis=-1)
        return c[..., 3:] - c[..., :-3]

    def lag1(x: np.ndarray, lead_axis: int) -> float:
        """Lag-1 correlation of daily rain along the lead, pooled over the rest."""
        a = np.moveaxis(x, lead_axis, -1)
        return float(np.corrcoef(a[..., 1:].ravel(), a[..., :-1].ravel())[0, 1])

    rows = [("points", int(wet_points.sum()), int(wet_points.sum())),
            (f"share of days with rain >= {args.dry_day_mm:g} mm", np.mean(m >= args.dry_day_mm),
             np.mean(o >= args.dry_day_mm)),
            ("share of days with rain >= 1 mm", np.mean(m >= 1.0), np.mean(o >= 1.0)),
            ("mean rain (mm/day)", m.mean(), o.mean()),
            *((f"quantile {q:g} (mm/day)", np.quantile(m, q), np.quantile(o, q)) for q in (0.75, 0.9, 0.99)),
            (f"3-day sums >= {args.onset_mm:g} mm (share)", np.mean(three_day(m, 2) >= args.onset_mm),
             np.mean(three_day(o, 1) >= args.onset_mm)),
            ("lag-1 correlation of daily rain", lag1(m, 2), lag1(o, 1)),
            ("longest dry spell in the forecast (days, mean)", spells(m, 2).mean(), spells(o, 1).mean()),
            (f"forecasts with a dry spell over {args.spell_days} days", (spells(m, 2) > args.spell_days).mean(),
             (spells(o, 1) > args.spell_days).mean())]
    print(f"{daily.sizes['start']} starts x {daily.sizes['member']} members, {daily.sizes['lead_day']} days")
    print(f"{'':<48} {'model':>8} {'truth':>8}")
    for name, a, b in rows:
        print(f"{name:<48} {float(a):>8.3f} {float(b):>8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
