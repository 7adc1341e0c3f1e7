"""Normalisation statistics of a canonical dataset, stored as the ``statistics`` group.

For every data variable (the ``*_valid`` masks excepted) and, where it has one, every
pressure level, over all other dims (member, time, lat, lon; or time, station):

* ``mean``, ``std`` (population, ddof = 0), ``min``, ``max`` of the values;
* ``diff_mean``, ``diff_std`` of the one-step differences ``x[t+1] - x[t]`` (per member),
  by which GraphCast normalises its predicted residuals (Lam et al. 2023, Science 382,
  1416-1421, supplement section 3.3 "Normalization").

NaNs are skipped, and where a ``<name>_valid`` mask exists only valid points count (a
difference counts where both of its times are valid). Fields without a time dim
(static fields) get ``diff_mean = diff_std = NaN``: the differences are undefined, and a
NaN makes a consumer that wrongly divides by them fail loudly rather than quietly.
A time-varying field with a single time step gets NaN differences too.

Numerics: values are cast to float64 before any sum. To avoid catastrophic cancellation
in the variance of a field with a large mean and a small spread (geopotential, surface
pressure), the data are first shifted by a per-variable (per-level) reference, the mean
of the first time step, computed in a cheap first pass over one time step only. The main
pass then reduces ``x - ref``: numpy reduces exactly in two passes, and dask combines
per-chunk counts, sums and centred second moments pairwise (Chan, Golub & LeVeque 1983),
so the variance stays accurate on any chunking. All statistics of all variables are
computed in one dask graph, so each chunk of the data is read once.

``period = (start, end)`` restricts the times used (inclusive, pandas partial dates such
as ``("1991", "2010")``), normally the training years, so that no test year leaks into
the normalisation. Only differences with both times inside the period count.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.errors import SowcastError

STATS = ("mean", "std", "min", "max", "diff_mean", "diff_std")
_NAN_WARNINGS = r"(All-NaN|Mean of empty|Degrees of freedom|invalid value)"


def _select_period(ds: xr.Dataset, period: tuple[str, str] | None) -> xr.Dataset:
    if period is None or "time" not in ds.dims:
        return ds
    try:
        start, end = (pd.Timestamp(str(p)) if p is not None else None for p in period)
    except (TypeError, ValueError):
        raise SowcastError(f"statistics period must be [start, end] dates, not {period!r}") from None
    if start is not None and end is not None and start > end:
        raise SowcastError(f"statistics period starts after it ends: {period[0]} > {period[1]}")
    sel = ds.sel(time=slice(*(str(p) if p is not None else None for p in period)))
    if sel.sizes["time"] == 0:
        t = pd.DatetimeIndex(ds["time"].values)
        raise SowcastError(
            f"statistics period {period[0]}..{period[1]} holds no time of the data "
            f"({t[0]:%Y-%m-%d} to {t[-1]:%Y-%m-%d})"
        )
    return sel


def _values(ds: xr.Dataset, name: str) -> xr.DataArray:
    """The variable as float64, NaN where its ``<name>_valid`` mask says invalid."""
    x = ds[name].astype(np.float64)
    mask = f"{name}_valid"
    if mask in ds.data_vars:
        x = x.where(ds[mask].astype(bool))
    return x


def compute_statistics(ds: xr.Dataset, period: tuple[str, str] | None = None,
                       progress: bool = False) -> xr.Dataset:
    """Per-variable (per-level) mean, std, min, max, diff_mean, diff_std; see module doc.

    Returns float64 variables of dims ``(stat[, level])`` named as in ``ds``, attrs
    ``period`` (first and last time used, ISO strings; empty without a time dim) and
    ``n_times``.
    """
    from sowcast.data.dask_runtime import compute

    ds = _select_period(ds, period)
    names = [n for n in ds.data_vars if not str(n).endswith("_valid")]
    if not names:
        raise SowcastError("no data variables to compute statistics of")

    # First pass, one time step per variable: the reference each variable is shifted by.
    refs = {}
    for name in names:
        x = _values(ds, name)
        first = x.isel(time=0) if "time" in x.dims else x
        keep = [d for d in first.dims if d == "level"]
        refs[name] = first.mean([d for d in first.dims if d not in keep])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", _NAN_WARNINGS)
        refs = compute(xr.Dataset(refs), label="statistics: reference pass", progress=progress)

    stat_index = xr.DataArray(np.array(STATS, dtype=object), dims="stat", name="stat")  # object: zarr v3 variable-length strings
    results = {}
    for name in names:
        x = _values(ds, name)
        keep = [d for d in x.dims if d == "level"]
        dims = [d for d in x.dims if d not in keep]
        ref = refs[name].fillna(0.0)
        shifted = x - ref
        parts = [shifted.mean(dims) + ref, shifted.std(dims), x.min(dims), x.max(dims)]
        if "time" in x.dims and x.sizes["time"] >= 2:
            d = x.diff("time")  # label = later time: x[t+1] - x[t]
            parts += [d.mean(dims), d.std(dims)]
        else:
            nan = xr.full_like(parts[0], np.nan)
            parts += [nan, nan]
        da = xr.concat([p.drop_vars([c for c in p.coords if c != "level"]) for p in parts],
                       dim=stat_index, coords="minimal", compat="override")
        da = da.transpose("stat", *keep).astype(np.float64)
        da.attrs = {k: ds[name].attrs[k] for k in ("units", "long_name") if k in ds[name].attrs}
        results[name] = da

    with warnings.catch_warnings():  # all-NaN levels or single steps: NaN is the answer
        warnings.filterwarnings("ignore", _NAN_WARNINGS)
        stats = compute(xr.Dataset(results), label="statistics", progress=progress)
    if "time" in ds.dims:
        t = ds["time"].values
        first, last = (pd.Timestamp(v).isoformat() if np.issubdtype(t.dtype, np.datetime64) else str(v)
                       for v in (t[0], t[-1]))
        stats.attrs = {"period": [first, last], "n_times": int(len(t))}
    else:
        stats.attrs = {"period": [], "n_times": 0}
    return stats
