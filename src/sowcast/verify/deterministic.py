"""Scores of a single (deterministic) forecast: RMSE, bias, MAE and anomaly correlation.

Each reduces over ``dims`` with :func:`sowcast.verify.weights.weighted_mean` (area weights
when ``lat`` is among them) and keeps every other dimension, so a score per ``period`` comes
from reducing over ``("start", "lat", "lon")``. A forecast/truth pair counts only where both
are finite. Definitions follow WeatherBench 2 (Rasp et al. 2024 JAMES, section 4.1).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from sowcast.verify.weights import Dims, paired, weighted_mean


def rmse(forecast: xr.DataArray, truth: xr.DataArray, dims: Dims) -> xr.DataArray:
    """Root mean squared error ``sqrt(mean_w((f - o)^2))`` over ``dims``."""
    f, o = paired(forecast, truth)
    return np.sqrt(weighted_mean((f - o) ** 2, dims))


def bias(forecast: xr.DataArray, truth: xr.DataArray, dims: Dims) -> xr.DataArray:
    """Mean error ``mean_w(f - o)`` over ``dims``: positive when the forecast is too high."""
    f, o = paired(forecast, truth)
    return weighted_mean(f - o, dims)


def mae(forecast: xr.DataArray, truth: xr.DataArray, dims: Dims) -> xr.DataArray:
    """Mean absolute error ``mean_w(|f - o|)`` over ``dims``."""
    f, o = paired(forecast, truth)
    return weighted_mean(abs(f - o), dims)


def acc(forecast: xr.DataArray, truth: xr.DataArray, climatology: xr.DataArray,
        dims: Dims) -> xr.DataArray:
    """Anomaly correlation coefficient over ``dims`` (WeatherBench 2 definition).

    With anomalies ``f' = f - c`` and ``o' = o - c`` against the climatology ``c``::

        ACC = mean_w(f' o') / sqrt(mean_w(f'^2) * mean_w(o'^2))

    uncentred (the mean anomaly is not removed) and area weighted. WeatherBench 2 computes
    it over ``("lat", "lon")`` for each start and then averages over starts:
    ``acc(f, o, c, ("lat", "lon")).mean("start")``. A triple counts where all are finite.
    """
    f, o, c = paired(forecast, truth, climatology)
    fa, oa = f - c, o - c
    return weighted_mean(fa * oa, dims) / np.sqrt(weighted_mean(fa**2, dims) * weighted_mean(oa**2, dims))
