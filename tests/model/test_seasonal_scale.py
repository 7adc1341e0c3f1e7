"""Direct channels in units of their seasonal standard deviation (``model.direct_scale_floor``):
``x_t+1 = m(t+1) + s(t+1) * out`` with ``s = sqrt(max(v(t+1), (f * std)**2))``, ``v`` the
harmonic fit of the squared anomaly over the training range of a real zarr store; the loss
keeps the unit ``std``; a hyperparameter and buffer a checkpoint rebuilds; one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_direct_channels import H, K, W, _cycle, _direct_model, batch, random_graph, statistics

from sowcast.data.seasonal_cycle import fit_seasonal_cycle, fit_seasonal_variance, harmonic_terms
from sowcast.errors import SowcastError
from sowcast.model.forecaster import Forecaster
from sowcast.model.normalization import POWER_OF_MEAN, Normalization
from sowcast.train.losses import AreaWeightedMSE

FLOOR = 0.1


@pytest.fixture(scope="module")
def graph():
    return random_graph(H, W)


def _variance(seed=1):
    """A variance fit that dips below the floor over part of the year at every point."""
    var = np.zeros((3, 2 * K + 1, H, W), np.float32)
    var[2, 0] = np.random.default_rng(seed).uniform(1.0, 4.0, size=(H, W))
    var[2, 1] = var[2, 0] + 0.5                     # below 0 around theta = pi
    return var


def test_direct_channel_is_season_plus_floored_seasonal_std_times_output():
    s = statistics()
    norm = Normalization(3, 0, 0, s, None, None, direct=[2], seasonal_cycle=_cycle(), grid_shape=(H, W),
                         seasonal_variance=_variance(), scale_floor=FLOOR)
    plain = Normalization(3, 0, 0, s, None, None, direct=[2], seasonal_cycle=_cycle(), grid_shape=(H, W))
    theta = torch.tensor([0.3, 2.0, 3.1, 5.5])
    cos1, sin1 = torch.cos(theta), torch.sin(theta)
    phi = torch.stack(harmonic_terms(cos1, sin1, K), -1)
    v = torch.einsum("bk,khw->bhw", phi, torch.as_tensor(_variance()[2]))
    floor = FLOOR * float(s["std"][2])
    want = torch.sqrt(torch.clamp(v, min=floor ** 2))
    scale = norm.season_scale(cos1, sin1)
    torch.testing.assert_close(scale[:, 2], want)
    assert bool((v < floor ** 2).any()) and bool((scale[:, 2] >= floor * (1 - 1e-6)).all())
    season = norm.season(cos1, sin1)
    last, out = torch.randn(4, 3, H, W) * 10, torch.randn(4, 3, H, W)
    following = norm.apply_increment(last, out, season, scale)
    torch.testing.assert_close(following[:, 2], season[:, 2] + want * out[:, 2], rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(following[:, :2], plain.apply_increment(last, out, season)[:, :2], rtol=0, atol=0)
    torch.testing.assert_close(norm.increment_target(last, following, season, scale), out, rtol=1e-4, atol=1e-4)
    assert plain.season_scale(cos1, sin1) is None                       # no floor: one std, as before
    np.testing.assert_allclose(norm.error_scale().numpy(), plain.error_scale().numpy())   # the loss's unit


def test_fit_recovers_a_known_seasonal_variance_on_a_real_store(tmp_path):
    """Rain set to ``m(t) + sqrt(v(t)) * e(t)``, ``e`` = +1, -1, +1, ...: the squared anomaly is
    ``v(t)`` wherever the mean's fit is ``m`` (to the small leak of ``e`` into the harmonics)."""
    import xarray as xr

    from sowcast.data.forcings import year_progress
    from sowcast.data.testing import make_canonical_store
    from sowcast.data.windows import WindowSource

    store = make_canonical_store(tmp_path / "s.zarr", n_times=1460, grid=(4, 5), levels=(500,), seed=0)
    ds = xr.open_zarr(store, consolidated=False).load()
    theta = 2 * np.pi * year_progress(ds["time"].values)
    phi = np.stack(harmonic_terms(np.cos(theta), np.sin(theta), K), -1)
    mean = np.zeros((2 * K + 1, 4, 5))
    mean[0], mean[2] = 3.0, -1.5
    var = np.zeros((2 * K + 1, 4, 5))
    var[0], var[1], var[4] = 4.0, 2.0, np.linspace(-1, 1, 20).reshape(4, 5)
    sign = np.where(np.arange(theta.size) % 2 == 0, 1.0, -1.0)[:, None, None]
    ds["total_precipitation"].values[:] = (np.einsum("tk,khw->thw", phi, mean)
                                           + np.sqrt(np.einsum("tk,khw->thw", phi, var)) * sign)
    ds.drop_vars([v for v in ds.data_vars if v != "total_precipitation"]).to_zarr(store, mode="a", consolidated=False)
    source = WindowSource(store)
    rain = list(source.channels).index("total_precipitation")
    cycle = fit_seasonal_cycle(source, [rain])
    np.testing.assert_allclose(cycle[rain], mean, atol=0.02)
    fitted = fit_seasonal_variance(source, [rain], cycle)
    np.testing.assert_allclose(fitted[rain], var, atol=0.05)
    assert not fitted[[c for c in range(len(source.channels)) if c != rain]].any()


