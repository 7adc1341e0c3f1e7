"""products.quantile_mapping: x -> F_obs^-1(F_model(x)) between stored quantiles."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from sowcast.errors import SowcastError
from sowcast.products.climatology import QUANTILE_LEVELS
from sowcast.products.quantile_mapping import quantile_map, quantile_map_numpy

LEVELS = np.asarray(QUANTILE_LEVELS)


def quantiles(values, name="quantile") -> xr.DataArray:
    return xr.DataArray(np.asarray(values, np.float64), dims=("point", name), coords={name: LEVELS})


def test_model_quantiles_map_exactly_onto_observed_ones_and_the_map_is_monotone():
    qm = np.stack([np.linspace(1, 30, 21), 280 + 10 * LEVELS])          # two points
    qo = np.stack([np.linspace(0, 60, 21) ** 1.1, 282 + 6 * LEVELS])
    for i in range(2):
        np.testing.assert_allclose(quantile_map_numpy(qm[i], np.broadcast_to(qm[i], (21, 21)),
                                                      np.broadcast_to(qo[i], (21, 21)), LEVELS), qo[i])
    x = np.linspace(-20, 80, 2001)
    for kind in ("additive", "multiplicative"):
        y = quantile_map_numpy(x, np.broadcast_to(qm[0], (x.size, 21)), np.broadcast_to(qo[0], (x.size, 21)),
                               LEVELS, kind)
        assert (np.diff(y) >= -1e-9).all(), kind


def test_between_quantiles_it_is_linear():
    qm, qo = np.array([0.0, 10.0, 20.0]), np.array([0.0, 30.0, 40.0])
    levels = np.array([0.1, 0.5, 0.9])
    y = quantile_map_numpy(np.array([5.0, 15.0]), np.tile(qm, (2, 1)), np.tile(qo, (2, 1)), levels)
    np.testing.assert_allclose(y, [15.0, 35.0])


def test_extrapolation_additive_and_multiplicative():
    qm, qo = np.array([2.0, 4.0, 8.0]), np.array([3.0, 6.0, 12.0])
    levels = np.array([0.1, 0.5, 0.9])
    x = np.array([1.0, 10.0, 0.0])
    q_m, q_o = np.tile(qm, (3, 1)), np.tile(qo, (3, 1))
    np.testing.assert_allclose(quantile_map_numpy(x, q_m, q_o, levels, "additive"), [2.0, 14.0, 1.0])
    np.testing.assert_allclose(quantile_map_numpy(x, q_m, q_o, levels, "multiplicative"), [1.5, 15.0, 0.0])
    # the ratio above the top quantile is capped (a near-zero model quantile)
    y = quantile_map_numpy(np.array([2.0]), np.array([[0.0, 0.0, 0.01]]), np.array([[0.0, 1.0, 20.0]]),
                           levels, "multiplicative", max_ratio=5.0)
    np.testing.assert_allclose(y, [20.0 + 5.0 * 1.99])
    # additive below the range would give negative rain: clipped at 0
    y = quantile_map_numpy(np.array([0.5]), np.array([[1.0, 2.0, 3.0]]), np.array([[0.0, 1.0, 2.0]]),
                           levels, "multiplicative")
    assert y[0] == 0.0


def test_tied_dry_quantiles_take_the_middle_level():
    # model: 0 mm up to the 0.5 quantile; observed rain rises from 0 across the levels.
    levels = np.array([0.1, 0.3, 0.5, 0.7, 0.9])
    qm = np.array([[0.0, 0.0, 0.0, 2.0, 6.0]])
    qo = np.array([[0.0, 1.0, 2.0, 3.0, 4.0]])
    np.testing.assert_allclose(quantile_map_numpy(np.array([0.0]), qm, qo, levels), [1.0])   # level 0.3
    np.testing.assert_allclose(quantile_map_numpy(np.array([1.0]), qm, qo, levels), [2.5])


def test_xarray_members_rain_never_negative_and_nan():
    qm = quantiles([np.linspace(0, 20, 21), np.linspace(1, 21, 21)])
    qo = quantiles([np.linspace(0, 40, 21), np.full(21, np.nan)])
    values = xr.DataArray(np.array([[-1.0, 10.0, 30.0], [5.0, 5.0, 5.0]]).T, dims=("member", "point"),
                          name="total_precipitation", attrs={"units": "mm"})
    out = quantile_map(values, qm, qo)
    assert out.dims == ("member", "point") and out.attrs["units"] == "mm"
    np.testing.assert_allclose(out.isel(point=0), [0.0, 20.0, 60.0])   # 30 mm: 40 * 30 / 20
    assert np.isnan(out.isel(point=1)).all()                          # no observed quantiles
    t = values.rename("2m_temperature")
    np.testing.assert_allclose(quantile_map(t, qm, qo).isel(point=0), [-1.0, 20.0, 50.0])  # additive
    with pytest.raises(SowcastError, match="quantile levels"):
        quantile_map(values, qm, qo, levels=[0.1, 0.9])
    with pytest.raises(SowcastError, match="extrapolation"):
        quantile_map(values, qm, qo, extrapolation="ratio")
