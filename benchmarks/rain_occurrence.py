"""Daily rain of a model's hindcasts against the truth: how often it rains, how much, and
how often a 46-day forecast holds a dry spell longer than 7 days (the Sivakumar onset's
false-start test), how often 3 days bring the onset's 20 mm, and how persistent daily rain is.

Reads the daily series of a ``sowcast hindcast`` folder (``hindcast.keep_daily=true``; the
demo keeps them for the training years' hindcasts under ``<root>/hindcast``) and the truth
of the store at the same days, at the points whose mean rain in the truth is at least
``--wet-mm`` mm/day over those days. A day is wet at ``--dry-day-mm`` (0.1 mm, as the
Sivakumar preset). The spells use the products' own run lengths
(:func:`sowcast.products.dry_spells.dry_run_lengths`).

    .venv/bin/python benchmarks/rain_occurrence.py --root /tmp/demo     # training-year hindcasts

A part of it: ``--lat 12,15`` (degrees north), ``--starts-until 05-20`` (start days of the
year up to this one), ``--days 1,7`` (lead days, both ends in), ``--member 0`` (one member:
0 is the unperturbed control, whose extra rain then comes from the model, not from the
initial perturbation). The dry northern edge early in the season, every point:

    .venv/bin/python benchmarks/rain_occurrence.py --root /tmp/demo --wet-mm 0 --lat 12,15 \
        --starts-until 05-20 --days 1,7 --member 0
"""

from __future__ import annotations

import argparse
import datetime
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


def pair(kind):
    """argparse type: ``A,B`` as two numbers of ``kind``."""
    def parse(text: str):
        a, sep, b = text.partition(",")
        if not sep:
            raise argparse.ArgumentTypeError(f"give two numbers A,B, not {text!r}")
        try:
            return kind(a), kind(b)
        except ValueError:
            raise argparse.ArgumentTypeError(f"give two numbers A,B, not {text!r}") from None
    return parse


def month_day(text: str) -> tuple[int, int]:
    """argparse type: ``MM-DD`` as ``(month, day)``."""
    try:
        when = datetime.date.fromisoformat(f"2000-{text}")   # a leap year: 02-29 is a day
    except ValueError:
        raise argparse.ArgumentTypeError(f"give a day of the year MM-DD, not {text!r}") from None
    return when.month, when.day


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="a 'sowcast demo' root (hindcast/, demo.zarr)")
    parser.add_argument("--hindcast", help="a hindcast folder with daily series (default: ROOT/hindcast)")
    parser.add_argument("--wet-mm", type=float, default=2.0, help="points whose truth mean is at least this (mm/day; 0: every point)")
    parser.add_argument("--dry-day-mm", type=float, default=0.1)
    parser.add_argument("--spell-days", type=int, default=7)
    parser.add_argument("--onset-mm", type=float, default=20.0, help="3-day rain of the onset rule (Sivakumar 1988: 20 mm)")
    parser.add_argument("--lat", type=pair(float), help="MIN,MAX: latitudes (degrees north), both in")
    parser.add_argument("--starts-until", type=month_day, help="MM-DD: starts on this day of the year or earlier")
    parser.add_argument("--days", type=pair(int), help="FIRST,LAST: lead days (1: the first day), both in")
    parser.add_argument("--member", type=int, help="this member only (0: the unperturbed control)")
    args = parser.parse_args()

    from sowcast.products.dry_spells import dry_run_lengths, wet_dry_unknown

    daily, pairs = paired_daily(Path(args.root), args.hindcast, lat=slice(*args.lat) if args.lat else slice(None))
    if args.starts_until:
        pairs = [p for p in pairs if (p[0].month, p[0].day) <= args.starts_until]
        if not pairs:
            sys.exit("no start on or before --starts-until in the year")
    m = np.stack([fc.values for _, fc, _ in pairs])          # [S, M, L, H, W]
    o = np.stack([truth for _, _, truth in pairs])           # [S, L, H, W]
    if args.days:
        lead = daily["lead_day"].values
        keep = (lead >= args.days[0]) & (lead <= args.days[1])
        if not keep.any():
            sys.exit(f"no lead day in --days {args.days[0]},{args.days[1]} (the hindcasts hold 1..{lead.max()})")
        m, o = m[:, :, keep], o[:, keep]
    if args.member is not None:
        if not 0 <= args.member < m.shape[1]:
            sys.exit(f"--member {args.member}: the hindcasts hold members 0..{m.shape[1] - 1}")
        m = m[:, [args.member]]
    wet_points = o.mean(axis=(0, 1)) >= args.wet_mm
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
    print(f"{m.shape[0]} starts x {m.shape[1]} members, {m.shape[2]} days")
    print(f"{'':<48} {'model':>8} {'truth':>8}")
    for name, a, b in rows:
        print(f"{name:<48} {float(a):>8.3f} {float(b):>8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
