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

Ties (:func:`category_levels`). Where more than a third of the climatology's weekly totals are
0 mm (the edge of the rain belt, the dry season), the observed terciles coincide at 0 and the
observed categories are not equiprobable: ``below`` (less than 0 mm) cannot happen and
``near`` holds every dry week. A forecast is then judged against the categories' observed
climatological probabilities ``(p_below, p_near, p_above)`` (the "climatology" reference of
WMO's SVS-LRF, here the frequencies, not 1/3 each), and the model's bounds are its own
quantiles at the same probability levels (:func:`model_category_bounds`): a member falls in
a category as often as the observations do in the model's climate, the rule that makes model
terciles "each against its own climate" (S2S practice) hold with ties too. Where the observed
terciles are distinct this is exactly the model's 1/3 and 2/3 quantiles.
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


def _level_index(levels: np.ndarray, target: float) -> int:
    hit = np.flatnonzero(np.abs(levels - target) < _TOLERANCE)
    if not len(hit):
        raise SowcastError(f"the climatology has no {target:.4f} quantile")
    return int(hit[0])


def category_levels(clim_for_init: xr.Dataset, var: str) -> tuple[xr.DataArray, xr.DataArray] | None:
    """Climatological probability levels ``(P(x < lower), P(x <= upper))`` of the observed
    terciles of ``var``, from the observed quantiles; None without observed quantiles.

    Ties are counted at the bottom of the distribution only (0 mm of rain, the one value that a
    pooled sample repeats; equal quantiles elsewhere are float coincidences): where the lower
    tercile equals the lowest stored quantile (level 0.05), ``P(x < lower)`` is 0, else 1/3;
    where the upper tercile equals it too, ``P(x <= upper)`` is the highest stored level whose
    quantile is still that value (the dry share, resolved to the levels' 5 % steps), else 2/3.
    """
    name = f"observed_{var}_quantiles"
    if name not in clim_for_init.data_vars:
        return None
    q = clim_for_init[name].transpose("quantile", ...)
    levels = np.asarray(q["quantile"].values, np.float64)
    if np.any(np.diff(levels) <= 0):
        raise SowcastError(f"the climatology's {name!r} levels are not increasing")
    values = np.asarray(q.values, np.float64)
    lower = values[_level_index(levels, 1 / 3)]
    upper = values[_level_index(levels, 2 / 3)]
    bottom = values[0]
    p_below = np.where(lower == bottom, 0.0, 1 / 3)
    at_bottom = values == bottom[None]                 # exact: the bounds are among the stored values
    last = len(levels) - 1 - np.argmax(at_bottom[::-1], axis=0)
    p_upper = np.where(upper == bottom, levels[last], 2 / 3)
    known = np.isfinite(lower) & np.isfinite(upper)
    dims, coords = q.dims[1:], {k: v for k, v in q.coords.items() if "quantile" not in v.dims and k != "quantile"}
    as_da = lambda a: xr.DataArray(np.where(known, a, np.nan), dims=dims, coords=coords)  # noqa: E731
    return as_da(p_below), as_da(p_upper)


def climatological_category_probabilities(clim_for_init: xr.Dataset, var: str) -> xr.DataArray:
    """The observed categories' climatological probabilities ``(below, near, above)`` on
    ``category`` (last): ``(P(x < lower), P(x <= upper) - P(x < lower), 1 - P(x <= upper))``
    by :func:`category_levels`, 1/3 each without observed quantiles (module doc: ties)."""
    levels = category_levels(clim_for_init, var)
    if levels is None:
        ref = clim_for_init[f"{var}_quantiles"].isel(quantile=0, drop=True)
        third = xr.full_like(ref, 1 / 3, dtype=np.float64)
        parts = [third, third, third]
    else:
        p_below, p_upper = levels
        parts = [p_below, p_upper - p_below, 1 - p_upper]
    out = xr.concat(parts, dim=xr.DataArray(list(CATEGORIES), dims="category", name="category"), coords="minimal")
    return out.transpose(..., "category")


def model_category_bounds(clim_for_init: xr.Dataset, var: str) -> tuple[xr.DataArray, xr.DataArray]:
    """The model's bounds for the categories: its quantiles at the observed categories'
    climatological levels (:func:`category_levels`); below nothing where ``P(x < lower)`` is 0
    (the lowest float). Without observed quantiles: the model's terciles."""
    levels = category_levels(clim_for_init, var)
    if levels is None:
        return tercile_bounds(clim_for_init, var)
    q = _quantiles(clim_for_init, var)
    stored = np.asarray(q["quantile"].values, np.float64)
    bounds = []
    for level, empty in zip(levels, (True, False)):
        index = np.abs(stored[:, None] - np.nan_to_num(level.values.ravel(), nan=0.5)[None]).argmin(axis=0)
        picked = q.isel(quantile=xr.DataArray(index.reshape(level.shape), dims=level.dims)).drop_vars("quantile")
        picked = picked.where(level.notnull())
        if empty:
            picked = picked.where(level > 0, -np.finfo(np.float32).max)
        bounds.append(picked)
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
