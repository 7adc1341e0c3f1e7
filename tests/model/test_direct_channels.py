"""Channels the model predicts directly (``model.direct``; GraphCast's target-only
precipitation, AIFS's diagnostic one) as an anomaly from the training years' seasonal cycle:
``x_t+1 = m(t+1) + std * out`` instead of ``x_t + diff_mean + diff_std * out``; ``m`` the
harmonic fit of :mod:`sowcast.data.seasonal_cycle` read at the year-progress forcings; the
loss in units of ``std`` there; a hyperparameter and buffer a checkpoint rebuilds; one-line
errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_forecaster import batch, make_model, random_graph, statistics

from sowcast.data.seasonal_cycle import fit_seasonal_cycle, harmonic_terms
from sowcast.errors import SowcastError
from sowcast.model.forecaster import Forecaster, listed_channels
from sowcast.model.normalization import Normalization
from sowcast.train.losses import AreaWeightedMSE

H, W, K = 5, 7, 3


@pytest.fixture(scope="module")
def graph():
    return random_graph(H, W)


def _cycle(seed=0):
    cycle = np.zeros((3, 2 * K + 1, H, W), np.float32)
    cycle[2] = np.random.default_rng(seed).normal(size=(2 * K + 1, H, W))
    return cycle


def _direct_model(graph, seed=3, **kw):
    return make_model(graph, seed=seed, direct=[2], year_forcings=[0, 1], seasonal_cycle=_cycle(), **kw)


def test_harmonic_terms_are_the_multiple_angles():
    theta = np.linspace(0, 2 * np.pi, 13)
    terms = harmonic_terms(np.cos(theta), np.sin(theta), 3)
    want = [np.ones_like(theta)] + [f(k * theta) for k in (1, 2, 3) for f in (np.cos, np.sin)]
    np.testing.assert_allclose(np.stack(terms), np.stack(want), atol=1e-12)


def test_direct_channel_is_season_plus_std_times_output_others_increment():
    norm = Normalization(3, 0, 0, statistics(), None, None, direct=[2], seasonal_cycle=_cycle(), grid_shape=(H, W))
    plain = Normalization(3, 0, 0, statistics(), None, None)
    s = statistics()
    theta = torch.tensor([0.3, 2.0, 4.0, 5.5])
    season = norm.season(torch.cos(theta), torch.sin(theta))
    phi = torch.stack(harmonic_terms(torch.cos(theta), torch.sin(theta), K), -1)
    torch.testing.assert_close(season[:, 2], torch.einsum("bk,khw->bhw", phi, torch.as_tensor(_cycle()[2])))
    last, out = torch.randn(4, 3, H, W) * 10, torch.randn(4, 3, H, W)
    following = norm.apply_increment(last, out, season)
    torch.testing.assert_close(following[:, 2], season[:, 2] + float(s["std"][2]) * out[:, 2], rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(following[:, :2], plain.apply_increment(last, out)[:, :2], rtol=0, atol=0)
    other = last.clone()
    other[:, 2] += 100.0                                        # the last state does not enter
    torch.testing.assert_close(norm.apply_increment(other, out, season)[:, 2], following[:, 2], rtol=0, atol=0)
    torch.testing.assert_close(norm.increment_target(last, following, season), out, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(norm.error_scale().numpy(), [s["diff_std"][0], s["diff_std"][1], s["std"][2]], rtol=1e-6)
    assert "seasonal_cycle" not in norm.arrays()                 # the manifest's [C] statistics only


def test_forecaster_reads_the_season_at_the_next_state(graph):
    model = _direct_model(graph).eval()
    inputs, forcings, static = batch(model, 2)
    theta = torch.tensor([1.0, 4.0])
    forcings[:, :, 0], forcings[:, :, 1] = torch.cos(theta).view(2, 1, 1, 1), torch.sin(theta).view(2, 1, 1, 1)
    moved = inputs.clone()
    moved[:, -1, 2] += 5.0                     # only the last state of the direct channel differs
    shifted = forcings.clone()
    shifted[:, -1, 0], shifted[:, -1, 1] = torch.cos(theta + 1).view(2, 1, 1), torch.sin(theta + 1).view(2, 1, 1)
    with torch.no_grad():
        a, b = model(inputs, forcings, static), model(moved, forcings, static)
        c = model(inputs, shifted, static)
    assert float((b[:, 2] - a[:, 2]).abs().mean()) < 2.5            # no + x_t: a residual channel moves by 5
    norm = model.normalization
    season_shift = (norm.season(torch.cos(theta + 1), torch.sin(theta + 1))
                    - norm.season(torch.cos(theta), torch.sin(theta)))[:, 2]
    # the next state's season moves the direct channel by the cycle's change (plus what the
    # network makes of the new forcing), and leaves the residual channels' anchor alone
    assert float(torch.corrcoef(torch.stack([(c - a)[:, 2].flatten(), season_shift.flatten()]))[0, 1]) > 0.9


def test_loss_scales_direct_channel_by_its_std(graph):
    model = _direct_model(graph)
    s = statistics()

    class Source:  # what AreaWeightedLoss.from_source reads of a window source
        statistics = s
        channels = ["a", "b", "total_precipitation"]

        class grid:
            lat = np.zeros(H)

    loss = AreaWeightedMSE.from_source(Source, model=model)
    np.testing.assert_allclose(loss.inv_scale.numpy(), 1.0 / np.array([s["diff_std"][0], s["diff_std"][1], s["std"][2]]),
                               rtol=1e-6)
    plain = AreaWeightedMSE.from_source(Source, model=make_model(graph))
    np.testing.assert_allclose(plain.inv_scale.numpy(), 1.0 / np.asarray(s["diff_std"]), rtol=1e-6)


def test_direct_is_a_hyperparameter_the_cycle_a_buffer_and_errors_are_one_line(graph):
    model = _direct_model(graph, nonnegative=[2])
    hyper = model.hyperparameters()
    assert hyper["direct"] == [2] and hyper["year_forcings"] == [0, 1]
    assert "direct" not in make_model(graph).hyperparameters()
    assert "normalization.seasonal_cycle" in model.state_dict()
    again = Forecaster.from_checkpoint(graph, hyper, model.state_dict())
    x = batch(model, 2)
    with torch.no_grad():
        torch.testing.assert_close(again.eval()(*x), model.eval()(*x), rtol=0, atol=0)
    channels = ["2m_temperature", "total_precipitation"]
    assert listed_channels(channels, ["total_precipitation"], "model.direct") == [1]
    with pytest.raises(SowcastError, match="model.direct names 'rain', which is not a channel"):
        listed_channels(channels, ["rain"], "model.direct")
    with pytest.raises(SowcastError, match="model.direct must be a list of variable names"):
        listed_channels(channels, "total_precipitation", "model.direct")
    with pytest.raises(SowcastError, match="direct channels"):
        make_model(graph, direct=[7], year_forcings=[0, 1])
    with pytest.raises(SowcastError, match="model.direct needs the cos_year_progress and sin_year_progress"):
        make_model(graph, direct=[2])
    with pytest.raises(SowcastError, match="seasonal cycle has shape"):
        make_model(graph, direct=[2], year_forcings=[0, 1], seasonal_cycle=np.zeros((3, 7, 2, 2)))


def test_fit_recovers_a_known_cycle_on_a_real_store(tmp_path):
    """The fit over a window source of a real zarr store whose rain is set to a known cycle."""
    import xarray as xr

    from sowcast.data.forcings import year_progress
    from sowcast.data.testing import make_canonical_store
    from sowcast.data.windows import WindowSource

    store = make_canonical_store(tmp_path / "s.zarr", n_times=800, grid=(4, 5), levels=(500,), seed=0)
    ds = xr.open_zarr(store, consolidated=False).load()
    theta = 2 * np.pi * year_progress(ds["time"].values)
    truth = np.stack([np.full((4, 5), 3.0), np.full((4, 5), 2.0), np.zeros((4, 5)), np.zeros((4, 5)),
                      np.full((4, 5), -1.0), np.zeros((4, 5)), np.full((4, 5), 0.5)])
    phi = np.stack(harmonic_terms(np.cos(theta), np.sin(theta), K), -1)
    ds["total_precipitation"].values[:] = np.einsum("tk,khw->thw", phi, truth)
    ds.drop_vars([v for v in ds.data_vars if v != "total_precipitation"]).to_zarr(store, mode="a", consolidated=False)
    source = WindowSource(store)
    rain = list(source.channels).index("total_precipitation")
    cycle = fit_seasonal_cycle(source, [rain])
    np.testing.assert_allclose(cycle[rain], truth, atol=1e-4)
    assert not cycle[[c for c in range(len(source.channels)) if c != rain]].any()


def test_fit_over_less_than_a_year_is_the_mean(tmp_path):
    from sowcast.data.testing import make_canonical_store
    from sowcast.data.windows import WindowSource

    store = make_canonical_store(tmp_path / "s.zarr", n_times=40, grid=(4, 5), levels=(500,), seed=0)
    source = WindowSource(store)
    rain = list(source.channels).index("total_precipitation")
    cycle = fit_seasonal_cycle(source, [rain])
    states = source._read_states(source._first - source.n_input_steps + 1,
                                 source._first + source._count + source.n_target_steps)[:, rain]
    np.testing.assert_allclose(cycle[rain, 0], states.mean(0), rtol=1e-5, atol=1e-5)
    assert not cycle[rain, 1:].any()


def test_more_harmonics_follow_a_sharper_season_and_a_checkpoint_keeps_them(tmp_path):
    """``model.direct_harmonics: 6``: a cycle with a 5th harmonic (a season sharper than 3
    harmonics can draw, as the monsoon jump) is recovered by the fit on a real store that
    ``build_forecaster`` makes, and missed at 3; the count is a hyperparameter only when it is
    not the default, a checkpoint rebuilds the model; one-line errors."""
    import xarray as xr
    import yaml
    from test_forecaster import ROOT

    from sowcast.data.forcings import year_progress
    from sowcast.data.testing import make_canonical_store
    from sowcast.data.windows import WindowSource
    from sowcast.model.forecaster import build_forecaster

    store = make_canonical_store(tmp_path / "s.zarr", n_times=800, grid=(4, 5), levels=(500,), seed=0)
    ds = xr.open_zarr(store, consolidated=False).load()
    theta = 2 * np.pi * year_progress(ds["time"].values)
    truth = np.zeros((13, 4, 5))
    truth[0], truth[1], truth[9] = 3.0, 2.0, -1.5                 # mean, cos θ, cos 5θ
    phi = np.stack(harmonic_terms(np.cos(theta), np.sin(theta), 6), -1)
    ds["total_precipitation"].values[:] = np.einsum("tk,khw->thw", phi, truth)
    ds.drop_vars([v for v in ds.data_vars if v != "total_precipitation"]).to_zarr(store, mode="a", consolidated=False)
    source = WindowSource(store)
    rain = list(source.channels).index("total_precipitation")
    np.testing.assert_allclose(fit_seasonal_cycle(source, [rain], harmonics=6)[rain], truth, atol=1e-4)
    fit3 = np.einsum("tk,khw->thw", phi[:, :7], fit_seasonal_cycle(source, [rain])[rain])
    assert np.abs(fit3 - ds["total_precipitation"].values).max() > 1.0          # 3 harmonics miss the 5θ term

    cfg = yaml.safe_load((ROOT / "conf" / "model" / "tiny.yaml").read_text())
    assert cfg["direct_harmonics"] == 3
    g = random_graph(4, 5)
    cfg = {k: v for k, v in cfg.items() if k != "mesh_level"} | {"direct": ["total_precipitation"]}
    six = build_forecaster(cfg | {"direct_harmonics": 6}, g, source)
    assert six.hyperparameters()["direct_harmonics"] == 6
    assert tuple(six.normalization.seasonal_cycle.shape) == (len(source.channels), 13, 4, 5)
    np.testing.assert_allclose(six.normalization.seasonal_cycle[rain].numpy(), truth, atol=1e-4)
    three = build_forecaster(cfg, g, source)
    assert "direct_harmonics" not in three.hyperparameters()
    assert tuple(three.normalization.seasonal_cycle.shape[1:2]) == (7,)
    t = torch.tensor([0.1, 0.45, 0.8]) * 2 * np.pi
    season = six.normalization.season(torch.cos(t), torch.sin(t))[:, rain]
    want = 3.0 + 2.0 * torch.cos(t) - 1.5 * torch.cos(5 * t)
    torch.testing.assert_close(season, want[:, None, None].expand(3, 4, 5), rtol=0, atol=1e-3)
    again = Forecaster.from_checkpoint(g, six.hyperparameters(), six.state_dict())
    torch.testing.assert_close(again.normalization.season(torch.cos(t), torch.sin(t)),
                               six.normalization.season(torch.cos(t), torch.sin(t)), rtol=0, atol=0)
    for bad in (0, 13, 2.5, "six"):
        with pytest.raises(SowcastError, match="model.direct_harmonics must be a whole number from 1 to 12, not"):
            build_forecaster(cfg | {"direct_harmonics": bad}, g, source)
