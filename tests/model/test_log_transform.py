"""Log-space channels (``model.log_transform``): the model predicts daily rain as
``y = log(1 + max(x, 0) / k)``, normalised with the statistics of ``y`` over the training
span; outputs come back in physical units and never below 0; the losses score those
channels in log space; the offsets are a hyperparameter, so a checkpoint rebuilds the same
model; bad settings are one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_forecaster import batch, make_model, random_graph

from sowcast.data.log_statistics import log_space_statistics
from sowcast.data.testing import make_canonical_store
from sowcast.data.windows import WindowSource
from sowcast.errors import SowcastError
from sowcast.model.forecaster import Forecaster, log_offsets
from sowcast.model.normalization import Normalization
from sowcast.train.losses import AreaWeightedAFCRPS, AreaWeightedMSE


@pytest.fixture(scope="module")
def graph():
    return random_graph()


def test_model_space_round_trip_and_no_negative_rain():
    norm = Normalization(3, 0, 0, None, None, log_offsets=[0.0, 0.0, 2.0])
    x = torch.tensor([-3.0, 0.0, 0.5, 7.0, 120.0]).view(5, 1, 1, 1).expand(5, 3, 2, 2).contiguous()
    y = norm.to_model_space(x)
    torch.testing.assert_close(y[:, :2], x[:, :2], rtol=0, atol=0)            # other channels untouched
    torch.testing.assert_close(y[:, 2], torch.log1p(torch.clamp(x[:, 2], min=0) / 2.0))
    back = norm.to_physical_space(y)
    torch.testing.assert_close(back[:, 2], torch.clamp(x[:, 2], min=0), rtol=1e-6, atol=1e-6)
    assert float(norm.to_physical_space(torch.full((1, 3, 1, 1), -5.0))[0, 2]) == 0.0   # below 0 in log space: no rain
    assert "log_offset" not in norm.state_dict() and "log_offset" not in norm.arrays()


def test_increment_round_trip_positive_outputs_and_checkpoint_rebuild(graph):
    model = make_model(graph, log_offsets=[0.0, 0.0, 1.0]).eval()
    assert model.hyperparameters()["log_offsets"] == [0.0, 0.0, 1.0]
    assert "log_offsets" not in make_model(graph).hyperparameters()          # nothing changes without it
    norm = model.normalization
    last = torch.rand(2, 3, *model.grid_shape) * 10
    following = torch.rand(2, 3, *model.grid_shape) * 10
    torch.testing.assert_close(norm.apply_increment(last, norm.increment_target(last, following)), following,
                               rtol=1e-5, atol=1e-4)
    x = batch(model, 2)
    with torch.no_grad():
        out = model(*x)
        rebuilt = Forecaster.from_checkpoint(graph, model.hyperparameters(), model.state_dict()).eval()
        torch.testing.assert_close(rebuilt(*x), out, rtol=0, atol=0)
    assert (out[:, 2] >= 0).all()


def test_log_space_statistics_match_numpy_on_a_real_store(tmp_path):
    store = make_canonical_store(tmp_path / "s.zarr", n_times=30, grid=(8, 16), levels=(500, 850), seed=0)
    source = WindowSource(store, n_input_steps=2, n_target_steps=1, time_range=["2000-01-03", "2000-01-25"])
    offsets = log_offsets(source.channels, {"total_precipitation": 1.0})
    c = source.channels.index("total_precipitation")
    assert offsets[c] == 1.0 and sum(k > 0 for k in offsets) == 1
    stats = log_space_statistics(source, offsets)
    lo = source._first - source.n_input_steps + 1
    hi = source._first + source._count + source.n_target_steps
    y = np.log1p(np.maximum(source._read_states(lo, hi)[:, c].astype(np.float64), 0))
    np.testing.assert_allclose(stats["mean"][c], y.mean(), rtol=1e-5)
    np.testing.assert_allclose(stats["std"][c], y.std(), rtol=1e-5)
    np.testing.assert_allclose(stats["diff_mean"][c], np.diff(y, axis=0).mean(), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(stats["diff_std"][c], np.diff(y, axis=0).std(), rtol=1e-5)
    others = [i for i in range(len(offsets)) if i != c]
    np.testing.assert_array_equal(stats["mean"][others], np.asarray(source.statistics["mean"], np.float32)[others])


def test_losses_score_log_channels_in_log_space():
    lat = np.linspace(-10, 10, 4)
    diff_std = np.array([1.5, 0.7])
    g = torch.Generator().manual_seed(0)
    pred, target = torch.rand(3, 2, 2, 4, 5, generator=g) * 20, torch.rand(3, 2, 4, 5, generator=g) * 20
    crps = AreaWeightedAFCRPS(lat, diff_std, members=2, log_offsets=[0.0, 1.0])
    plain = AreaWeightedAFCRPS(lat, diff_std, members=2)
    by_hand = torch.cat([pred[..., :1, :, :], torch.log1p(pred[..., 1:, :, :])], dim=-3)
    truth = torch.cat([target[..., :1, :, :], torch.log1p(target[..., 1:, :, :])], dim=-3)
    torch.testing.assert_close(crps(pred, target), plain(by_hand, truth))
    mse, plain_mse = AreaWeightedMSE(lat, diff_std, log_offsets=[0.0, 1.0]), AreaWeightedMSE(lat, diff_std)
    torch.testing.assert_close(mse(pred[:, 0], target), plain_mse(by_hand[:, 0], truth))


@pytest.mark.parametrize("setting, message", [
    ({"nope": 1.0}, "not a channel"),
    ({"total_precipitation": 0}, "must be a number > 0"),
    ({"total_precipitation": "x"}, "must be a number > 0"),
    ([1.0], "must map variable names"),
])
def test_bad_log_transform_is_one_line(setting, message):
    with pytest.raises(SowcastError, match=message):
        log_offsets(["2m_temperature", "total_precipitation"], setting)
    with pytest.raises(SowcastError, match="log_offsets must be"):
        Normalization(2, 0, 0, None, None, log_offsets=[0.0, -1.0])
