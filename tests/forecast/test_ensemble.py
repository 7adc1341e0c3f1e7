"""Initial ensembles: control member, reproducible smooth perturbations of the documented size, lagged starts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from forecast_helpers import options

from sowcast.bundle.reader import load_bundle
from sowcast.data.grid import Grid
from sowcast.errors import SowcastError
from sowcast.forecast.engine import run_forecast
from sowcast.forecast.ensemble import (
    Perturbation,
    PerturbationGenerator,
    nonnegative_channels,
    smoothing_matrix,
    start_ensemble,
)

GRID = Grid.from_bounds(-2, 24, -20, 16, 1.0)  # the demo's regional grid, 27 x 37


def test_smoothing_matrix_rows_have_unit_norm():
    for n, ls, periodic in ((27, 3.0, False), (37, 3.0, True), (5, 3.0, False), (1, 3.0, False)):
        a = smoothing_matrix(n, ls, periodic)
        np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-12)
        assert (a >= 0).all()
    np.testing.assert_array_equal(smoothing_matrix(9, 0.0), np.eye(9))
    # Periodic: every row is a shifted copy of the first (no edges on a circle).
    a = smoothing_matrix(40, 3.0, periodic=True)
    np.testing.assert_allclose(a[7], np.roll(a[0], 7), atol=1e-15)


def test_perturbations_reproducible_per_member():
    diff_std = np.array([1.0, 2.0, 0.5], np.float32)
    cfg = Perturbation(scale=0.5, length_scale=3.0, seed=7)
    g1, g2 = PerturbationGenerator(GRID, diff_std, cfg), PerturbationGenerator(GRID, diff_std, cfg)
    np.testing.assert_array_equal(g1(3), g2(3))            # same seed and member: same field
    assert not np.allclose(g1(3), g1(4))                   # another member: another field
    other = PerturbationGenerator(GRID, diff_std, Perturbation(0.5, 3.0, seed=8))
    assert not np.allclose(g1(3), other(3))                # another seed: another field
    assert g1(3).dtype == np.float32 and g1(3).shape == (3, *GRID.shape)


def _lag_correlation(x: np.ndarray, axis: int) -> float:
    a = np.moveaxis(x, axis, -1)
    return float(np.corrcoef(a[..., :-1].ravel(), a[..., 1:].ravel())[0, 1])


def test_perturbations_smooth_and_scaled_as_documented():
    diff_std = np.array([1.0, 4.0], np.float32)
    gen = PerturbationGenerator(GRID, diff_std, Perturbation(scale=0.5, length_scale=3.0, seed=0))
    fields = np.stack([gen(m) for m in range(1, 201)])     # [200, C, H, W]
    # scale x diff_std per channel, at every grid point (edges included).
    point_std = fields.std(axis=0)                         # [C, H, W]
    for c, s in enumerate(diff_std):
        np.testing.assert_allclose(point_std[c].mean(), 0.5 * s, rtol=0.03)
        assert 0.5 * s * 0.7 < point_std[c].min() and point_std[c].max() < 0.5 * s * 1.3
    # Gaussian-smoothed white noise of sigma = 3 cells: neighbour correlation exp(-1/36) = 0.97.
    unit = np.stack([gen.unit_noise(m) for m in range(1, 41)])
    for axis in (2, 3):
        assert _lag_correlation(unit, axis) == pytest.approx(np.exp(-1 / 36), abs=0.03)
    white = PerturbationGenerator(GRID, diff_std, Perturbation(scale=0.5, length_scale=0.0, seed=0))
    assert abs(_lag_correlation(np.stack([white.unit_noise(m) for m in range(40)]), 3)) < 0.05


def test_control_member_and_clipping():
    rng = np.random.default_rng(0)
    window = np.stack([rng.uniform(0, 0.1, (2, *GRID.shape)),            # rain-like, never negative
                       280 + rng.standard_normal((2, *GRID.shape))], axis=1).astype(np.float32)  # [T, C, H, W]
    stats = {"min": np.array([0.0, 250.0]), "diff_std": np.array([2.0, 1.0])}
    nonneg = nonnegative_channels(stats, 2)
    gen = PerturbationGenerator(GRID, stats["diff_std"], Perturbation())
    ens = start_ensemble(window, start=0, members=5, generator=gen, nonnegative=nonneg)
    assert ens.shape == (5, *window.shape)
    np.testing.assert_array_equal(ens[0], window)                       # member 0: the analysis
    for m in range(1, 5):
        assert not np.array_equal(ens[m], window)
        # The same delta at both input times (temperature: not clipped).
        np.testing.assert_allclose(ens[m, 0, 1] - window[0, 1], ens[m, 1, 1] - window[1, 1], atol=1e-4)
        assert (ens[m, :, 0] >= 0).all()                                 # rain kept >= 0
    np.testing.assert_allclose(ens[3, :, 1] - window[:, 1], np.broadcast_to(gen(3)[1], window[:, 1].shape), atol=1e-4)
    # A lagged start's first member is its control too; members are numbered per start.
    lagged = start_ensemble(window, start=1, members=5, generator=gen, nonnegative=nonneg)
    np.testing.assert_array_equal(lagged[0], window)
    np.testing.assert_allclose(lagged[2, :, 1] - window[:, 1], np.broadcast_to(gen(7)[1], window[:, 1].shape),
                               atol=1e-4)  # start 1, member 2 is global member 7


def test_variable_scale_sets_its_channels_alone():
    diff_std = np.array([1.0, 2.0, 0.5], np.float32)
    variables = ["2m_temperature", "total_precipitation", "geopotential"]
    cfg = Perturbation.from_config({"scale": 0.5, "seed": 3, "variable_scale": {"total_precipitation": 2.0}})
    base = PerturbationGenerator(GRID, diff_std, Perturbation(scale=0.5, seed=3))
    tuned = PerturbationGenerator(GRID, diff_std, cfg, variables)
    np.testing.assert_array_equal(tuned(4)[[0, 2]], base(4)[[0, 2]])          # other channels: unchanged
    np.testing.assert_allclose(tuned(4)[1], 4 * base(4)[1], rtol=1e-6)        # 2.0 in place of 0.5
    off = PerturbationGenerator(GRID, diff_std, Perturbation.from_config(
        {"scale": 0, "variable_scale": {"total_precipitation": 1.0}}), variables)
    assert off.config.active() and not off(4)[[0, 2]].any() and off(4)[1].any()
    assert Perturbation.from_config(cfg.as_config()) == cfg                   # recorded options read back


def test_relative_scale_keeps_dry_points_dry_and_the_mean():
    """``relative_scale``: x * exp(sigma z - sigma^2 / 2) on that variable alone, the default's
    additive rain (x 8 diff_std) left out; a point at 0 mm stays at 0 in every member."""
    variables = ["2m_temperature", "total_precipitation"]
    diff_std = np.array([1.0, 2.0])
    rain = np.where(np.arange(GRID.shape[1]) % 2 == 0, 0.0, 5.0)[None, :] * np.ones(GRID.shape)
    window = np.stack([np.stack([np.full(GRID.shape, 290.0), rain])] * 2).astype(np.float32)  # [T, C, H, W]
    cfg = Perturbation.from_config({"scale": 0.5, "seed": 2, "relative_scale": {"total_precipitation": 0.5}})
    gen = PerturbationGenerator(GRID, diff_std, cfg, variables)
    np.testing.assert_array_equal(gen.scales, [0.5, 0.0])        # rain: not additive (default's 8 dropped)
    np.testing.assert_array_equal(gen.sigmas, [0.0, 0.5])
    ens = start_ensemble(window, 0, 201, gen, np.array([False, True]))
    dry = rain == 0
    assert (ens[:, :, 1][..., dry] == 0).all()                     # dry stays dry in every member
    factor = ens[1:, 0, 1][:, ~dry] / 5.0
    np.testing.assert_allclose(ens[1:, 1, 1], ens[1:, 0, 1])       # the same factor at both input steps
    np.testing.assert_allclose(ens[4, 0, 1], rain * gen.factors(4)[1], rtol=1e-6)  # member 4's own draw
    # Mean-preserving log-normal: mean ~1 and log-spread ~sigma over 200 members.
    assert abs(factor.mean() - 1) < 0.05
    assert abs(np.log(factor).std(axis=0).mean() - 0.5) < 0.05
    # Temperature: perturbed additively as before.
    np.testing.assert_allclose(ens[3, 0, 0] - 290.0, gen(3)[0], atol=1e-4)
    assert Perturbation.from_config(cfg.as_config()) == cfg
    assert "relative_scale" not in Perturbation().as_config()      # earlier runs' fingerprints unchanged
    assert Perturbation.from_config({"scale": 0, "variable_scale": {}, "relative_scale": {"x": 0.3}}).active()
    with pytest.raises(SowcastError, match="relative_scale.total_precipitation must be >= 0"):
        Perturbation.from_config({"relative_scale": {"total_precipitation": -1}})


def test_bad_perturbation_config():
    with pytest.raises(SowcastError, match="scale must be >= 0"):
        Perturbation.from_config({"scale": -1})
    with pytest.raises(SowcastError, match="unknown option forecast.perturbation.sigma; known: scale,"):
        Perturbation.from_config({"sigma": 1})
    with pytest.raises(SowcastError, match="variable_scale.total_precipitation must be >= 0"):
        Perturbation.from_config({"variable_scale": {"total_precipitation": -2}})
    with pytest.raises(SowcastError, match="variable_scale must be"):
        Perturbation.from_config({"variable_scale": [1, 2]})

def test_variable_scale_of_a_variable_the_model_lacks_is_left_out_with_a_warning(capfd):
    cfg = Perturbation.from_config({"scale": 0.5, "variable_scale": {"rain": 2}})
    gen = PerturbationGenerator(GRID, np.ones(2), cfg, ["2m_temperature", "total_precipitation"])
    np.testing.assert_array_equal(gen.scales, [0.5, 0.5])
    assert "variable_scale names rain, which the model does not have" in capfd.readouterr().err


@pytest.fixture(scope="module")
def bundle(forecast_data):
    return load_bundle(forecast_data["bundle"])


def _open(path):
    return xr.open_dataset(path, engine="zarr", consolidated=False, chunks=None)


def test_engine_members_independent_of_ensemble_size_and_batch(forecast_data, bundle, tmp_path):
    store = forecast_data["store"]
    run_forecast(options(bundle, store, tmp_path / "m1.zarr", members=1, lead="4D"))
    run_forecast(options(bundle, store, tmp_path / "m4.zarr", members=4, lead="4D"))
    run_forecast(options(bundle, store, tmp_path / "m4b1.zarr", members=4, lead="4D", batch=1))
    with _open(tmp_path / "m1.zarr") as a, _open(tmp_path / "m4.zarr") as b, _open(tmp_path / "m4b1.zarr") as c:
        for name in b.data_vars:
            np.testing.assert_array_equal(a[name].values[0], b[name].values[0])   # the control
            np.testing.assert_allclose(b[name].values, c[name].values, rtol=1e-6)  # batching
            # Perturbed members differ from the control and from each other (rain: where it rains).
            spread = b[name].std("member").values
            assert (spread > 0).mean() > (0.5 if name == "total_precipitation" else 0.99), name
        assert (b["total_precipitation"].values >= 0).all()


def test_lagged_starts_align_in_valid_time(forecast_data, bundle, tmp_path):
    store = forecast_data["store"]
    run_forecast(options(bundle, store, tmp_path / "lagged.zarr", members=2, lead="3D",
                         lagged={"n": 1, "spacing": 2}))
    with _open(tmp_path / "lagged.zarr") as ds:
        init = pd.Timestamp(ds["init_time"].values)
        assert ds.sizes["member"] == 4
        np.testing.assert_array_equal(ds["start_time"].values,
                                      np.array([init, init, init - pd.Timedelta("2D"), init - pd.Timedelta("2D")],
                                               "datetime64[ns]"))
        lagged_control = ds.isel(member=2).load()
        control = ds.isel(member=0).load()
    # The lagged control is the control forecast from two days earlier, run two days longer.
    early = init - pd.Timedelta("2D")
    run_forecast(options(bundle, store, tmp_path / "early.zarr", members=1, lead="5D", init_time=str(early)))
    with _open(tmp_path / "early.zarr") as e:
        for name in control.data_vars:
            np.testing.assert_array_equal(lagged_control[name].values, e[name].values[0, 2:])
            assert not np.array_equal(lagged_control[name].values, control[name].values)


def test_engine_records_a_relative_rain_perturbation(forecast_data, bundle, tmp_path):
    """``relative_scale`` through the engine: recorded in the output, rain never negative, and
    the members part from the control."""
    pert = {"scale": 0.5, "variable_scale": {}, "relative_scale": {"total_precipitation": 0.5}}
    run_forecast(options(bundle, forecast_data["store"], tmp_path / "rel.zarr", members=3, lead="2D",
                         perturbation=pert))
    with _open(tmp_path / "rel.zarr") as ds:
        assert "total_precipitation x exp(0.5 noise - 0.5^2/2)" in ds.attrs["perturbation"]
        assert "total_precipitation x 8" not in ds.attrs["perturbation"]
        assert (ds["total_precipitation"].values >= 0).all()
        assert not np.array_equal(ds["2m_temperature"].values[0], ds["2m_temperature"].values[1])
