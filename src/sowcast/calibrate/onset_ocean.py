"""The onset's ocean predictor: past years' onsets, each moved to this year's Gulf of Guinea.

A warm equatorial Atlantic in spring delays the West African monsoon's onset (Okumura & Xie
2004, J. Climate 17; Caniaux et al. 2011, J. Geophys. Res. 116; the synthetic monsoon builds it
in at 12 days per K). Index ``I(t)``: the daily mean of ``variable`` over ``box`` (latitude-weighted;
the default box is ATL3, 3 S-3 N, 20 W-0, Zebiak 1993). Predictor ``W_y(s)``: the mean of
``I`` over the ``days`` days ending at the calendar day of the start ``s`` in year ``y``.

**Regression-adjusted climatology.** The climatological onset distribution given no onset by
the start is made from past years' onsets (:mod:`sowcast.products.onset_climatology`); here
each past year's onset is first moved to today's ocean: ``o_y + beta (W(s) - W_y(s))``, the
regression estimate of what year ``y``'s onset would have been under this year's index. The
seasonal cycle of ``I`` cancels in the difference of the same calendar window, so ``variable``
may be a raw SST as well as an anomaly.

**Fit of beta** (days per K) on the observed record up to the last training year, at the
points of the onset region: the least-squares slope of the onsets ``o_{y,p}`` on
``W_y(d)``, within each (point ``p``, start day ``d``) group, over the years whose onset at
``p`` came after ``d`` (the cases the climatology is conditioned on). Leave one year out: year
``y``'s onsets are predicted from the other years, by their mean moved as above with the slope
fitted without ``y``, and by their plain mean; ``beta`` is kept only where the first has the
smaller mean absolute error (else 0: the plain climatology, and the calibration says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import numpy as np
import pandas as pd
import xarray as xr

from sowcast.data.ocean_anchor import ATL3_BOX
from sowcast.errors import SowcastError

PREFIX = "onset_ocean"


@dataclass(frozen=True)
class OceanPredictor:
    """The index definition and its fitted slope ``days_per_k`` (``beta`` of the module doc)."""

    variable: str = "ocean_index"
    box: tuple[float, float, float, float] = ATL3_BOX
    days: int = 45
    days_per_k: float = 0.0

    def past_onset_shift(self, index: xr.DataArray, start, years: Sequence[int]) -> xr.DataArray:
        """``beta (W(s) - W_y(s))`` on ``year`` (days): what to add to year ``y``'s onset (day of
        year) to move it to the ocean of ``start``; NaN where a window is not in ``index``."""
        s = pd.Timestamp(start).floor("D")
        now = window_mean(index, s, self.days)
        past = np.array([window_mean(index, same_day(s, int(y)), self.days) for y in years])
        return xr.DataArray(self.days_per_k * (now - past), dims="year",
                            coords={"year": np.asarray(years, np.int64)},
                            attrs={"long_name": "move of the past year's onset to this year's ocean", "units": "d"})


def index_series(data: xr.Dataset, predictor: OceanPredictor, what: str = "the store") -> xr.DataArray:
    """``I(t)``: the daily, latitude-weighted mean of ``predictor.variable`` over its box (the
    variable's name in the attribute ``variable``)."""
    if predictor.variable not in data.data_vars:
        raise SowcastError(f"{what} has no {predictor.variable!r} for the onset's ocean index "
                           f"(has {', '.join(map(str, data.data_vars))})")
    la0, la1, lo0, lo1 = predictor.box
    field = data[predictor.variable]
    lat, lon = field["lat"], field["lon"]
    inside = field.isel(lat=np.flatnonzero((lat >= la0).values & (lat <= la1).values),
                        lon=np.flatnonzero((lon >= lo0).values & (lon <= lo1).values))
    if inside.sizes["lat"] == 0 or inside.sizes["lon"] == 0:
        raise SowcastError(f"the ocean index box {list(predictor.box)} holds no grid point of {what}")
    weights = np.cos(np.deg2rad(inside["lat"]))
    daily = inside.weighted(weights).mean(["lat", "lon"])
    if "time" not in daily.dims:
        raise SowcastError(f"{what}'s {predictor.variable!r} has no time dimension")
    daily = daily.load()
    times = daily["time"].values
    # states already daily at midnight are their own daily means: no resample (slow: a group per day)
    if not (np.all(times == times.astype("datetime64[D]")) and np.all(np.diff(times) == np.timedelta64(1, "D"))):
        daily = daily.resample(time="1D").mean()
    return daily.assign_attrs(variable=predictor.variable)


def read_index(store_path, predictor: OceanPredictor, what: str, until=None) -> xr.DataArray:
    """:func:`index_series` of the canonical store at ``store_path`` (up to ``until`` if given);
    one-line errors for a missing store, variable or box."""
    from sowcast.data.store import open_store

    with open_store(store_path, chunks=None) as store:
        return index_series(store if until is None else store.sel(time=slice(None, until)), predictor, what)


def same_day(start: pd.Timestamp, year: int) -> pd.Timestamp:
    """The calendar day of ``start`` in ``year`` (29 February -> 28 February)."""
    day = 28 if (start.month == 2 and start.day == 29) else start.day
    return pd.Timestamp(year=year, month=start.month, day=day)


def window_mean(index: xr.DataArray, end: pd.Timestamp, days: int) -> float:
    """Mean of ``index`` over the ``days`` days ending at ``end``; NaN with under 80 % of them."""
    part = index.sel(time=slice(end - pd.Timedelta(days=days - 1), end)).values
    part = part[np.isfinite(part)]
    return float(part.mean()) if part.size >= 0.8 * days else float("nan")


def fit_days_per_k(onset_doy: xr.DataArray, index: xr.DataArray, start_days: Sequence[pd.Timestamp],
                   days: int) -> dict[str, float]:
    """``beta`` and its leave-one-year-out check (module doc) from ``onset_doy (year, point)``.

    ``start_days``: starts whose calendar days define the groups. Returns ``days_per_k`` (0 where
    the check fails), ``slope`` (fitted on every year), ``cv_mae`` and ``cv_mae_unshifted``
    (days), ``n_cases``, ``n_years``.
    """
    from sowcast.products.climatology import day_of_year

    onset = onset_doy.transpose("year", ...).values.reshape(onset_doy.sizes["year"], -1).astype(np.float64)
    years = onset_doy["year"].values.astype(int)
    calendar = sorted({(t.month, min(t.day, 28) if t.month == 2 else t.day) for t in pd.DatetimeIndex(start_days)})
    if len(years) < 3 or not calendar:
        raise SowcastError(f"the onset's ocean predictor needs at least 3 years of record (have {len(years)})")
    w = np.array([[window_mean(index, same_day(pd.Timestamp(2001, m, d), int(y)), days) for (m, d) in calendar]
                  for y in years])                                                     # (year, day)
    doy = day_of_year([pd.Timestamp(2001, m, d) for (m, d) in calendar]).astype(np.float64)
    o = onset[:, :, None]                                                               # (year, point, 1)
    x = np.broadcast_to(w[:, None, :], o.shape[:2] + (len(calendar),))
    valid = np.isfinite(o) & (o > doy[None, None, :]) & np.isfinite(x)
    o = np.broadcast_to(o, valid.shape)

    def slope(mask: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        n = mask.sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            xm = np.where(mask, x, 0).sum(0) / n
            om = np.where(mask, o, 0).sum(0) / n
        dx, do = np.where(mask, x - xm, 0.0), np.where(mask, o - om, 0.0)
        sxx = float((dx * dx).sum())
        return (float((dx * do).sum()) / sxx if sxx > 0 else 0.0), n, xm, om

    beta_all = slope(valid)[0]
    err_shift, err_plain = [], []
    for i in range(len(years)):
        others = valid.copy()
        others[i] = False
        b, n, xm, om = slope(others)
        test = valid[i] & (n >= 1)
        err_shift.append(np.abs(om + b * (x[i] - xm) - o[i])[test])
        err_plain.append(np.abs(om - o[i])[test])
    shifted, plain = np.concatenate(err_shift), np.concatenate(err_plain)
    if shifted.size == 0:
        raise SowcastError("the onset's ocean predictor has no case: no onset in the record after the starts")
    cv, cv0 = float(shifted.mean()), float(plain.mean())
    return {"days_per_k": beta_all if cv < cv0 else 0.0, "slope": beta_all, "cv_mae": cv, "cv_mae_unshifted": cv0,
            "n_cases": int(shifted.size), "n_years": len(years)}


def calibration_fields(predictor: OceanPredictor, fit: dict[str, float], years: Sequence[int]) -> xr.Dataset:
    """The predictor's part of ``calibration.nc``: scalars ``onset_ocean_*`` and attrs."""
    attrs = {
        "days_per_k": ("days of onset delay per K of the ocean index, as applied (0: not skilful on "
                       "left-out years, not applied)", "d K-1"),
        "slope": ("least-squares slope of the onsets on the ocean index (all record years)", "d K-1"),
        "cv_mae": ("leave-one-year-out mean absolute error of the climatological onset moved by the ocean", "d"),
        "cv_mae_unshifted": ("leave-one-year-out mean absolute error of the plain climatological onset", "d"),
        "n_cases": ("(year, point, start day) cases of the fit", "1"),
    }
    ds = xr.Dataset({f"{PREFIX}_{k}": ((), float(fit[k]) if k != "n_cases" else int(fit[k]),
                                       {"long_name": text, "units": units})
                     for k, (text, units) in attrs.items()})
    ds.attrs = {f"{PREFIX}_variable": predictor.variable, f"{PREFIX}_box": " ".join(map(str, predictor.box)),
                f"{PREFIX}_days": int(predictor.days),
                f"{PREFIX}_years": f"{int(min(years))} {int(max(years))}"}
    return ds


def from_calibration(calibration: xr.Dataset | None) -> OceanPredictor | None:
    """The predictor a ``calibration.nc`` applies; None where it has none or its slope is 0."""
    if calibration is None or f"{PREFIX}_days_per_k" not in calibration:
        return None
    beta = float(calibration[f"{PREFIX}_days_per_k"])
    if not np.isfinite(beta) or beta == 0.0:
        return None
    box = tuple(float(v) for v in str(calibration.attrs[f"{PREFIX}_box"]).split())
    return OceanPredictor(str(calibration.attrs[f"{PREFIX}_variable"]), box,
                          int(calibration.attrs[f"{PREFIX}_days"]), beta)
