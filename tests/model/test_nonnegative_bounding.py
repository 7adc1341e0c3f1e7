"""Channels bounded at 0 by the model (``model.nonnegative``, anemoi-models' ReluBounding):
the next state is ``max(x, 0)`` on those channels only, in training as in inference, so a
member below 0 at a dry point costs nothing in the loss; the setting is a hyperparameter (a
checkpoint rebuilds the same model); bad settings are one-line errors."""

from __future__ import annotations

import pytest
import torch
from test_forecaster import batch, make_model, random_graph

from sowcast.errors import SowcastError
from sowcast.model.forecaster import Forecaster, listed_channels
from sowcast.train.losses import AreaWeightedMSE


@pytest.fixture(scope="module")
def graph():
    return random_graph()


def test_bounded_channel_never_negative_others_untouched(graph):
    free, bounded = make_model(graph, seed=3).eval(), make_model(graph, seed=3, nonnegative=[2]).eval()
    x = batch(free, 4)
    x[0][:, :, 2] -= 1e4                                      # push the channel far below 0
    with torch.no_grad():
        a, b = free(*x), bounded(*x)
    assert (a[:, 2] < 0).any()                                # the unbounded model goes below 0 there
    torch.testing.assert_close(b[:, 2], torch.relu(a[:, 2]), rtol=0, atol=0)
    torch.testing.assert_close(b[:, :2], a[:, :2], rtol=0, atol=0)
    with torch.no_grad():                                     # every step of a rollout is bounded
        assert float(bounded.rollout(*batch(bounded, 2, n_steps=3), n_steps=3)[:, :, 2].min()) >= 0.0


def test_below_zero_at_a_dry_point_costs_nothing(graph):
    model = make_model(graph, seed=1, nonnegative=[2])
    inputs, forcings, static = batch(model, 2)
    inputs[:, :, 2] = -1e4                                   # the state goes below 0: bounded to 0
    pred = model(inputs, forcings, static)
    truth = pred.detach().clone()
    truth[:, 2] = 0.0                                         # a dry day everywhere
    loss = AreaWeightedMSE(model.grid_shape[0] * [0.0], [1.0, 1.0, 1.0])(pred, truth)
    assert float(loss.detach()) == 0.0                                 # exactly 0 mm: no penalty
    loss.backward()                                           # and no gradient pushing it back up


def test_gradient_passes_straight_through_where_it_rained(graph):
    """Forward max(x, 0); in training the gradient of a member below 0 is not cut, so a wet
    truth pulls it up (straight-through); in eval the graph is the plain bound."""
    model = make_model(graph, seed=1, nonnegative=[2]).train()
    inputs, forcings, static = batch(model, 2)
    inputs[:, :, 2] = -1e4
    inputs.requires_grad_(True)
    pred = model(inputs, forcings, static)
    assert float(pred[:, 2].detach().abs().max()) == 0.0                   # bounded in the forward pass
    (pred[:, 2] - 5.0).square().sum().backward()                             # it rained 5 mm everywhere
    assert float(inputs.grad[:, -1, 2].abs().min()) > 0                      # every point gets a gradient
    frozen = make_model(graph, seed=1, nonnegative=[2]).eval()
    x = inputs.detach().clone().requires_grad_(True)
    (frozen(x, forcings, static)[:, 2] - 5.0).square().sum().backward()
    assert float(x.grad[:, -1, 2].abs().max()) == 0.0                        # eval: the plain ReLU


def test_hyperparameter_rebuilds_and_bad_settings(graph):
    model = make_model(graph, nonnegative=[2, 2])
    assert model.hyperparameters()["nonnegative"] == [2]
    assert "nonnegative" not in make_model(graph).hyperparameters()
    again = Forecaster.from_checkpoint(graph, model.hyperparameters(), model.state_dict())
    assert again.bounded and bool(again.bounded_mask[2]) and not bool(again.bounded_mask[0])
    assert "bounded_mask" not in model.state_dict()           # rebuilt from the hyperparameter, not stored
    channels = ["2m_temperature", "temperature_500", "temperature_850", "total_precipitation"]
    assert listed_channels(channels, ["total_precipitation"], "model.nonnegative") == [3]
    assert listed_channels(channels, ["temperature"], "model.nonnegative") == [1, 2]
    assert listed_channels(channels, None, "model.nonnegative") == []
    with pytest.raises(SowcastError, match="model.nonnegative names 'rain', which is not a channel"):
        listed_channels(channels, ["rain"], "model.nonnegative")
    with pytest.raises(SowcastError, match="model.nonnegative must be a list of variable names"):
        listed_channels(channels, "total_precipitation", "model.nonnegative")
    with pytest.raises(SowcastError, match="nonnegative channels"):
        make_model(graph, nonnegative=[7])