def test_scale_floor_is_a_hyperparameter_the_variance_a_buffer_and_errors_are_one_line(graph):
    model = _direct_model(graph, direct_scale_floor=FLOOR, seasonal_variance=_variance()).eval()
    hyper = model.hyperparameters()
    assert hyper["direct_scale_floor"] == FLOOR
    assert "normalization.seasonal_variance" in model.state_dict()
    assert "direct_scale_floor" not in _direct_model(graph).hyperparameters()
    again = Forecaster.from_checkpoint(graph, hyper, model.state_dict()).eval()
    x = batch(model, 2)
    with torch.no_grad():
        torch.testing.assert_close(again(*x), model(*x), rtol=0, atol=0)
        unscaled = _direct_model(graph).eval()(*x)                     # same weights (seed), one std
        assert not torch.equal(model(*x)[:, 2], unscaled[:, 2])
        torch.testing.assert_close(model(*x)[:, :2], unscaled[:, :2], rtol=0, atol=0)
    for floor in (0.0, 1.5, -0.1):
        with pytest.raises(SowcastError, match=r"model.direct_scale_floor must lie in \(0, 1\]"):
            _direct_model(graph, direct_scale_floor=floor)
    with pytest.raises(SowcastError, match="seasonal variance has shape"):
        _direct_model(graph, direct_scale_floor=FLOOR, seasonal_variance=np.zeros((3, 7, 2, 2)))


def test_loss_unit_stays_the_std(graph):
    s = statistics()

    class Source:  # what AreaWeightedLoss.from_source reads of a window source
        statistics = s
        channels = ["a", "b", "total_precipitation"]

        class grid:
            lat = np.zeros(H)

    scaled = _direct_model(graph, direct_scale_floor=FLOOR, seasonal_variance=_variance())
    loss = AreaWeightedMSE.from_source(Source, model=scaled)
    np.testing.assert_allclose(loss.inv_scale.numpy(), 1.0 / np.array([s["diff_std"][0], s["diff_std"][1], s["std"][2]]),
                               rtol=1e-6)


