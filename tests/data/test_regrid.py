"""Tests of sowcast.data.regrid: conservation, masks, the dateline, laziness."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sowcast.data.grid import Grid
from sowcast.data.regrid import regrid
from sowcast.errors import SowcastError


def _dataset(grid: Grid, values: np.ndarray, name: str = "2m_temperature") -> xr.Dataset:
    dims = ("time", "lat", "lon")[-values.ndim:]
    coords = {"lat": grid.lat, "lon": grid.lon}
    if values.ndim == 3:
        coords["time"] = pd.date_range("2000-01-01", periods=values.shape[0], freq="D")
    return xr.Dataset({name: (dims, values, {"units": "K", "long_name": "T"})}, coords=coords,
                      attrs={"source": "test", "time_step": "P1D"})


def _cell_areas(lat: np.ndarray) -> np.ndarray:
    """Exact cell areas (in sin latitude) of a regular grid's latitude rows, poles clipped."""
    half = (lat[1] - lat[0]) / 2
    hi, lo = np.clip(lat + half, -90, 90), np.clip(lat - half, -90, 90)
    return np.sin(np.deg2rad(hi)) - np.sin(np.deg2rad(lo))


def _global_mean(values: np.ndarray, lat: np.ndarray) -> np.ndarray:
    w = _cell_areas(lat)[:, None]
    return (values * w).sum(axis=(-2, -1)) / (w.sum() * values.shape[-1])


def test_conservative_coarsening_conserves_the_global_mean():
    src, dst = Grid.global_grid(1.0), Grid.global_grid(2.5)
    rng = np.random.default_rng(0)
    f = (280 + 20 * rng.standard_normal((2, *src.shape))).astype(np.float32)
    out = regrid(_dataset(src, f), dst)["2m_temperature"]
    assert out.shape == (2, *dst.shape) and out.dtype == np.float32
    assert not out.isnull().any()
    np.testing.assert_allclose(_global_mean(out.values.astype(float), dst.lat),
                               _global_mean(f.astype(float), src.lat), rtol=1e-6)
    # The regridded field is smoother, not the same as sampling.
    assert out.std() < f.std()


@pytest.mark.parametrize("method", ["conservative", "linear", "nearest"])
def test_constant_field_stays_constant(method):
    src, dst = Grid.global_grid(2.0), Grid.global_grid(3.0)
    out = regrid(_dataset(src, np.full((1, *src.shape), 7.5, np.float32)), dst, method)
    np.testing.assert_allclose(out["2m_temperature"].values, 7.5, rtol=1e-6)


@pytest.mark.parametrize("method", ["conservative", "linear", "nearest"])
def test_identity_when_target_is_the_source(method):
    grid = Grid.from_bounds(-2, 10, -20, -5, 1.0)
    rng = np.random.default_rng(1)
    f = rng.standard_normal((3, *grid.shape)).astype(np.float32)
    f[:, 2, 3] = np.nan
    out = regrid(_dataset(grid, f), grid, method)["2m_temperature"].values
    np.testing.assert_allclose(out, f, rtol=1e-6, atol=1e-7)
    assert np.isnan(out[:, 2, 3]).all() and np.isfinite(np.delete(out.reshape(3, -1), 2 * 16 + 3, 1)).all()


def test_hand_worked_two_by_two_cells_into_one():
    src = Grid(lat=np.array([0.5, 1.5]), lon=np.array([0.5, 1.5, 2.5, 3.5]))
    dst = Grid(lat=np.array([1.0]), lon=np.array([1.0, 3.0]))  # one 2-degree cell over each 2x2
    f = np.array([[1.0, 2.0, 5.0, 5.0], [3.0, 4.0, np.nan, np.nan]], dtype=np.float32)
    out = regrid(_dataset(src, f), dst)["2m_temperature"].values
    w0 = np.sin(np.deg2rad(1.0)) - np.sin(0.0)       # area of the southern row
    w1 = np.sin(np.deg2rad(2.0)) - np.sin(np.deg2rad(1.0))
    assert out.shape == (1, 2)
    np.testing.assert_allclose(out[0, 0], (w0 * (1 + 2) + w1 * (3 + 4)) / (2 * (w0 + w1)), rtol=1e-6)
    assert out[0, 0] != pytest.approx(2.5, abs=1e-6)  # area weighting matters
    np.testing.assert_allclose(out[0, 1], 5.0, rtol=1e-6)  # only the valid half counts
    f[0, 0] = np.nan
    out = regrid(_dataset(src, f), dst)["2m_temperature"].values
    np.testing.assert_allclose(out[0, 0], (w0 * 2 + w1 * (3 + 4)) / (w0 + 2 * w1), rtol=1e-6)


