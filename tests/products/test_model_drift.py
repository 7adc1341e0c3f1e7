"""The model's drift by lead period from its climatology (sowcast.products.model_drift):
area-weighted over the grid and the start days, on the points both means know."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from sowcast.products.model_drift import drift_lines, model_drift


def _climatology() -> xr.Dataset:
    coords = {"start_doy": [107, 121], "period": ["week1", "weeks3-4"], "lat": [0.0, 60.0], "lon": [0.0, 1.0]}
    dims = tuple(coords)
    observed = np.full((2, 2, 2, 2), 10.0)
    model = observed.copy()
    model[:, 0, 0, :] += 3.0          # week 1: the equator 3 mm too wet (weight 1), 60 N right (weight 1/2)
    model[:, 1, 1, :] -= 6.0          # weeks 3-4: 60 N 6 mm too dry
    model[0, 0, 1, 1] = np.nan        # a point the model does not know is left out of both
    rain = {"units": "mm"}
    return xr.Dataset({"total_precipitation_mean": (dims, model, rain),
                       "observed_total_precipitation_mean": (dims, observed, rain),
                       "2m_temperature_mean": (dims, np.full((2, 2, 2, 2), 300.5), {"units": "K"}),
                       "observed_2m_temperature_mean": (dims, np.full((2, 2, 2, 2), 300.0), {"units": "K"}),
                       "total_precipitation_std": (dims, np.ones((2, 2, 2, 2)))}, coords=coords)


def test_the_drift_is_the_area_weighted_model_minus_observed_by_period():
    drift = model_drift(_climatology())
    assert set(drift) == {"total_precipitation", "2m_temperature"}
    rain = drift["total_precipitation"]
    # week 1: 4 equator points at +3 (weight 1), 3 known points at 60 N at 0 (weight 0.5)
    assert float(rain["drift"].sel(period="week1")) == pytest.approx(3.0 * 4 / (4 + 0.5 * 3))
    assert float(rain["drift"].sel(period="weeks3-4")) == pytest.approx(-6.0 * 0.5 * 4 / (4 + 0.5 * 4))
    assert float(rain["observed"].sel(period="week1")) == pytest.approx(10.0)
    np.testing.assert_allclose(drift["2m_temperature"]["drift"].values, 0.5)


def test_the_printed_lines_give_rain_as_a_share_too():
    lines = drift_lines(_climatology(), " over 2003-2008")
    assert lines[0] == ("  drift, model minus observed, total_precipitation (mm, area mean over 2003-2008): "
                        "week1 +2.18 (+22 %)  weeks3-4 -2.00 (-20 %)")
    assert lines[1].endswith("(K, area mean over 2003-2008): week1 +0.50  weeks3-4 +0.50")
