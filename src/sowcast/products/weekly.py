"""Weekly sub-seasonal products of one forecast: period values, anomalies and tercile maps.

Engine output -> daily series (:mod:`~sowcast.products.daily`) -> lead periods
(:mod:`~sowcast.products.periods`), then for rain (``total_precipitation``, period total) and
``2m_temperature`` (period mean):

* ``<var>(member, period, lat, lon)``: the members' values; ``<var>_ensemble_mean``;
* with a climatology (:func:`~sowcast.products.climatology.climatology_for` the init date):
  ``<var>_anomaly`` (ensemble mean minus the climatological mean), ``<var>_lower_tercile``
  / ``<var>_upper_tercile``, ``<var>_tercile_probability(category, period, lat, lon)``
  (:mod:`~sowcast.products.terciles`) and ``<var>_most_likely_category``. The model
  climatology at the same lead is the reference (S2S practice: it removes the
  lead-dependent bias). Without a climatology only the values and ensemble means exist.
* ``calibrate=True``: rain is quantile mapped onto the observed climatology
  (:mod:`~sowcast.products.quantile_mapping`; needs ``observed_*`` in the climatology), and
  its anomaly and terciles are then taken from the observed climatology. Temperature is not
  mapped (its lead-dependent bias is already removed by the model-climate anomaly).
* ``calibration`` (``calibration.nc`` of ``sowcast calibrate``): ``<var>_tercile_probability``
  becomes the calibrated one (extended logistic regression on the ensemble-mean anomaly,
  climatological frequencies where the hindcasts showed no cross-validated skill;
  :mod:`sowcast.calibrate.tercile_fit`), the member fractions stay beside it as
  ``<var>_tercile_probability_raw``, and ``<var>_tercile_skillful`` marks where the
  calibrated terciles beat climatology on left-out hindcast years.
* ``<rain>_dry_season(period, lat, lon)`` (with a climatology; ``dry_mm_per_day``): 1 where
  the period is climatologically dry, so its terciles are not shown
  (:mod:`~sowcast.products.dry_season`; the probabilities stay in the file).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.errors import SowcastError
from sowcast.products.climatology import check_same_grid, climatology_for
from sowcast.products.daily import aggregation, forecast_daily
from sowcast.products.dry_season import DRY_SEASON_MM_PER_DAY, dry_season_mask, period_days
from sowcast.products.periods import PERIODS, Period, period_aggregates
from sowcast.products.quantile_mapping import quantile_map
from sowcast.products.terciles import (
    anomaly,
    model_category_bounds,
    most_likely_category,
    tercile_bounds,
    tercile_probabilities,
)

RAIN = "total_precipitation"
TEMPERATURE = "2m_temperature"
WEEKLY_VARIABLES = (RAIN, TEMPERATURE)
_CLIM_COORDS = ("start_doy", "start_month_day", "n_starts", "first_lead_day", "last_lead_day")


def _climatology(climatology: xr.Dataset, forecast: xr.Dataset, periods: xr.Dataset) -> xr.Dataset:
    """The climatology for the forecast's init date, on the forecast's grid and periods."""
    check_same_grid(climatology, forecast, "the climatology's", "the forecast's")
    clim = climatology_for(climatology, forecast["init_time"].values)
    labels = [str(p) for p in periods["period"].values]
    have = [str(p) for p in clim["period"].values]
    missing = [p for p in labels if p not in have]
    if missing:
        raise SowcastError(f"the climatology has no period(s) {', '.join(missing)}")
    clim = clim.sel(period=labels)
    for c in ("first_lead_day", "last_lead_day"):
        if c in clim.coords and not np.array_equal(clim[c].values, periods[c].values):
            raise SowcastError(f"the climatology's periods cover other lead days ({c} differs)")
    clim = clim.drop_vars([c for c in _CLIM_COORDS if c in clim.coords])
    return clim.assign_coords(period=periods["period"].values, lat=forecast["lat"].values,
                              lon=forecast["lon"].values)


def _calibration_on(calibration: xr.Dataset, out: xr.Dataset, name: str) -> xr.Dataset:
    """The tercile parameters of ``name`` on the products' periods and grid (one-line errors)."""
    check_same_grid(calibration, out, "the calibration's", "the forecast's")
    labels = [str(p) for p in out["period"].values]
    missing = [p for p in labels if p not in [str(q) for q in calibration["period"].values]]
    if missing:
        raise SowcastError(f"the calibration has no period(s) {', '.join(missing)}")
    keys = [k for k in calibration.data_vars if str(k).startswith(f"{name}_tercile_")]
    return calibration[keys].sel(period=labels).assign_coords(period=out["period"].values, lat=out["lat"].values,
                                                              lon=out["lon"].values)


