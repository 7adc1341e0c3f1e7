"""Channels the model predicts directly (``model.direct``; GraphCast's target-only
precipitation, AIFS's diagnostic one): ``x_t+1 = mean + std * out`` instead of
``x_t + diff_mean + diff_std * out``, the loss in units of ``std`` there, the setting a
hyperparameter a checkpoint rebuilds, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_forecaster import batch, make_model, random_graph, statistics

from sowcast.errors import SowcastError
from sowcast.model.forecaster import Forecaster, listed_channels
from sowcast.model.normalization import Normalization
from sowcast.train.losses import AreaWeightedMSE


@pytest.fixture(scope="module")
def graph():
    return random_graph()


def _normalization(direct):
    return Normalization(3, 0, 0, statistics(), None, None, direct=direct)


def test_direct_channel_is_mean_plus_std_times_output_others_increment():
    norm, plain = _normalization([2]), _normalization(None)
    s = statistics()
    last, out = torch.randn(4, 3, 5, 6) * 10, torch.randn(4, 3, 5, 6)
    following = norm.apply_increment(last, out)
    expect = s["mean"][2] + s["std"][2] * out[:, 2]
    torch.testing.assert_close(following[:, 2], expect.float(), rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(following[:, :2], plain.apply_increment(last, out)[:, :2], rtol=0, atol=0)
    # the last state of a direct channel does not enter its next state
    other = last.clone()
    other[:, 2] += 100.0
    torch.testing.assert_close(norm.apply_increment(other, out)[:, 2], following[:, 2], rtol=0, atol=0)
    # increment_target inverts apply_increment on every channel
    torch.testing.assert_close(norm.increment_target(last, following), out, rtol=1e-4, atol=1e-4)
    scale = norm.error_scale().numpy()
    np.testing.assert_allclose(scale, [s["diff_std"][0], s["diff_std"][1], s["std"][2]], rtol=1e-6)


def test_forecaster_direct_channel_forgets_last_state(graph):
    model = make_model(graph, seed=3, direct=[1]).eval()
    inputs, forcings, static = batch(model, 2)
    moved = inputs.clone()
    moved[:, -1, 1] += 5.0                                     # only the last state of channel 1 differs
    with torch.no_grad():
        a, b = model(inputs, forcings, static), model(moved, forcings, static)
    # channel 1 changes only through the network (no + x_t); a residual channel would move by 5
    assert float((b[:, 1] - a[:, 1]).abs().mean()) < 5.0 * 0.5
    free = make_model(graph, seed=3).eval()
    with torch.no_grad():
        c, d = free(inputs, forcings, static), free(moved, forcings, static)
    assert float((d[:, 1] - c[:, 1]).mean()) == pytest.approx(5.0, rel=0.5)


def test_loss_scales_direct_channel_by_its_std(graph):
    model = make_model(graph, direct=[2])
    s = statistics()

    class Source:  # what AreaWeightedLoss.from_source reads of a window source
        statistics = s
        channels = ["a", "b", "total_precipitation"]

        class grid:
            lat = np.zeros(model.grid_shape[0])

    loss = AreaWeightedMSE.from_source(Source, model=model)
    np.testing.assert_allclose(loss.inv_scale.numpy(), 1.0 / np.array([s["diff_std"][0], s["diff_std"][1], s["std"][2]]),
                               rtol=1e-6)
    plain = AreaWeightedMSE.from_source(Source, model=make_model(graph))
    np.testing.assert_allclose(plain.inv_scale.numpy(), 1.0 / np.asarray(s["diff_std"]), rtol=1e-6)


def test_direct_is_a_hyperparameter_and_errors_are_one_line(graph):
    model = make_model(graph, direct=[2], nonnegative=[2])
    assert model.hyperparameters()["direct"] == [2]
    assert "direct" not in make_model(graph).hyperparameters()
    again = Forecaster.from_checkpoint(graph, model.hyperparameters(), model.state_dict())
    assert again.normalization.has_direct_channels and bool(again.normalization.direct_mask[2])
    assert "normalization.direct_mask" not in model.state_dict()
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
        make_model(graph, direct=[7])