def test_nan_mask_handling():
    src, dst = Grid.from_bounds(0.5, 7.5, 0.5, 7.5, 1.0), Grid.from_bounds(1.0, 7.0, 1.0, 7.0, 2.0)
    f = np.arange(64, dtype=np.float32).reshape(8, 8)
    f[0:2, 0:2] = np.nan   # a whole target cell
    f[2, 2] = np.nan       # a quarter of one
    out = regrid(_dataset(src, f), dst)["2m_temperature"].values
    assert np.isnan(out[0, 0])
    assert np.isnan(out).sum() == 1
    area = _cell_areas(src.lat)
    expected = (area[3] * (f[3, 2] + f[3, 3]) + area[2] * f[2, 3]) / (2 * area[3] + area[2])
    np.testing.assert_allclose(out[1, 1], expected, rtol=1e-6)
    # Linear: a NaN does not spread to the targets around it; the valid corners are
    # renormalised. Only a target exactly on a NaN point (or amid NaNs only) is NaN.
    lin = regrid(_dataset(src, f), Grid.from_bounds(0.5, 7.0, 0.5, 7.0, 0.5), "linear")["2m_temperature"]
    assert np.isnan(lin.sel(lat=2.5, lon=2.5)) and np.isnan(lin.sel(lat=1.0, lon=1.0))
    assert np.isnan(lin).sum() == 9 + 1  # the 3x3 targets inside the NaN block, and the NaN point
    np.testing.assert_allclose(lin.sel(lat=3.0, lon=3.0), (f[2, 3] + f[3, 2] + f[3, 3]) / 3, rtol=1e-6)
    np.testing.assert_allclose(lin.sel(lat=2.0, lon=2.0), (f[1, 2] + f[2, 1]) / 2, rtol=1e-6)


def test_periodic_wrap_across_the_dateline():
    src = Grid.global_grid(1.0)  # lon -180..179
    g = np.broadcast_to(np.cos(np.deg2rad(src.lon)) + src.lon / 360, src.shape).astype(np.float64)
    ds = _dataset(src, g.copy())
    f = dict(zip(src.lon, g[0]))
    out = regrid(ds, Grid.global_grid(2.0))["2m_temperature"]  # cell at -180 spans -181..-179
    expected = (f[-180] * 1.0 + f[-179] * 0.5 + f[179] * 0.5) / 2.0
    np.testing.assert_allclose(out.sel(lon=-180.0).values, expected, rtol=1e-12)
    # Bilinear between 179 and -180 (= 180), nearest picks the closer one.
    tgt = Grid(lat=np.array([0.0, 1.0]), lon=np.array([179.25, 179.75]))
    lin = regrid(ds, tgt, "linear")["2m_temperature"].values[0]
    np.testing.assert_allclose(lin, [0.75 * f[179] + 0.25 * f[-180], 0.25 * f[179] + 0.75 * f[-180]])
    near = regrid(ds, tgt, "nearest")["2m_temperature"].values[0]
    np.testing.assert_allclose(near, [f[179], f[-180]])


