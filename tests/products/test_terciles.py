"""products.terciles: tercile probabilities (with ties), bounds, anomalies."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from sowcast.errors import SowcastError
from sowcast.products.climatology import QUANTILE_LEVELS
from sowcast.products.terciles import (
    anomaly,
    most_likely_category,
    tercile_bounds,
    tercile_probabilities,
)


def members(*values) -> xr.DataArray:
    return xr.DataArray(np.asarray(values, np.float64).T, dims=("member", "point"))


def test_fractions_with_ties_count_as_near():
    # dry-season rain: both terciles 0 mm; members on a bound are near normal.
    v = members([0, 0, 0, 1, 2, 5], [0, 1, 1, 1, 1, 3])
    lower = xr.DataArray([0.0, 1.0], dims="point")
    upper = xr.DataArray([0.0, 1.0], dims="point")
    p = tercile_probabilities(v, lower, upper)
    assert p.dims == ("category", "point")
    assert list(p["category"].values) == ["below", "near", "above"]
    np.testing.assert_allclose(p.isel(point=0), [0, 3 / 6, 3 / 6])
    np.testing.assert_allclose(p.isel(point=1), [1 / 6, 4 / 6, 1 / 6])
    np.testing.assert_allclose(p.sum("category"), 1.0)


def test_nan_members_are_left_out_and_nothing_known_is_nan():
    v = members([1.0, np.nan, 5.0, 9.0], [np.nan] * 4, [1.0, 2.0, 3.0, 4.0])
    lower = xr.DataArray([2.0, 2.0, np.nan], dims="point")
    upper = xr.DataArray([6.0, 6.0, 3.0], dims="point")
    p = tercile_probabilities(v, lower, upper)
    np.testing.assert_allclose(p.isel(point=0), [1 / 3, 1 / 3, 1 / 3])
    assert np.isnan(p.isel(point=1)).all() and np.isnan(p.isel(point=2)).all()
    with pytest.raises(SowcastError, match="'ens'"):
        tercile_probabilities(v, lower, upper, member_dim="ens")


def test_most_likely_category_prefers_near_on_ties():
    # columns: below wins, above wins, below/above tie (-> below), below/near tie (-> near), unknown
    p = xr.DataArray([[0.5, 0.2, 0.4, 0.4, np.nan], [0.3, 0.3, 0.2, 0.4, np.nan], [0.2, 0.5, 0.4, 0.2, np.nan]],
                     dims=("category", "point"), coords={"category": ["below", "near", "above"]})
    code = most_likely_category(p)
    assert list(code.values) == [0, 2, 0, 1, -1]
    assert code.attrs["flag_meanings"] == "unknown below near above"


def test_bounds_and_anomaly_from_a_climatology():
    levels = np.asarray(QUANTILE_LEVELS)
    clim = xr.Dataset(
        {"2m_temperature_quantiles": (("period", "quantile"), np.stack([290 + 10 * levels, 300 + levels])),
         "2m_temperature_mean": ("period", [295.0, 300.5])},
        coords={"period": ["week1", "week2"], "quantile": levels})
    lower, upper = tercile_bounds(clim, "2m_temperature")
    np.testing.assert_allclose(lower, [290 + 10 / 3, 300 + 1 / 3])
    np.testing.assert_allclose(upper, [290 + 20 / 3, 300 + 2 / 3])
    assert "quantile" not in lower.coords
    a = anomaly(xr.DataArray([296.0, 300.0], dims="period", attrs={"units": "K"}), clim, "2m_temperature")
    np.testing.assert_allclose(a, [1.0, -0.5])
    assert a.attrs["units"] == "K"
    with pytest.raises(SowcastError, match="total_precipitation_quantiles"):
        tercile_bounds(clim, "total_precipitation")
    with pytest.raises(SowcastError, match="0.3333 quantile"):
        tercile_bounds(clim.sel(quantile=[0.05, 0.95]), "2m_temperature")
