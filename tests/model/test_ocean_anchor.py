"""The direct channels' centre moved by an ocean index (``model.direct_ocean_index``,
:mod:`sowcast.data.ocean_anchor`): ``m(t+1) + I(t) m_ocean(t+1)`` with ``I`` the box mean of a
channel of the last input state less its seasonal fit. The box weights, the choice of the
channel (auto and explicit, one-line errors), the joint fit recovering a designed dependence on
a real zarr store, the model's centre moving by exactly ``I m_ocean``, and a checkpoint
rebuilding it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_forecaster import batch, make_model, random_graph, statistics

from sowcast.data.ocean_anchor import ATL3_BOX, box_weights, fit_index, resolve_anchor
from sowcast.data.seasonal_cycle import fit_seasonal_cycle, harmonic_terms
from sowcast.errors import SowcastError
from sowcast.model.forecaster import Forecaster
from sowcast.model.normalization import Normalization

H, W, K = 5, 7, 3


def test_box_weights_are_cos_latitude_inside_the_box_and_sum_to_one():
    lat, lon = np.array([-4.0, -2.0, 0.0, 2.0, 4.0]), np.array([-25.0, -15.0, -5.0, 5.0])
    w = box_weights(lat, lon, ATL3_BOX)
    assert w.shape == (5, 4) and abs(float(w.sum()) - 1.0) < 1e-6
    assert not w[[0, 4]].any() and not w[:, [0, 3]].any()               # outside 3 S-3 N, 20 W-0
    np.testing.assert_allclose(w[1, 1] / w[2, 1], np.cos(np.deg2rad(2.0)), rtol=1e-6)
    with pytest.raises(SowcastError, match=r"box \[10.0, 20.0, -20.0, 0.0\] holds no grid point"):
        box_weights(lat, lon, (10.0, 20.0, -20.0, 0.0))
    sea = np.ones((5, 4), bool)
    sea[1, :] = False                                                    # 2 S is land: ingest's fill there
    w = box_weights(lat, lon, ATL3_BOX, valid=sea)
    assert not w[1].any() and abs(float(w.sum()) - 1.0) < 1e-6 and w[2, 1] > 0
    with pytest.raises(SowcastError, match="holds no grid point where the variable has data"):
        box_weights(lat, lon, ATL3_BOX, valid=np.zeros((5, 4), bool))


def test_auto_takes_the_ocean_index_then_the_sst_and_explicit_names_must_exist():
    lat, lon = np.arange(-5.0, 6.0), np.arange(-20.0, 1.0)
    channels = ["total_precipitation", "sea_surface_temperature", "ocean_index"]
    anchor, note = resolve_anchor({"variable": "auto"}, channels, lat, lon)
    assert anchor.channel == 2 and note.startswith("ocean_index over")
    anchor, _ = resolve_anchor({"variable": "auto"}, channels[:2], lat, lon)
    assert anchor.channel == 1 and anchor.box == ATL3_BOX
    assert resolve_anchor(None, channels, lat, lon) == (None, "off")
    none, note = resolve_anchor({"variable": "auto"}, channels[:1], lat, lon)
    assert none is None and note == "not applied: no ocean_index or sea_surface_temperature channel"
    land = np.ones((3, len(lat), len(lon)), bool)
    land[2] = False                                                      # the index has no data anywhere
    none, note = resolve_anchor({"variable": "auto"}, channels, lat, lon, valid=land)
    assert none is None and "where the variable has data" in note
    none, note = resolve_anchor({"variable": "auto"}, channels, lat + 30, lon)
    assert none is None and note.startswith("not applied:") and "holds no grid point" in note
    anchor, _ = resolve_anchor({"variable": "total_precipitation", "box": [0, 2, -3, 0]}, channels, lat, lon)
    assert anchor.channel == 0 and anchor.hyperparameter() == {"channel": 0, "box": [0.0, 2.0, -3.0, 0.0]}
    with pytest.raises(SowcastError, match="variable 'sst' is not a channel of the store"):
        resolve_anchor({"variable": "sst"}, channels, lat, lon)
    with pytest.raises(SowcastError, match="holds no grid point"):
        resolve_anchor({"variable": "ocean_index"}, channels, lat + 30, lon)
    with pytest.raises(SowcastError, match=r"box must be \[lat_min, lat_max, lon_min, lon_max\]"):
        resolve_anchor({"box": [3, -3, 0, 1]}, channels, lat, lon)
    with pytest.raises(SowcastError, match="unknown key"):
        resolve_anchor({"varible": "ocean_index"}, channels, lat, lon)


def _phi(theta: np.ndarray) -> np.ndarray:
    return np.stack(harmonic_terms(np.cos(theta), np.sin(theta), K), -1)


def test_joint_fit_recovers_a_designed_ocean_dependence_on_a_real_store(tmp_path):
    """Rain ``= a.phi(t) + I(t) b.phi(t)`` with ``I(t) = B(x_{t-1}) - c.phi(t)``, the box mean of
    the day before of a slow "ocean" channel (here 2 m temperature): the fit returns a, b and c."""
    import xarray as xr

    from sowcast.data.forcings import year_progress
    from sowcast.data.testing import make_canonical_store
    from sowcast.data.windows import WindowSource

    store = make_canonical_store(tmp_path / "s.zarr", n_times=900, grid=(4, 5), levels=(500,), seed=0)
    ds = xr.open_zarr(store, consolidated=False).load()
    n = ds.sizes["time"]
    phi = _phi(2 * np.pi * year_progress(ds["time"].values))
    rng = np.random.default_rng(1)
    slow = np.zeros(n)
    for t in range(1, n):                               # an AR(1) ocean anomaly, tau 60 days
        slow[t] = np.exp(-1 / 60) * slow[t - 1] + 0.02 * rng.standard_normal()
    c = np.array([300.0, 1.5, -0.5, 0, 0, 0, 0])
    ocean = phi @ c + slow                                # the same everywhere: the box mean is it
    ds["2m_temperature"].values[:] = ocean[:, None, None]
    ds[["2m_temperature"]].to_zarr(store, mode="a", consolidated=False)
    channels = ["total_precipitation", "2m_temperature"]
    source = WindowSource(store, prognostic=channels)
    anchor, _ = resolve_anchor({"variable": "2m_temperature", "box": [-90, 90, -180, 180]}, source.channels,
                               source.grid.lat, source.grid.lon)
    fitted_c, index = fit_index(source, anchor, K)
    np.testing.assert_allclose(fitted_c[:3], c[:3], atol=0.1)   # B(x_{t-1}) against phi(t): c, a day later
    lo = source._first - source.n_input_steps + 1
    assert np.all(np.isfinite(index[1:])) and np.isnan(index[0]) == (lo == 0)
    before = ocean[lo - 1:lo - 1 + len(index)] if lo > 0 else np.concatenate([[np.nan], ocean[:len(index) - 1]])
    np.testing.assert_allclose(index, before - phi[lo:lo + len(index)] @ fitted_c, atol=1e-3)
    a = np.stack([np.full((4, 5), 3.0), np.full((4, 5), 2.0)] + [np.zeros((4, 5))] * 5)
    b = np.stack([np.full((4, 5), -4.0), np.zeros((4, 5)), np.full((4, 5), 1.5)] + [np.zeros((4, 5))] * 4)
    full = np.full(n, 0.0)
    full[lo:lo + len(index)] = np.nan_to_num(index)
    rain = phi @ a.reshape(7, -1) + full[:, None] * (phi @ b.reshape(7, -1))
    ds["total_precipitation"].values[:] = rain.reshape(n, 4, 5)
    ds[["total_precipitation"]].to_zarr(store, mode="a", consolidated=False)
    both = fit_seasonal_cycle(WindowSource(store, prognostic=channels), [0], harmonics=K, index=index)
    assert both.shape == (2, 14, 4, 5)
    np.testing.assert_allclose(both[0, :7], a, atol=1e-3)
    np.testing.assert_allclose(both[0, 7:], b, atol=1e-3)
    assert not both[1].any()                               # only the listed channel


def _anchored_normalization(ocean: np.ndarray, channel: int = 0) -> Normalization:
    rng = np.random.default_rng(0)
    cycle = np.zeros((3, 2 * K + 1, H, W), np.float32)
    cycle[2] = rng.normal(size=(2 * K + 1, H, W))
    weights = np.zeros((H, W), np.float32)
    weights[0, :2] = 0.5
    return Normalization(3, 0, 0, statistics(), None, None, direct=[2], seasonal_cycle=cycle, grid_shape=(H, W),
                         ocean_channel=channel, ocean_weights=weights,
                         ocean_index_cycle=np.array([290.0, 1.0, 0, 0, 0, 0, 0], np.float32), seasonal_ocean=ocean)


def test_the_centre_moves_by_the_index_times_the_ocean_cycle():
    ocean = np.zeros((3, 2 * K + 1, H, W), np.float32)
    ocean[2, 0] = 2.0                                       # 2 units of rain per unit of index, all year
    norm, still = _anchored_normalization(ocean), _anchored_normalization(np.zeros_like(ocean))
    theta = torch.tensor([0.0, 2.0])
    cos1, sin1 = torch.cos(theta), torch.sin(theta)
    last = torch.zeros(2, 3, H, W)
    last[:, 0, 0, :2] = torch.tensor([291.5, 289.0]).view(2, 1)   # box means 291.5 and 289.0
    index = norm.ocean_index(last, cos1, sin1)
    torch.testing.assert_close(index, torch.tensor([291.5 - 291.0, 289.0 - 290.0 - np.cos(2.0)]).float())
    moved = norm.season(cos1, sin1, last) - still.season(cos1, sin1, last)
    torch.testing.assert_close(moved[:, 2], (2.0 * index).view(2, 1, 1).expand(2, H, W))
    assert not moved[:, :2].any()
    with pytest.raises(SowcastError, match="needs the last input state"):
        norm.season(cos1, sin1)
    with pytest.raises(SowcastError, match="needs model.direct"):
        Normalization(3, 0, 0, statistics(), None, None, ocean_channel=0)
    with pytest.raises(SowcastError, match="seasonal_ocean has shape"):
        _anchored_normalization(np.zeros((3, 2, H, W), np.float32))


def test_forecaster_moves_rain_by_the_anchor_exactly_and_a_checkpoint_keeps_it():
    graph = random_graph(H, W)
    cycle = np.zeros((3, 2 * K + 1, H, W), np.float32)
    ocean = np.random.default_rng(2).normal(size=(3, 2 * K + 1, H, W)).astype(np.float32)
    weights = np.full((H, W), 1.0 / (H * W), np.float32)
    kw = dict(direct=[2], year_forcings=[0, 1], seasonal_cycle=cycle, direct_ocean_index={"channel": 1, "box": [0, 4, 0, 6]},
              ocean_weights=weights, ocean_index_cycle=np.array([290.0, 0, 0, 0, 0, 0, 0], np.float32))
    anchored = make_model(graph, seed=3, seasonal_ocean=ocean, **kw).eval()
    plain = make_model(graph, seed=3, seasonal_ocean=np.zeros_like(ocean), **kw).eval()
    x = batch(anchored, 2)
    with torch.no_grad():
        a, p = anchored(*x), plain(*x)
    cos1, sin1 = x[1][:, -1, 0, 0, 0], x[1][:, -1, 1, 0, 0]
    index = x[0][:, -1, 1].mean((-2, -1)) - 290.0
    phi = torch.stack(harmonic_terms(cos1, sin1, K), -1)
    want = index.view(2, 1, 1) * torch.einsum("bk,khw->bhw", phi, torch.as_tensor(ocean[2]))
    torch.testing.assert_close(a[:, 2] - p[:, 2], want, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(a[:, :2], p[:, :2], rtol=0, atol=0)
    hyper = anchored.hyperparameters()
    assert hyper["direct_ocean_index"] == {"channel": 1, "box": [0.0, 4.0, 0.0, 6.0]}
    again = Forecaster.from_checkpoint(graph, hyper, anchored.state_dict()).eval()
    with torch.no_grad():
        torch.testing.assert_close(again(*x), a, rtol=0, atol=0)
    with pytest.raises(SowcastError, match="needs model.direct"):
        make_model(graph, direct_ocean_index={"channel": 1, "box": [0, 4, 0, 6]})


def test_build_forecaster_fits_the_anchor_or_says_why_not(tmp_path):
    """``build_forecaster`` on a real store: the anchor fitted where the preset asks for it (a
    box on the grid), "not applied" under auto without direct channels or without the box, an
    error for an explicit variable without direct channels."""
    import yaml
    from test_forecaster import ROOT

    from sowcast.data.testing import make_canonical_store
    from sowcast.data.windows import WindowSource
    from sowcast.model.forecaster import build_forecaster

    store = make_canonical_store(tmp_path / "s.zarr", n_times=40, grid=(4, 5), levels=(500,), seed=0)
    source = WindowSource(store)
    g = random_graph(4, 5)
    cfg = {k: v for k, v in yaml.safe_load((ROOT / "conf" / "model" / "tiny.yaml").read_text()).items()
           if k != "mesh_level"}
    assert cfg["direct_ocean_index"] is None
    everywhere = {"variable": "2m_temperature", "box": [-90, 90, -180, 180]}
    model = build_forecaster(cfg | {"direct": ["total_precipitation"], "direct_ocean_index": everywhere}, g, source)
    t2m = list(source.channels).index("2m_temperature")
    assert model.hyperparameters()["direct_ocean_index"] == {"channel": t2m, "box": [-90.0, 90.0, -180.0, 180.0]}
    assert model.ocean_anchor_note.startswith("2m_temperature over")
    weights = model.normalization.ocean_weights.numpy()
    assert abs(float(weights.sum()) - 1.0) < 1e-5 and (weights > 0).all()
    auto = build_forecaster(cfg | {"direct_ocean_index": {"variable": "auto"}}, g, source)
    assert auto.ocean_anchor_note == "not applied: model.direct names no variable"
    assert "direct_ocean_index" not in auto.hyperparameters()
    no_ocean = build_forecaster(cfg | {"direct": ["total_precipitation"], "direct_ocean_index": {"variable": "auto"}},
                                g, source)
    assert no_ocean.ocean_anchor_note.startswith("not applied: no ocean_index")
    with pytest.raises(SowcastError, match="needs model.direct"):
        build_forecaster(cfg | {"direct_ocean_index": everywhere}, g, source)