def test_regional_source_on_a_global_target_is_nan_outside():
    src = Grid.from_bounds(0.5, 9.5, 0.5, 9.5, 1.0)
    ds = _dataset(src, np.ones(src.shape, np.float32))
    for method in ("conservative", "linear", "nearest"):
        out = regrid(ds, Grid.global_grid(2.5), method)["2m_temperature"]
        assert out.sel(lat=5.0, lon=5.0) == pytest.approx(1.0)
        assert np.isnan(out.sel(lat=-45.0, lon=100.0))
        assert np.isnan(out.sel(lat=20.0, lon=5.0))
    with pytest.raises(SowcastError, match="does not overlap"):
        regrid(ds, Grid.from_bounds(30, 40, 30, 40, 1.0))


def test_bad_method_and_bad_source():
    grid = Grid.from_bounds(0, 4, 0, 4, 1.0)
    ds = _dataset(grid, np.zeros(grid.shape, np.float32))
    with pytest.raises(SowcastError, match="unknown regrid method 'cubic'") as exc:
        regrid(ds, grid, "cubic")
    assert "\n" not in str(exc.value)
    with pytest.raises(SowcastError, match="ascending"):
        regrid(ds.isel(lat=slice(None, None, -1)), grid)
    with pytest.raises(SowcastError, match="cell size"):
        regrid(ds, Grid(lat=np.array([1.0]), lon=np.array([1.0])))


def test_other_dims_attrs_masks_and_static_fields_are_kept():
    src, dst = Grid.from_bounds(0, 9, 0, 9, 1.0), Grid.from_bounds(0, 8, 0, 8, 2.0)
    rng = np.random.default_rng(2)
    t = rng.standard_normal((2, 2, 2, *src.shape)).astype(np.float32)
    valid = np.ones(src.shape, bool)
    valid[:5, :5] = False
    pr = np.where(valid, 3.0, -999.0)[None].repeat(2, 0).astype(np.float32)  # fill values must not leak
    ds = xr.Dataset(
        {"temperature": (("member", "time", "level", "lat", "lon"), t, {"units": "K"}),
         "total_precipitation": (("time", "lat", "lon"), pr,
                                 {"units": "mm", "ancillary_variables": "total_precipitation_valid"}),
         "total_precipitation_valid": (("lat", "lon"), valid),
         "orography": (("lat", "lon"), np.full(src.shape, 100.0, np.float32), {"units": "m"}),
         "index": (("time",), np.arange(2.0))},
        coords={"member": [0, 1], "time": pd.date_range("2000", periods=2, freq="D"),
                "level": [500, 850], "lat": src.lat, "lon": src.lon},
        attrs={"time_step": "P1D"},
    )
    out = regrid(ds, dst)
    assert out["temperature"].dims == ("member", "time", "level", "lat", "lon")
    assert out["temperature"].shape == (2, 2, 2, *dst.shape)
    assert out.attrs == ds.attrs and out["total_precipitation"].attrs == ds["total_precipitation"].attrs
    assert out["total_precipitation_valid"].dtype == bool
    assert out["total_precipitation"].where(out["total_precipitation_valid"]).max() == pytest.approx(3.0)
    assert (out["total_precipitation"].fillna(3.0) == 3.0).all()  # no -999 leaked anywhere
    np.testing.assert_allclose(out["orography"].values, 100.0)
    xr.testing.assert_identical(out["index"], ds["index"])
    np.testing.assert_array_equal(out["lat"].values, dst.lat)


def test_dask_input_stays_lazy_and_matches():
    src, dst = Grid.from_bounds(-10, 10, -10, 10, 0.5), Grid.from_bounds(-9, 9, -9, 9, 1.5)
    rng = np.random.default_rng(3)
    f = rng.standard_normal((6, *src.shape)).astype(np.float32)
    f[:, 5:9, 7] = np.nan
    ds = _dataset(src, f)
    for method in ("conservative", "linear", "nearest"):
        lazy = regrid(ds.chunk({"time": 2, "lat": 20}), dst, method)
        assert lazy["2m_temperature"].chunks is not None  # still a dask array
        assert lazy["2m_temperature"].data.numblocks[0] == 3
        xr.testing.assert_allclose(lazy.compute(), regrid(ds, dst, method))
