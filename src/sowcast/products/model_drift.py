"""The model's drift on its hindcast years, from the lead-dependent model climatology.

``climatology.nc`` holds, per start day, lead period and grid point, the hindcasts' mean
(``<name>_mean``) and the observed mean of the same starts (``observed_<name>_mean``). Their
difference, area-weighted (cos latitude) over the grid and averaged over the start days, is the
model's mean error by lead period: the drift of a run away from the observed climate (the
"lead-dependent bias" of S2S practice, Weigel et al. 2008, QJRMS 134; the reason the
products compare the forecast with the model's own climatology). For accumulated rain it is
also given as a fraction of the observed mean.

Made on the training years, as the climatology is, it tells a training that drifts (one
random seed of the demo's model came out 27-38 % too wet; another within 7 %) before any
held-out year is looked at, which is what choosing between trainings may use.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

HEADLINE_PERIODS = ("week1", "week2", "weeks3-4", "weeks5-6")
RAIN = "total_precipitation"


def model_drift(clim: xr.Dataset) -> dict[str, xr.Dataset]:
    """``{name: Dataset(drift, observed)}`` on ``period`` for every ``<name>_mean`` with an
    ``observed_<name>_mean``: the area-weighted mean over ``start_doy``, ``lat``, ``lon`` of
    model minus observed (``drift``) and of the observed mean, on the points where both are known."""
    weights = np.cos(np.deg2rad(clim["lat"].astype(float)))
    out = {}
    for key in clim.data_vars:
        name = str(key)[: -len("_mean")]
        if not str(key).endswith("_mean") or str(key).startswith("observed_") or f"observed_{name}_mean" not in clim:
            continue
        model, observed = clim[key], clim[f"observed_{name}_mean"]
        known = model.notnull() & observed.notnull()
        w = weights.where(known, 0.0)
        dims = [d for d in ("start_doy", "lat", "lon") if d in model.dims]
        total = w.sum(dims)

        def mean(x: xr.DataArray) -> xr.DataArray:
            return (x.where(known, 0.0) * w).sum(dims) / total.where(total > 0)

        out[name] = xr.Dataset({"drift": mean(model - observed), "observed": mean(observed)},
                               attrs={"units": str(model.attrs.get("units", ""))})
    return out


def drift_lines(clim: xr.Dataset, years: str = "") -> list[str]:
    """One line per variable for a command to print: the drift at the headline periods (all
    periods where those are missing), rain also in % of the observed mean."""
    lines = []
    for name, d in model_drift(clim).items():
        periods = [p for p in HEADLINE_PERIODS if p in d["period"].values] or [str(p) for p in d["period"].values]
        cells = []
        for p in periods:
            drift, observed = float(d["drift"].sel(period=p)), float(d["observed"].sel(period=p))
            share = f" ({100.0 * drift / observed:+.0f} %)" if name == RAIN and observed > 0 else ""
            cells.append(f"{p} {drift:+.2f}{share}")
        lines.append(f"  drift, model minus observed, {name} ({d.attrs['units']}, area mean{years}): " + "  ".join(cells))
    return lines
