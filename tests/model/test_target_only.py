"""Target-only channels (``model.target_only``, GraphCast's precipitation): a direct channel
that is predicted but not fed back, entering the network as 0. The output does not depend on
its input values (one step and a rollout), does on every other channel's; a hyperparameter a
checkpoint rebuilds; only direct channels may be target-only; one-line errors."""

from __future__ import annotations

import pytest
import torch
from test_direct_channels import H, W, _direct_model, batch, random_graph

from sowcast.errors import SowcastError
from sowcast.model.forecaster import Forecaster

RAIN = 2


@pytest.fixture(scope="module")
def graph():
    return random_graph(H, W)


def _changed(inputs: torch.Tensor, channel: int) -> torch.Tensor:
    """``inputs`` with ``channel`` replaced by other values at every input step."""
    other = inputs.clone()
    other[:, :, channel] = other[:, :, channel] * 3.0 + 5.0
    return other


def test_a_target_only_channel_is_not_seen(graph):
    model = _direct_model(graph, target_only=[RAIN]).eval()
    fed_back = _direct_model(graph).eval()                      # same weights (seed), rain an input
    inputs, forcings, static = batch(model, 2)
    with torch.no_grad():
        out = model(inputs, forcings, static)
        torch.testing.assert_close(model(_changed(inputs, RAIN), forcings, static), out, rtol=0, atol=0)
        assert not torch.equal(fed_back(_changed(inputs, RAIN), forcings, static), fed_back(inputs, forcings, static))
        assert not torch.equal(model(_changed(inputs, 0), forcings, static), out)      # other channels still seen
        # a rollout: the predicted rain is not fed back either, so a changed initial rain changes nothing
        forcings3 = torch.randn(2, inputs.shape[1] + 3, *forcings.shape[2:], generator=torch.Generator().manual_seed(1))
        torch.testing.assert_close(model.rollout(_changed(inputs, RAIN), forcings3, static, 3),
                                   model.rollout(inputs, forcings3, static, 3), rtol=0, atol=0)


def test_target_only_is_a_hyperparameter_and_needs_a_direct_channel(graph):
    model = _direct_model(graph, target_only=[RAIN]).eval()
    assert model.hyperparameters()["target_only"] == [RAIN]
    assert "target_only" not in _direct_model(graph).hyperparameters()
    again = Forecaster.from_checkpoint(graph, model.hyperparameters(), model.state_dict()).eval()
    x = batch(model, 2)
    with torch.no_grad():
        torch.testing.assert_close(again(*x), model(*x), rtol=0, atol=0)
    with pytest.raises(SowcastError, match="model.target_only channels must also be model.direct channels"):
        _direct_model(graph, target_only=[0])
    with pytest.raises(SowcastError, match=r"target_only channels \[7\] are not all in 0..2"):
        _direct_model(graph, target_only=[7])
