"""Dry-season mask of the rain terciles: where a period is climatologically dry, its tercile
categories are noise (a shower or none), so the products flag it and no tercile chance is shown.

    dry_season(period, lat, lon) = 1  where  mean climatological rain of the period
                                             < mm_per_day x days in the period

The mean is that of the climatology the terciles come from (the model's, at the same lead and
time of year), and also of the observed climatology when the climatology holds one: a
period is dry when either says so (a place with a dry climate, or a model that is dry there).
Where the mean is unknown (NaN) the flag is 0 and the tercile probabilities are NaN anyway.

The threshold follows IRI's practice on its seasonal forecast maps, which leave out a region
"having its climatological dry season": a 3-month total climatologically below 30 mm (IRI
net-assessment maps; e.g. the climate.gov caption of the IRI outlook for June-August 2015),
about 0.33 mm/day. One week's total is far noisier than a season's, so sowcast's default is 3
times that rate: 1 mm/day, 7 mm in a week, 14 mm in a fortnight (``products.dry_season_mm_per_day``;
0 masks nothing). On the observed climatology of the Niger stations (1961-1980,
``daily_niger.csv``) it marks the week from 15 May dry at Niamey and Agades, whose rains start
in late May-June and July, and the week from 15 July at neither (tests/products/test_dry_season.py).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from sowcast.errors import SowcastError

DRY_SEASON_MM_PER_DAY = 1.0
SOURCE = ("IRI seasonal forecast maps mask a climatological dry season (3-month total below 30 mm); "
          "sowcast scales it to a week at 3 times the rate")


def check_threshold(mm_per_day) -> float:
    """The threshold as a float >= 0, or a one-line error naming the option."""
    try:
        value = float(mm_per_day)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(mm_per_day, bool) or not np.isfinite(value) or value < 0:
        raise SowcastError(f"products.dry_season_mm_per_day must be a number of mm per day >= 0, not {mm_per_day!r}")
    return value


def period_days(periods: xr.Dataset | xr.DataArray) -> xr.DataArray:
    """Days in each period: ``last_lead_day - first_lead_day + 1`` (coordinates of ``period``)."""
    for c in ("first_lead_day", "last_lead_day"):
        if c not in periods.coords:
            raise SowcastError(f"the periods have no {c!r} coordinate")
    return (periods["last_lead_day"] - periods["first_lead_day"] + 1).astype(np.float64)


def dry_season_mask(clim_for_init: xr.Dataset, days: xr.DataArray, var: str = "total_precipitation",
                    mm_per_day: float = DRY_SEASON_MM_PER_DAY) -> xr.DataArray:
    """1 where the period is climatologically dry (module doc), else 0; dims of ``<var>_mean``.

    ``clim_for_init``: the climatology at the forecast's start
    (:func:`sowcast.products.climatology.climatology_for`); ``days``: days per period.
    """
    threshold = check_threshold(mm_per_day)
    means = [f"{prefix}{var}_mean" for prefix in ("", "observed_") if f"{prefix}{var}_mean" in clim_for_init]
    if not means:
        raise SowcastError(f"the climatology has no {var}_mean: no dry-season mask")
    limit = threshold * days
    dry = None
    for name in means:
        below = (clim_for_init[name] < limit).fillna(False)
        dry = below if dry is None else dry | below
    out = dry.astype(np.int8)
    out.name = f"{var}_dry_season"
    out.attrs = {
        "long_name": "1 where the period is climatologically dry: no tercile forecast there",
        "flag_values": np.array([0, 1], np.int8), "flag_meanings": "not_dry dry_season",
        "threshold_mm_per_day": np.float32(threshold),
        "comment": f"mean climatological rain of the period ({' or '.join(means)}) below "
                   f"{threshold:g} mm/day x days in the period",
        "source": SOURCE,
    }
    return out
