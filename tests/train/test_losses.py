"""The area-weighted, diff_std-normalised MSE: latitude weights, variable weights, a worked example."""

import numpy as np
import pytest
import torch

from sowcast.errors import SowcastError
from sowcast.train.losses import AreaWeightedMSE, latitude_weights, variable_weights


def test_latitude_weights_are_cosines_with_mean_one():
    lat = np.array([-60.0, 0.0, 60.0])
    w = latitude_weights(lat)
    np.testing.assert_allclose(w, np.array([0.5, 1.0, 0.5]) / (2 / 3))
    assert w.mean() == pytest.approx(1.0)


def test_latitude_weights_with_poles_use_the_cap_area():
    lat = np.linspace(-90, 90, 7)  # 30-degree spacing, poles included
    w = latitude_weights(lat)
    d = np.deg2rad(30.0)
    raw = np.cos(np.deg2rad(lat)) * np.sin(d / 2)
    raw[[0, -1]] = np.sin(d / 4) ** 2
    np.testing.assert_allclose(w, raw / raw.mean())
    assert w.mean() == pytest.approx(1.0) and w[0] > 0
    # The weights are the rows' shares of the sphere's area: bands sum to the whole sphere.
    areas = np.diff(np.sin(np.deg2rad(np.clip(np.r_[lat - 15, 90 + 15], -90, 90))))
    np.testing.assert_allclose(raw / raw.sum(), areas[:7] / areas[:7].sum(), rtol=1e-12)


def test_variable_weights_by_longest_prefix():
    channels = ["2m_temperature", "temperature_500", "temperature_850", "total_precipitation"]
    w = variable_weights(channels, {"temperature": 2.0, "temperature_850": 3.0, "total": 0.5})
    np.testing.assert_array_equal(w, [1.0, 2.0, 3.0, 0.5])
    np.testing.assert_array_equal(variable_weights(channels, None), [1, 1, 1, 1])
    with pytest.raises(SowcastError, match="matches no channel"):
        variable_weights(channels, {"geopotential": 1.0})


def test_hand_worked_two_by_two_example():
    # Grid 2x2 at lat -60, +60 (cos equal, so area weights 1, 1); two channels.
    # diff_std = [2, 0.5]; channel weights [1, 3].
    lat = [-60.0, 60.0]
    loss = AreaWeightedMSE(lat, diff_std=[2.0, 0.5], channel_weights=[1.0, 3.0])
    target = torch.zeros(1, 2, 2, 2)
    pred = torch.tensor([[[[2.0, 0.0], [0.0, 4.0]],      # channel 0 errors 2, 0, 0, 4
                          [[0.5, 0.0], [0.0, 0.0]]]])    # channel 1 error 0.5
    # channel 0: ((2/2)^2 + (4/2)^2) = 1 + 4 = 5, weight 1 -> 5
    # channel 1: (0.5/0.5)^2 = 1, weight 3 -> 3
    # mean over 2 channels x 4 points = (5 + 3) / 8 = 1
    assert float(loss(pred, target)) == pytest.approx(1.0)
    np.testing.assert_allclose(loss.per_channel(pred, target).numpy(), [5 / 4, 1 / 4])


def test_latitude_weighting_in_the_loss():
    # Rows at 0 and 60 degrees: weights 1/0.75 and 0.5/0.75. The same error counts twice as
    # much at the equator as at 60 degrees.
    loss = AreaWeightedMSE([0.0, 60.0], diff_std=[1.0])
    target = torch.zeros(1, 2, 1)
    at_equator = torch.tensor([[[1.0], [0.0]]])
    at_sixty = torch.tensor([[[0.0], [1.0]]])
    assert float(loss(at_equator, target)) == pytest.approx((1 / 0.75) / 2)
    assert float(loss(at_sixty, target)) == pytest.approx((0.5 / 0.75) / 2)
    # Uniform errors: the weights average to 1, so the loss is the plain normalised MSE.
    assert float(loss(torch.full((3, 1, 2, 1), 2.0), torch.zeros(3, 1, 2, 1))) == pytest.approx(4.0)


def test_increment_form_and_rollout_shapes():
    # (p - y) / diff_std == ((p - x) - (y - x)) / diff_std: the loss on a rollout [B, n, C, H, W].
    loss = AreaWeightedMSE([-30.0, 30.0], diff_std=[0.5, 2.0])
    g = torch.Generator().manual_seed(0)
    x, p, y = (torch.randn(2, 3, 2, 2, 4, generator=g) for _ in range(3))
    direct = float(loss(p, y))
    scale = torch.tensor([0.5, 2.0])[:, None, None]
    by_hand = float(((((p - x) - (y - x)) / scale) ** 2).mean())
    assert direct == pytest.approx(by_hand, rel=1e-5)
    with pytest.raises(ValueError):
        loss(p, y[:, :1])


def test_zero_spread_channel_and_bad_statistics():
    loss = AreaWeightedMSE([0.0], diff_std=[0.0])  # a constant channel: error in its own units
    assert float(loss(torch.full((1, 1, 1), 3.0), torch.zeros(1, 1, 1))) == pytest.approx(9.0)
    with pytest.raises(SowcastError):
        AreaWeightedMSE([0.0], diff_std=[np.nan])
