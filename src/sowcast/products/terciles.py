"""Tercile categories, probabilities and anomalies against a climatology.

The climatological terciles are the 1/3 and 2/3 quantiles of the climatology for the
forecast's start (:func:`sowcast.products.climatology.climatology_for`). The probability of
a category is the fraction of ensemble members in it (the "democratic voting" estimate used
for S2S tercile maps, e.g. the ECMWF extended-range and WMO Lead Centre products):

* ``below``: members strictly below the lower tercile;
* ``above``: members strictly above the upper tercile;
* ``near``: the rest, so a member equal to a bound (ties, common for dry-season rain where
  both terciles can be 0 mm) counts as near normal.

Members that are NaN are left out of the fraction; where no member is finite, or a bound is
NaN, all three probabilities are NaN. Otherwise they sum to 1.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from sowcast.errors import SowcastError
from sowcast.verify import categorical
from sowcast.verify.categorical import CATEGORIES  # noqa: F401 (re-exported: the category labels)

_TOLERANCE = 1e-6


def _quantiles(clim_for_init: xr.Dataset, var: str, prefix: str = "") -> xr.DataArray:
    name = f"{prefix}{var}_quantiles"
    if name not in clim_for_init.data_vars:
        raise SowcastError(f"the climatology has no {name!r} (variables: {', '.join(map(str, clim_for_init.data_vars))})")
    return clim_for_init[name]


def tercile_bounds(clim_for_init: xr.Dataset, var: str, observed: bool = False) -> tuple[xr.DataArray, xr.DataArray]:
    """The lower (1/3) and upper (2/3) climatological terciles of ``var`` (model, or observed)."""
    q = _quantiles(clim_for_init, var, "observed_" if observed else "")
    bounds = []
    for level in (1 / 3, 2 / 3):
        try:
            b = q.sel(quantile=level, method="nearest", tolerance=_TOLERANCE)
        except KeyError:
            raise SowcastError(f"the climatology's {q.name!r} has no {level:.4f} quantile") from None
        bounds.append(b.drop_vars("quantile"))
    return bounds[0], bounds[1]


def tercile_probabilities(values: xr.DataArray, lower: xr.DataArray, upper: xr.DataArray,
                          member_dim: str = "member") -> xr.DataArray:
    """Fractions of members below / near / above: dim ``category`` first (module doc for ties).

    The counting is :func:`sowcast.verify.categorical.tercile_probabilities` (one rule for
    products and their verification) over the finite members (``skipna=True``).
    """
    out = categorical.tercile_probabilities(values, lower, upper, member_dim, skipna=True).transpose("category", ...)
    out.name = "tercile_probability"
    out.attrs = {"long_name": "probability of the tercile category (fraction of ensemble members)",
                 "units": "1", "comment": "below: < lower tercile; above: > upper tercile; near: the rest"}
    return out


def anomaly(values: xr.DataArray, clim_for_init: xr.Dataset, var: str, observed: bool = False) -> xr.DataArray:
    """``values`` minus the climatological mean of ``var`` (model, or observed)."""
    name = f"{'observed_' if observed else ''}{var}_mean"
    if name not in clim_for_init.data_vars:
        raise SowcastError(f"the climatology has no {name!r}")
    out = values - clim_for_init[name]
    out.attrs = {k: v for k, v in values.attrs.items() if k in ("units", "cell_methods")}
    out.attrs["long_name"] = f"anomaly from the {'observed' if observed else 'model'} climatological mean"
    return out


def most_likely_category(probabilities: xr.DataArray) -> xr.DataArray:
    """Index of the most probable category: 0 below, 1 near, 2 above; -1 where unknown.

    Ties are resolved in the order near, below, above (a tie is no signal for either tail).
    """
    p = probabilities.transpose("category", ...)
    order = [1, 0, 2]  # near first
    stacked = np.stack([np.asarray(p.isel(category=i).values, np.float64) for i in order])
    missing = ~np.isfinite(stacked).all(axis=0)
    best = np.asarray(order)[np.argmax(np.where(np.isfinite(stacked), stacked, -np.inf), axis=0)]
    code = np.where(missing, -1, best).astype(np.int8)
    out = xr.DataArray(code, dims=p.dims[1:], coords={k: v for k, v in p.coords.items()
                                                      if "category" not in v.dims and k != "category"})
    out.name = "most_likely_category"
    out.attrs = {"long_name": "most likely tercile category", "flag_values": np.array([-1, 0, 1, 2], np.int8),
                 "flag_meanings": "unknown below near above"}
    return out
