"""The lead-dependent model climatology: hindcast statistics per start day of year and period.

S2S practice (ECMWF extended range; Vitart et al. 2017, BAMS, the S2S database): a forecast
is compared with the *model's own* climate at the same lead, estimated from reforecasts
(hindcasts) whose start dates lie in a window around the forecast's date, pooled over all
years and members. This removes the lead-dependent mean bias and the bias of the spread.

Input (:func:`sowcast.products.periods.hindcast_periods`): period aggregates with dims
``(start, [member,] period, [level,] lat, lon)``, ``start`` the init dates of many years.

``start_doy``: by default the distinct days of year of the starts; or any fixed set of bins
(``start_doys=``, e.g. every 7th day). Days of year are on a 365-day calendar (29 February
counts as 28 February), so a start on the same calendar date has the same ``start_doy`` in
every year. At each ``start_doy`` every start within ``+-window_days`` (circular across the
year end) is pooled, all years and members, per period and grid point:

* ``<var>_mean``, ``<var>_std`` (sample std, ddof=1), ``<var>_count`` (finite values);
* ``<var>_quantiles``: empirical quantiles at :data:`QUANTILE_LEVELS` (1/3, 2/3 and
  0.05..0.95 by 0.05) with linear interpolation between order statistics (Hyndman & Fan
  1996 type 7, numpy's default);
* with observations (:func:`sowcast.products.periods.observed_periods` for the same init
  dates): ``observed_<var>_mean``, ``observed_<var>_quantiles``, ``observed_<var>_count``
  from the same pooled starts (quantile mapping, and the observed-climatology baseline).

File (``climatology.nc`` in a bundle): dims ``start_doy, period, quantile, [level,] lat,
lon``; coords ``start_doy`` (int), ``start_month_day`` ("MM-DD"), ``n_starts(start_doy)``,
``period``, ``first_lead_day``, ``last_lead_day``, ``quantile``, ``lat``, ``lon``; float32
data. Work is done one start_doy, period and block of latitudes at a time, so a lazily
opened hindcast set is read block by block and never held whole (the result itself is
``n_doy * n_period * (n_quantile + 3) * n_points`` floats per variable).
"""

from __future__ import annotations

import datetime as _dt
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

import sowcast
from sowcast.atomic import atomic_path
from sowcast.cf_attributes import cf_dataset, merge_encoding
from sowcast.errors import SowcastError

PRODUCT = "model_climatology"
QUANTILE_LEVELS: tuple[float, ...] = tuple(sorted({1 / 3, 2 / 3, *(round(0.05 * k, 10) for k in range(1, 20))}))
YEAR_DAYS = 365
_CUMDAYS = np.array([0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334])
_BLOCK_ELEMENTS = 2**25  # values read at once (samples x periods x points; 128 MB in float32)
_POOL_DIMS = ("start", "member")


def day_of_year(times: Any) -> np.ndarray:
    """Day of year 1..365 on a 365-day calendar (29 February counts as 28 February)."""
    t = pd.DatetimeIndex(np.atleast_1d(np.asarray(times, "datetime64[ns]")))
    day = np.where((t.month == 2) & (t.day == 29), 28, t.day)
    return (_CUMDAYS[t.month - 1] + day).astype(np.int32)


def day_of_year_in(year: int, doy: Any) -> np.ndarray:
    """The inverse of :func:`day_of_year` in ``year``: days since 1970-01-01 of day ``doy``
    (fractions kept) of the 365-day calendar; in a leap year days from 1 March (60) on fall one
    day later, so the same calendar date comes back."""
    doy = np.asarray(doy, np.float64)
    jan1 = (np.datetime64(f"{int(year)}-01-01", "D") - np.datetime64("1970-01-01", "D")).astype(np.int64)
    leap = pd.Timestamp(year=int(year), month=1, day=1).is_leap_year
    return jan1 + doy - 1.0 + np.where(leap & (doy >= _CUMDAYS[2] + 1), 1.0, 0.0)


def circular_distance(a: Any, b: Any, period: int = YEAR_DAYS) -> np.ndarray:
    """Distance in days between days of year on a circle of ``period`` days."""
    d = np.abs(np.asarray(a, np.int64) - np.asarray(b, np.int64)) % period
    return np.minimum(d, period - d)


