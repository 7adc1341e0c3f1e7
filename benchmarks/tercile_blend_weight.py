"""How much of the members does the tercile calibration keep, and should it keep more?

The issued tercile probabilities are ``w P + (1 - w) Q`` (``sowcast.calibrate.tercile_fit``,
step 5): ``P`` the member fractions, ``Q`` the extended logistic regression (or the
climatological frequencies where it showed no skill), ``w`` the blend weight fitted for the
forecast's own member count, all bounded to ``[floor, 1 - 2 floor]``. This script scores a
hindcast folder (daily series not needed) the way ``sowcast verify`` scores the calibrated
terciles (rain where the products issue terciles, plain RPS against the categories'
climatological frequencies) with the fitted weight, with ``w = 1`` (the bounded member fractions)
and with ``w = 0`` (the regression alone), beside the raw member fractions scored fair and as
issued. Score held-out years to see what the products lose or gain; to choose anything, score
training-year hindcasts (with ``--calibration`` fitted without them).

    .venv/bin/python benchmarks/tercile_blend_weight.py --hindcast data/demo/reforecasts \\
        --truth data/demo/demo.zarr --climatology data/demo/hindcast/climatology.nc \\
        --calibration data/demo/calibration.nc
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PERIODS = ("week1", "week2", "weeks3-4", "weeks5-6")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hindcast", required=True, type=Path)
    parser.add_argument("--truth", required=True, type=Path, help="the canonical store")
    parser.add_argument("--climatology", required=True, type=Path, help="climatology.nc of the training years")
    parser.add_argument("--calibration", required=True, type=Path, help="calibration.nc ('sowcast calibrate')")
    parser.add_argument("--variable", default="total_precipitation")
    parser.add_argument("--dry-season-mm-per-day", type=float, default=1.0, help="as verify.dry_season_mm_per_day")
    parser.add_argument("--weights", type=float, nargs="*", default=[], help="more uniform weights to score")
    parser.add_argument("--members", type=int, help="score the first N members only (members are exchangeable)")
    args = parser.parse_args()

    import numpy as np
    import xarray as xr

    from sowcast.calibrate.calibration import read_calibration
    from sowcast.calibrate.tercile_fit import blend_weight, calibrated_probabilities, member_weight
    from sowcast.errors import SowcastError
    from sowcast.forecast.hindcast import open_hindcast
    from sowcast.products.climatology import read_climatology
    from sowcast.products.daily import read_truth_daily
    from sowcast.products.periods import observed_periods
    from sowcast.products.terciles import (
        climatological_category_probabilities,
        model_category_bounds,
        tercile_bounds,
        tercile_probabilities,
    )
    from sowcast.verify.categorical import fair_rps, observed_category, rps, skill_score
    from sowcast.verify.reforecasts import SPATIAL, issued_points, per_start_climatology

    name = args.variable
    try:
        periods = open_hindcast(args.hindcast, "periods")
        cal = read_calibration(args.calibration)
        clim_all = read_climatology(args.climatology, load=True)
        truth_daily, _ = read_truth_daily(args.truth, [name])
    except SowcastError as exc:
        sys.exit(f"error: {exc}")
    starts = periods["start"].values
    clim = per_start_climatology(clim_all, starts)
    f = periods[name].load()
    if args.members:
        f = f.isel(member=slice(0, args.members))
    m = f.sizes["member"]
    o = observed_periods(truth_daily, starts)[name].transpose(*[d for d in f.dims if d != "member"])
    lower, upper = model_category_bounds(clim, name)
    raw = tercile_probabilities(f, lower, upper)
    ol, ou = tercile_bounds(clim, name, observed=True)
    obs = observed_category(o, ol, ou)
    issued = issued_points(clim, f, name, args.dry_season_mm_per_day)
    if issued is not None:
        obs = obs.where(issued.broadcast_like(obs.isel(category=0, drop=True)))
    raw = raw.transpose(*obs.dims)
    reference = rps(climatological_category_probabilities(clim, name).transpose(*obs.dims), obs)
    params = cal.sel(period=f["period"].values)
    floor = float(cal.attrs.get("probability_floor", 0.02))
    fitted = member_weight(params, name, m)
    if fitted is None:
        sys.exit("error: the calibration has no blend sums of the member fractions")

    def row(label: str, score) -> None:
        skill = skill_score(score, reference, SPATIAL)
        print(f"{label:<44}" + "  ".join(f"{float(skill.sel(period=p)):+.3f}" for p in PERIODS))

    sums = [params[f"{name}_tercile_blend_{k}"].sum(["lat", "lon"]) for k in "abs"]
    pooled = fitted.copy(data=np.broadcast_to(blend_weight(*(x.values for x in sums), m)[:, None, None],
                                              fitted.shape).copy())
    w_issued = fitted.where(issued) if issued is not None else fitted
    print(f"{args.hindcast}: {f.sizes['start']} starts x {m} members; RPSS of {name} terciles, "
          f"{' / '.join(PERIODS)}; mean fitted weight at the issued points "
          + " / ".join(f"{float(w_issued.sel(period=p).mean()):.2f}" for p in PERIODS))
    row("raw member fractions, fair", fair_rps(raw, obs, m))
    row("raw member fractions as issued", rps(raw, obs))
    raw_skill = params[f"{name}_tercile_raw_rpss"] > 0
    for label, w in (("calibrated, the fitted weight", fitted),
                     ("calibrated, one weight per period (domain)", pooled),
                     ("  the same where the raw members had skill", pooled.where(raw_skill, 0.0)), ("calibrated, w = 1 (bounded fractions)",
                                                                  xr.ones_like(fitted)),
                     ("calibrated, w = 0 (the regression alone)", xr.zeros_like(fitted)),
                     *((f"calibrated, w = {w:g} everywhere", xr.full_like(fitted, w)) for w in args.weights)):
        p = calibrated_probabilities(params, name, f.mean("member"), clim, floor, raw=raw, weight=w)
        row(label, rps(p.transpose(*obs.dims), obs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