def test_power_channel_is_the_power_of_season_plus_scale_times_output():
    """``model.direct_power = 1/2``: ``x = g(m + s * out)``, ``g(y) = y |y|``, the floor
    ``f * std**p``; the target the inverse; other channels untouched."""
    s = statistics()
    norm = Normalization(3, 0, 0, s, None, None, direct=[2], seasonal_cycle=_cycle(), grid_shape=(H, W),
                         seasonal_variance=_variance(), scale_floor=FLOOR, power=0.5)
    linear = Normalization(3, 0, 0, s, None, None, direct=[2], seasonal_cycle=_cycle(), grid_shape=(H, W),
                           seasonal_variance=_variance(), scale_floor=FLOOR)
    theta = torch.tensor([0.3, 2.0, 3.1, 5.5])
    cos1, sin1 = torch.cos(theta), torch.sin(theta)
    phi = torch.stack(harmonic_terms(cos1, sin1, K), -1)
    v = torch.einsum("bk,khw->bhw", phi, torch.as_tensor(_variance()[2]))
    floor = FLOOR * float(s["std"][2]) ** 0.5
    scale = norm.season_scale(cos1, sin1)
    torch.testing.assert_close(scale[:, 2], torch.sqrt(torch.clamp(v, min=floor ** 2)))
    season = norm.season(cos1, sin1)
    last, out = torch.randn(4, 3, H, W) * 10, torch.randn(4, 3, H, W)
    following = norm.apply_increment(last, out, season, scale)
    y = season[:, 2] + scale[:, 2] * out[:, 2]
    torch.testing.assert_close(following[:, 2], y * y.abs(), rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(following[:, :2], linear.apply_increment(last, out, season, scale)[:, :2], rtol=0, atol=0)
    torch.testing.assert_close(norm.increment_target(last, following, season, scale), out, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(norm.error_scale().numpy(), linear.error_scale().numpy())   # the loss stays in mm


def test_power_is_a_hyperparameter_and_needs_a_seasonal_scale(graph):
    model = _direct_model(graph, direct_scale_floor=FLOOR, seasonal_variance=_variance(), direct_power=0.5).eval()
    assert model.hyperparameters()["direct_power"] == 0.5
    again = Forecaster.from_checkpoint(graph, model.hyperparameters(), model.state_dict()).eval()
    x = batch(model, 2)
    with torch.no_grad():
        torch.testing.assert_close(again(*x), model(*x), rtol=0, atol=0)
    with pytest.raises(SowcastError, match="model.direct_power needs model.direct and model.direct_scale_floor"):
        _direct_model(graph, direct_power=0.5)
    for power in (0.0, 2.0):
        with pytest.raises(SowcastError, match=r"model.direct_power must lie in \(0, 1\]"):
            _direct_model(graph, direct_scale_floor=FLOOR, direct_power=power)
    with pytest.raises(SowcastError, match="cannot both transform a channel"):
        _direct_model(graph, direct_scale_floor=FLOOR, direct_power=0.5, log_offsets=[0.0, 0.0, 1.0])


def test_fit_of_the_square_root_on_a_real_store(tmp_path):
    """The cycle and variance of ``sqrt(x)`` (``power=0.5``), not of ``x``."""
    import xarray as xr

    from sowcast.data.testing import make_canonical_store
    from sowcast.data.windows import WindowSource

    store = make_canonical_store(tmp_path / "s.zarr", n_times=400, grid=(4, 5), levels=(500,), seed=0)
    ds = xr.open_zarr(store, consolidated=False).load()
    values = np.random.default_rng(0).gamma(0.5, 8.0, size=ds["total_precipitation"].shape)
    ds["total_precipitation"].values[:] = values
    ds.drop_vars([v for v in ds.data_vars if v != "total_precipitation"]).to_zarr(store, mode="a", consolidated=False)
    source = WindowSource(store)
    rain = list(source.channels).index("total_precipitation")
    lo, hi = source._first - source.n_input_steps + 1, source._first + source._count + source.n_target_steps
    root = np.sqrt(source._read_states(lo, hi)[:, rain].astype(np.float64))
    cycle = fit_seasonal_cycle(source, [rain], power=0.5)
    fitted = fit_seasonal_variance(source, [rain], cycle, power=0.5)
    # over a year the harmonics are near-orthogonal: the constant terms are the mean and variance
    np.testing.assert_allclose(cycle[rain, 0], root.mean(0), atol=0.1)
    np.testing.assert_allclose(fitted[rain, 0], root.var(0), rtol=0.1)
    assert float(cycle[rain, 0].mean()) < 0.6 * float(fit_seasonal_cycle(source, [rain])[rain, 0].mean())


def test_power_of_mean_centre_gives_the_mean_at_the_centre(graph):
    """``model.direct_power_centre: power_of_mean``: ``m = sign(c) |c|**p`` of the cycle ``c``
    (fitted to ``x``), so a member at ``out = 0`` gives ``c``, the mean, not ``(mean of y)**(1/p)``;
    other channels untouched; a hyperparameter a checkpoint rebuilds; one-line errors."""
    s = statistics()
    kw = dict(direct=[2], seasonal_cycle=_cycle(), grid_shape=(H, W), seasonal_variance=_variance(),
              scale_floor=FLOOR, power=0.5)
    norm = Normalization(3, 0, 0, s, None, None, power_centre=POWER_OF_MEAN, **kw)
    plain = Normalization(3, 0, 0, s, None, None, **kw)
    theta = torch.tensor([0.3, 2.0, 3.1, 5.5])
    cos1, sin1 = torch.cos(theta), torch.sin(theta)
    c = plain.season(cos1, sin1)
    season = norm.season(cos1, sin1)
    torch.testing.assert_close(season[:, 2], torch.sign(c[:, 2]) * c[:, 2].abs().sqrt())
    torch.testing.assert_close(season[:, :2], c[:, :2], rtol=0, atol=0)
    centre = norm.apply_increment(torch.zeros(4, 3, H, W), torch.zeros(4, 3, H, W), season,
                                  norm.season_scale(cos1, sin1))
    torch.testing.assert_close(centre[:, 2], c[:, 2], rtol=1e-5, atol=1e-5)

    model = _direct_model(graph, direct_scale_floor=FLOOR, seasonal_variance=_variance(), direct_power=0.5,
                          direct_power_centre="power_of_mean").eval()
    assert model.hyperparameters()["direct_power_centre"] == "power_of_mean"
    assert "direct_power_centre" not in _direct_model(graph, direct_scale_floor=FLOOR, seasonal_variance=_variance(),
                                                      direct_power=0.5, direct_power_centre="mean_of_power"
                                                      ).hyperparameters()
    again = Forecaster.from_checkpoint(graph, model.hyperparameters(), model.state_dict()).eval()
    x = batch(model, 2)
    with torch.no_grad():
        torch.testing.assert_close(again(*x), model(*x), rtol=0, atol=0)
    with pytest.raises(SowcastError, match="model.direct_power_centre must be one of mean_of_power, power_of_mean"):
        _direct_model(graph, direct_scale_floor=FLOOR, direct_power=0.5, direct_power_centre="median")
    with pytest.raises(SowcastError, match="model.direct_power_centre power_of_mean needs model.direct_power"):
        _direct_model(graph, direct_scale_floor=FLOOR, direct_power_centre="power_of_mean")


def test_fit_of_the_power_of_mean_centre_on_a_real_store(tmp_path):
    """With the centre ``sqrt`` of the mean (``centre_power=0.5`` on a cycle of ``x``) the
    variance is the mean square of ``sqrt(x) - sqrt(mean x)``: the variance of ``sqrt(x)`` plus
    the square of its Jensen gap."""
    import xarray as xr

    from sowcast.data.testing import make_canonical_store
    from sowcast.data.windows import WindowSource

    store = make_canonical_store(tmp_path / "s.zarr", n_times=400, grid=(4, 5), levels=(500,), seed=0)
    ds = xr.open_zarr(store, consolidated=False).load()
    ds["total_precipitation"].values[:] = np.random.default_rng(0).gamma(0.5, 8.0, size=ds["total_precipitation"].shape)
    ds.drop_vars([v for v in ds.data_vars if v != "total_precipitation"]).to_zarr(store, mode="a", consolidated=False)
    source = WindowSource(store)
    rain = list(source.channels).index("total_precipitation")
    lo, hi = source._first - source.n_input_steps + 1, source._first + source._count + source.n_target_steps
    x = source._read_states(lo, hi)[:, rain].astype(np.float64)
    cycle = fit_seasonal_cycle(source, [rain])                       # of x
    fitted = fit_seasonal_variance(source, [rain], cycle, power=0.5, centre_power=0.5)
    np.testing.assert_allclose(cycle[rain, 0], x.mean(0), rtol=0.1)
    want = ((np.sqrt(x) - np.sqrt(x.mean(0))) ** 2).mean(0)
    np.testing.assert_allclose(fitted[rain, 0], want, rtol=0.1)
    assert (fitted[rain, 0] > np.sqrt(x).var(0)).all()