def check_same_grid(a: xr.Dataset | xr.DataArray, b: xr.Dataset | xr.DataArray, what_a: str, what_b: str) -> None:
    """One-line error unless ``a`` and ``b`` have the same lat/lon coordinates."""
    for dim in ("lat", "lon"):
        if dim not in a.coords or dim not in b.coords:
            raise SowcastError(f"{what_a} or {what_b} has no {dim!r} coordinate")
        x, y = np.asarray(a[dim].values, np.float64), np.asarray(b[dim].values, np.float64)
        if x.shape != y.shape or not np.allclose(x, y, atol=1e-6):
            raise SowcastError(
                f"{what_a} grid ({a.sizes.get('lat', 0)}x{a.sizes.get('lon', 0)} lat/lon, {dim} "
                f"{_span(x)}) differs from {what_b} grid ({b.sizes.get('lat', 0)}x{b.sizes.get('lon', 0)}, "
                f"{dim} {_span(y)})")


def _span(x: np.ndarray) -> str:
    return f"{x.min():g}..{x.max():g}" if x.size else "empty"


def pooled_statistics(samples: np.ndarray, levels: Sequence[float]) -> tuple[np.ndarray, ...]:
    """Mean, std (ddof=1), quantiles ``[Q, ...]`` and finite count over axis 0, ignoring NaN.

    Quantiles: linear between order statistics at ``(n - 1) q`` (Hyndman & Fan type 7).
    """
    x = np.asarray(samples)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    finite = np.isfinite(x)
    all_finite = bool(finite.all())
    n = np.full(x.shape[1:], x.shape[0], np.int64) if all_finite else finite.sum(axis=0)
    xz = x if all_finite else np.where(finite, x, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = xz.sum(axis=0, dtype=np.float64) / n
        dev = xz - mean
        if not all_finite:
            dev[~finite] = 0.0
        std = np.sqrt(np.einsum("i...,i...->...", dev, dev) / (n - 1))
    del xz, dev
    mean = np.where(n > 0, mean, np.nan)
    std = np.where(n > 1, std, np.nan)
    ordered = np.sort(x, axis=0)  # NaN sorts last
    q = np.asarray(levels, np.float64).reshape((-1,) + (1,) * (x.ndim - 1))
    last = np.maximum(n - 1, 0)[None]
    pos = last * q
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, last)
    a = np.take_along_axis(ordered, lo, axis=0).astype(np.float64)
    b = np.take_along_axis(ordered, hi, axis=0).astype(np.float64)
    quant = np.where(n[None] > 0, a + (pos - lo) * (b - a), np.nan)
    return mean, std, quant, n


def _start_dates(ds: xr.Dataset, what: str) -> pd.DatetimeIndex:
    if "start" not in ds.dims:
        raise SowcastError(f"{what} has no 'start' dimension (init dates of the hindcasts)")
    return pd.DatetimeIndex(np.asarray(ds["start"].values, "datetime64[ns]")).floor("D")


def _variables(hp: xr.Dataset) -> list[str]:
    names = [n for n, da in hp.data_vars.items() if "start" in da.dims and "period" in da.dims]
    if not names:
        raise SowcastError("the hindcast periods have no variable with dims (start, ..., period, ...)")
    for n in names:
        bad = [d for d in hp[n].dims if d not in _POOL_DIMS and d not in ("period", "level", "lat", "lon")]
        if bad:
            raise SowcastError(f"hindcast variable {n!r} has unexpected dims {bad}")
    return names