def weekly_products(forecast: xr.Dataset, climatology: xr.Dataset | None, calibrate: bool = False,
                    variables: Sequence[str] | None = None,
                    periods: Sequence[Period] = PERIODS, calibration: xr.Dataset | None = None,
                    dry_mm_per_day: float = DRY_SEASON_MM_PER_DAY) -> xr.Dataset:
    """Weekly (and fortnightly) products of one forecast in the engine's layout (module doc).

    ``variables``: default rain and 2 m temperature, those the forecast has;
    ``dry_mm_per_day``: the dry-season threshold of the rain terciles (0: no mask).
    """
    if variables is None:
        names = [v for v in WEEKLY_VARIABLES if v in forecast.data_vars]
        if not names:
            raise SowcastError(f"the forecast has neither {RAIN!r} nor {TEMPERATURE!r}")
    else:
        names = [variables] if isinstance(variables, str) else list(variables)
    if calibrate and climatology is None:
        raise SowcastError("calibrate=true needs a climatology with observed quantiles")
    per = period_aggregates(forecast_daily(forecast, names), periods)
    clim = None if climatology is None else _climatology(climatology, forecast, per)
    out = xr.Dataset(coords={k: v for k, v in per.coords.items()})
    calibrated = []
    for n in names:
        values = per[n]
        observed = False
        if calibrate and aggregation(n, values.attrs) == "sum":
            mq, oq = f"{n}_quantiles", f"observed_{n}_quantiles"
            if oq not in clim.data_vars or mq not in clim.data_vars:
                raise SowcastError(f"calibrate=true needs {oq!r} and {mq!r} in the climatology "
                                   "(build it with observations)")
            values = quantile_map(values, clim[mq], clim[oq])
            observed = True
            calibrated.append(n)
        out[n] = values
        mean = values.mean("member", skipna=False)
        mean.attrs = {**values.attrs, "long_name": f"ensemble mean of {values.attrs.get('long_name', n)}"}
        out[f"{n}_ensemble_mean"] = mean
        if clim is None:
            continue
        out[f"{n}_anomaly"] = anomaly(mean, clim, n, observed=observed)
        lower, upper = tercile_bounds(clim, n, observed=True) if observed else model_category_bounds(clim, n)
        units = {"units": values.attrs["units"]} if "units" in values.attrs else {}
        which = "observed" if observed else "model"
        out[f"{n}_lower_tercile"] = lower.assign_attrs(long_name=f"lower tercile of the {which} climatology", **units)
        out[f"{n}_upper_tercile"] = upper.assign_attrs(long_name=f"upper tercile of the {which} climatology", **units)
        prob = tercile_probabilities(values, lower, upper)
        if calibration is not None and f"{n}_tercile_slope" in calibration and not observed:
            from sowcast.calibrate.tercile_fit import calibrated_probabilities, member_weight

            params = _calibration_on(calibration, out, n)
            out[f"{n}_tercile_probability_raw"] = prob.assign_attrs(
                long_name="raw probability of the tercile category (fraction of ensemble members)")
            floor = float(calibration.attrs.get("probability_floor", 0.02))
            weight = member_weight(params, n, values.sizes["member"])
            prob = calibrated_probabilities(params, n, mean, clim, floor, raw=prob, weight=weight).astype(np.float32)
            skillful = params[f"{n}_tercile_skillful"] == 1
            if weight is not None:
                out[f"{n}_tercile_member_weight"] = weight.astype(np.float32)
                skillful = skillful | (weight > 0)
            out[f"{n}_tercile_skillful"] = skillful.astype(np.int8).assign_attrs(
                long_name="1 where the hindcasts showed skill: the regression beat climatology on left-out years, "
                          "or the members' fractions earned a weight (one per period over the domain with the "
                          "calibration's <var>_tercile_member_weight 'domain'; 0: the probabilities are the "
                          "climatological ones)", flag_values=np.array([0, 1], np.int8),
                flag_meanings="no_skill_climatology skillful")
            calibrated.append(f"{n}_terciles")
        out[f"{n}_tercile_probability"] = prob
        out[f"{n}_most_likely_category"] = most_likely_category(prob)
        if aggregation(n, values.attrs) == "sum":
            out[f"{n}_dry_season"] = dry_season_mask(clim, period_days(per), n, dry_mm_per_day)
    out.attrs = dict(forecast.attrs)
    out.attrs["sowcast_product"] = "weekly"
    out.attrs["calibrated"] = " ".join(calibrated) if calibrated else "none"
    if clim is not None:
        for key in ("climatology_start_doy", "climatology_start_doy_distance_days", "years", "window_days"):
            if key in clim.attrs:
                out.attrs[key if key.startswith("climatology") else f"climatology_{key}"] = clim.attrs[key]
    else:
        out.attrs["comment"] = "no climatology: values and ensemble means only (no anomalies or terciles)"
    out.attrs.setdefault("init_time", f"{pd.Timestamp(forecast['init_time'].values):%Y-%m-%dT%H:%M:%S}")
    return out