def _pool(da: xr.DataArray, starts: np.ndarray, levels: Sequence[float]) -> tuple[np.ndarray, ...]:
    """Statistics of ``da`` over the given start positions (and members), per period and point.

    Reads all periods of a block of rows (the first spatial dim) at once, at most
    ``_BLOCK_ELEMENTS`` values, then works one period at a time.
    """
    rest = [d for d in da.dims if d not in _POOL_DIMS and d != "period"]
    pool = [d for d in _POOL_DIMS if d in da.dims]
    da = da.transpose(*pool, "period", *rest)
    n_samples = len(starts) * (da.sizes["member"] if "member" in da.dims else 1)
    space = tuple(da.sizes[d] for d in rest)
    n_p, n_q = da.sizes["period"], len(levels)
    mean = np.full((n_p, *space), np.nan, np.float32)
    std, count = mean.copy(), np.zeros((n_p, *space), np.int32)
    quant = np.full((n_p, n_q, *space), np.nan, np.float32)
    if len(starts) == 0:
        return mean, std, quant, count
    first = rest[0] if rest else None
    n_rows = space[0] if rest else 1
    row = int(np.prod(space[1:])) if rest else 1
    step = max(1, _BLOCK_ELEMENTS // max(1, n_samples * n_p * row))
    for r0 in range(0, n_rows, step):
        sel: dict[str, Any] = {"start": starts}
        if first is not None:
            sel[first] = slice(r0, r0 + step)
        block = np.asarray(da.isel(sel).values)
        block = block.reshape(n_samples, *block.shape[len(pool):])     # [sample, period, rows, ...]
        for p in range(n_p):
            m, s, q, c = pooled_statistics(block[:, p], levels)
            where = (p, slice(r0, r0 + step)) if first is not None else (p,)
            mean[where], std[where], count[where] = m, s, c
            quant[(p, slice(None), *where[1:])] = q
    return mean, std, quant, count


def _attrs(src: dict[str, Any], what: str, stat: str, window: int) -> dict[str, Any]:
    out: dict[str, Any] = {"long_name": f"{what} {stat} of {src.get('long_name', 'the variable')} "
                                        "over the lead period"}
    if stat != "count" and src.get("units"):
        out["units"] = src["units"]
    if stat == "count":
        out["units"] = "1"
    if src.get("standard_name") and stat in ("mean", "quantiles"):
        out["standard_name"] = src["standard_name"]
    # CF cell_methods name only a variable's own dimensions (and CF has no percentile method):
    # the pooling over starts (and members), which are not dimensions here, is said in words.
    method = {"quantiles": "quantiles", "std": "standard deviation"}.get(stat, stat)
    pooled = "starts and members" if what == "model" else "starts"
    out["comment"] = f"{method} over the pooled {pooled} (starts within +-{window} days of start_doy, all years)"
    return out


def build_climatology(hindcast_periods: xr.Dataset, observed_periods: xr.Dataset | None = None,
                      window_days: int = 15, quantile_levels: Sequence[float] = QUANTILE_LEVELS,
                      start_doys: Sequence[int] | None = None) -> xr.Dataset:
    """The model (and observed) climatology of period aggregates (module doc for the layout).

    ``start_doys``: the bins (days of year 1..365); default the distinct days of year of the
    starts. ``quantile_levels`` are sorted and stored as the ``quantile`` coordinate.
    """
    hp = hindcast_periods
    if not 0 <= int(window_days) < YEAR_DAYS // 2:
        raise SowcastError(f"window_days must be in 0..{YEAR_DAYS // 2 - 1}, not {window_days}")
    window = int(window_days)
    levels = np.asarray(sorted(float(q) for q in quantile_levels), np.float64)
    if levels.size == 0 or levels[0] <= 0 or levels[-1] >= 1 or len(np.unique(levels)) != levels.size:
        raise SowcastError("quantile_levels must be distinct numbers strictly between 0 and 1")
    names = _variables(hp)
    dates = _start_dates(hp, "hindcast periods")
    if dates.has_duplicates:
        raise SowcastError("the hindcast periods have two starts on the same date")
    doy = day_of_year(dates)
    bins = np.unique(doy) if start_doys is None else np.unique(np.asarray(start_doys, np.int32))
    if bins.size == 0 or bins.min() < 1 or bins.max() > YEAR_DAYS:
        raise SowcastError(f"start_doys must be days of year in 1..{YEAR_DAYS}")
    pools = [np.flatnonzero(circular_distance(doy, b) <= window) for b in bins]
    obs, obs_pos = None, None
    if observed_periods is not None:
        obs, obs_pos = _observations_by_start(observed_periods, hp, names, dates)

    data_vars: dict[str, xr.Variable] = {}
    for n in names:
        rest = [d for d in hp[n].dims if d not in _POOL_DIMS and d != "period"]
        sources = [("model", n, hp[n], pools)]
        if obs is not None:
            pos_pools = [obs_pos[idx][obs_pos[idx] >= 0] for idx in pools]
            sources.append(("observed", f"observed_{n}", obs[n], pos_pools))
        for what, prefix, da, pool_idx in sources:
            stats = ("mean", "std", "quantiles", "count") if what == "model" else ("mean", "quantiles", "count")
            arrays = _pooled_by_start_doy(da, pool_idx, stats, levels)
            for stat in stats:
                dims = ("start_doy", "period", *(("quantile",) if stat == "quantiles" else ()), *rest)
                data_vars[f"{prefix}_{stat}"] = xr.Variable(
                    dims, arrays[stat], _attrs(hp[n].attrs if what == "model" else da.attrs, what, stat, window))
    return xr.Dataset(data_vars, coords=_climatology_coords(hp, bins, pools, levels),
                      attrs=_climatology_attrs(hp, dates, window, has_observed=obs is not None))


def _observations_by_start(observed_periods: xr.Dataset, hp: xr.Dataset, names: list[str],
                           dates: pd.DatetimeIndex) -> tuple[xr.Dataset, np.ndarray]:
    """The observed periods on the hindcasts' grid, periods and variables (else an error), and
    the position of each hindcast start among the observed ones (-1: none for that start)."""
    obs = observed_periods
    check_same_grid(hp, obs, "the hindcasts'", "the observations'")
    missing_p = [p for p in hp["period"].values if p not in set(obs["period"].values)]
    if missing_p:
        raise SowcastError(f"the observed periods lack period(s) {', '.join(map(str, missing_p))}")
    obs = obs.sel(period=hp["period"].values)
    for n in names:
        if n not in obs.data_vars:
            raise SowcastError(f"the observed periods have no variable {n!r}")
    obs_dates = _start_dates(obs, "observed periods")
    return obs, pd.Index(obs_dates).get_indexer(dates)


def _pooled_by_start_doy(da: xr.DataArray, pools: list[np.ndarray], stats: Sequence[str],
                         levels: np.ndarray) -> dict[str, np.ndarray]:
    """``stats`` of ``da`` pooled over each bin's starts (:func:`_pool`), stacked along start_doy:
    one bin at a time, into arrays made once."""
    arrays: dict[str, np.ndarray] = {}
    for b, idx in enumerate(pools):
        result = dict(zip(("mean", "std", "quantiles", "count"), _pool(da, idx, levels)))
        for stat in stats:
            if stat not in arrays:
                arrays[stat] = np.empty((len(pools), *result[stat].shape), result[stat].dtype)
            arrays[stat][b] = result[stat]
    return arrays


def _climatology_coords(hp: xr.Dataset, bins: np.ndarray, pools: list[np.ndarray],
                        levels: np.ndarray) -> dict[str, xr.Variable]:
    """start_doy with its month-day and pool size, quantile, and the hindcasts' period and grid coordinates."""
    month_day = [(_dt.date(2001, 1, 1) + _dt.timedelta(days=int(b) - 1)).strftime("%m-%d") for b in bins]
    coords: dict[str, Any] = {
        "start_doy": ("start_doy", bins.astype(np.int32),
                      {"long_name": "day of year of the forecast start (365-day calendar, 29 Feb = 28 Feb)",
                       "units": "1"}),
        "start_month_day": ("start_doy", np.asarray(month_day, dtype=object),
                            {"long_name": "month and day of start_doy"}),
        "n_starts": ("start_doy", np.asarray([len(p) for p in pools], np.int32),
                     {"long_name": "number of hindcast starts pooled (all years)", "units": "1"}),
        "quantile": ("quantile", levels, {"long_name": "probability of not exceeding", "units": "1"}),
    }
    for c in ("period", "first_lead_day", "last_lead_day", "level", "lat", "lon"):
        if c in hp.coords:
            coords[c] = hp[c].variable
    return {k: xr.Variable(*v) if isinstance(v, tuple) else v for k, v in coords.items()}


def _climatology_attrs(hp: xr.Dataset, dates: pd.DatetimeIndex, window: int, has_observed: bool) -> dict[str, Any]:
    """The file's global attributes: the pooling, the years and starts, and the hindcasts' provenance."""
    years = sorted(set(dates.year))
    attrs: dict[str, Any] = {
        "title": "sowcast lead-dependent model climatology of lead-period aggregates",
        "Conventions": "CF-1.8",
        "sowcast_product": PRODUCT,
        "sowcast_version": sowcast.__version__,
        "window_days": np.int32(window),
        "years": " ".join(map(str, years)),
        "first_year": np.int32(years[0]), "last_year": np.int32(years[-1]),
        "n_starts": np.int32(len(dates)),
        "n_members": np.int32(hp.sizes.get("member", 1)),
        "first_start": f"{dates.min():%Y-%m-%d}", "last_start": f"{dates.max():%Y-%m-%d}",
        "has_observed": np.int32(has_observed),
        "quantile_method": "linear between order statistics (Hyndman and Fan 1996 type 7)",
        "source": ("pooled hindcast period aggregates: starts within +-window_days of start_doy "
                   "(circular), all years and members (ECMWF extended-range model climate practice)"),
        "history": f"{_dt.datetime.now(_dt.UTC):%Y-%m-%dT%H:%M:%SZ} sowcast.products.climatology.build_climatology",
    }
    for k, v in hp.attrs.items():  # provenance of the hindcasts (bundle_sha256, config...)
        if k not in ("init_time", "history") and isinstance(v, str | int | float | np.integer | np.floating) \
                and not isinstance(v, bool):
            attrs[f"hindcast_{k}"] = v
    return attrs


def write_climatology(clim: xr.Dataset, path: str | os.PathLike, overwrite: bool = True) -> Path:
    """Write ``clim`` to a netCDF-4 file atomically; return the path.

    zlib level 1 with shuffle, one HDF5 chunk per (start_doy, period), so
    :func:`climatology_for` reads only its start_doy.
    """
    _check(clim, str(path))
    encoding: dict[str, dict[str, Any]] = {}
    for n, da in clim.data_vars.items():
        encoding[n] = {"zlib": True, "complevel": 1, "shuffle": True,
                       "chunksizes": tuple(1 if d in ("start_doy", "period") else da.sizes[d] for d in da.dims)}
        if da.dtype.kind == "i":
            encoding[n]["_FillValue"] = None
    for c in ("start_doy", "n_starts", "quantile", "lat", "lon", "level", "first_lead_day", "last_lead_day"):
        if c in clim.coords:
            encoding[c] = {"_FillValue": None}
    path = Path(path)
    clim, cf = cf_dataset(clim, "sowcast model climatology")
    with atomic_path(path, overwrite=overwrite) as tmp:
        clim.to_netcdf(tmp, engine="netcdf4", format="NETCDF4", encoding=merge_encoding(cf, encoding))
    return path


def _check(clim: xr.Dataset, what: str) -> None:
    if clim.attrs.get("sowcast_product") != PRODUCT or not {"start_doy", "period", "quantile"} <= set(clim.dims):
        raise SowcastError(f"{what} is not a sowcast model climatology (no start_doy/period/quantile "
                           f"dims or sowcast_product={PRODUCT!r} attribute)")


def read_climatology(path: str | os.PathLike, load: bool = False) -> xr.Dataset:
    """Open a climatology file (lazily unless ``load``); one-line error on a wrong file."""
    path = Path(path)
    if not path.is_file():
        raise SowcastError(f"{path}: no climatology file there")
    try:
        ds = xr.open_dataset(path, engine="netcdf4")
    except (OSError, ValueError, RuntimeError) as exc:
        raise SowcastError(f"{path}: not a readable netCDF file ({type(exc).__name__})") from None
    try:
        _check(ds, str(path))
    except SowcastError:
        ds.close()
        raise
    return ds.load() if load else ds


def climatology_for(clim: xr.Dataset, init_time: Any) -> xr.Dataset:
    """The climatology at the start_doy nearest (circularly) to the init date.

    Dims ``(period, quantile, [level,] lat, lon)``; attrs ``climatology_start_doy`` and
    ``climatology_start_doy_distance_days``. Error if farther than the window.
    """
    _check(clim, "the climatology")
    target = int(day_of_year([pd.Timestamp(init_time)])[0])
    bins = np.asarray(clim["start_doy"].values, np.int64)
    dist = circular_distance(bins, target).astype(np.float64)
    if "n_starts" in clim.coords:
        dist[np.asarray(clim["n_starts"].values) == 0] = np.inf
    i = int(np.argmin(dist))
    window = int(clim.attrs.get("window_days", YEAR_DAYS))
    if not np.isfinite(dist[i]) or dist[i] > window:
        raise SowcastError(f"the climatology has no start day within {window} days of "
                           f"{pd.Timestamp(init_time):%Y-%m-%d} (day of year {target}; nearest: "
                           f"{bins[i]}, {dist[i]:g} days away)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = clim.isel(start_doy=i).load()
    out.attrs = dict(clim.attrs)
    out.attrs["climatology_start_doy"] = np.int32(bins[i])
    out.attrs["climatology_start_doy_distance_days"] = np.int32(dist[i])
    return out
