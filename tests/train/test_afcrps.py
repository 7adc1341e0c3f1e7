"""The almost fair CRPS: a hand-worked case, the fair-CRPS limit against ``scores`` (BoM),
the plain ensemble CRPS at alpha = 0, weighting, and its one-line errors."""

import numpy as np
import pytest
import torch
import xarray as xr
from scores.probability import crps_for_ensemble

from sowcast.errors import SowcastError
from sowcast.train.losses import AreaWeightedAFCRPS, AreaWeightedMSE, make_loss


def test_hand_worked_three_members():
    # members 1, 2, 4 against truth 3 at one point, diff_std 1, one row at the equator:
    # skill = (2 + 1 + 1) / 3 = 4/3; sum_{j != k} |x_j - x_k| = 2 * (1 + 3 + 2) = 12;
    # alpha 0.95, M 3: eps = 0.05 / 3, coefficient (1 - eps) / (2 * 3 * 2) = (1 - eps) / 12
    loss = AreaWeightedAFCRPS([0.0], [1.0], members=3, alpha=0.95)
    pred = torch.tensor([1.0, 2.0, 4.0]).view(1, 3, 1, 1, 1)
    target = torch.tensor([3.0]).view(1, 1, 1, 1)
    expected = 4 / 3 - (1 - 0.05 / 3) * 12 / 12
    assert float(loss(pred, target)) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("alpha, method", [(1.0, "fair"), (0.0, "ecdf")])
def test_limits_match_scores(alpha, method):
    rng = np.random.default_rng(0)
    b, m, c, h, w = 3, 4, 2, 5, 6
    pred, target = rng.normal(size=(b, m, c, h, w)), rng.normal(size=(b, c, h, w))
    loss = AreaWeightedAFCRPS([0.0] * h, [1.0, 1.0], members=m, alpha=alpha)
    ours = loss.pointwise(torch.tensor(pred), torch.tensor(target)).numpy()
    ref = crps_for_ensemble(xr.DataArray(pred, dims=["b", "member", "c", "h", "w"]),
                            xr.DataArray(target, dims=["b", "c", "h", "w"]),
                            ensemble_member_dim="member", method=method, preserve_dims="all")
    np.testing.assert_allclose(ours, ref.transpose("b", "c", "h", "w").values, rtol=1e-5, atol=1e-6)


def test_weights_and_normalisation_as_the_mse():
    # one member pair that agrees is the MAE, weighted like the MSE weights the squared error
    lat, diff_std, v = [0.0, 60.0], [2.0, 0.5], [1.0, 3.0]
    crps = AreaWeightedAFCRPS(lat, diff_std, v, members=2, alpha=1.0)
    mse = AreaWeightedMSE(lat, diff_std, v)
    rng = np.random.default_rng(1)
    target = torch.tensor(rng.normal(size=(2, 2, 2, 3)), dtype=torch.float32)
    err = torch.full_like(target, 2.0)
    pred = (target + err).unsqueeze(1).expand(2, 2, 2, 2, 3)
    # both members equal: afCRPS = |err| / diff_std; MSE = (err / diff_std)^2, same weights
    a = crps.weight(torch.abs(err) * crps.inv_scale[:, None, None]).mean()
    assert float(crps(pred, target)) == pytest.approx(float(a), rel=1e-6)
    assert float(mse(pred[:, 0], target)) == pytest.approx(
        float(crps.weight((err * crps.inv_scale[:, None, None]) ** 2).mean()), rel=1e-6)


def test_more_spread_is_rewarded_when_members_are_too_close():
    torch.manual_seed(0)
    truth = torch.randn(4000, 1, 1, 1)
    loss = AreaWeightedAFCRPS([0.0], [1.0], members=2, alpha=0.95)
    under = torch.stack([0.1 * torch.randn_like(truth) for _ in range(2)], dim=1)
    right = torch.stack([torch.randn_like(truth) for _ in range(2)], dim=1)
    assert float(loss(right, truth)) < float(loss(under, truth))


def test_rollout_mean_term_by_hand():
    # 2 members, a 2-step rollout at one point (diff_std 1, alpha 1: the fair CRPS):
    # member a: 1, 3 (mean 2); member b: 4, 0 (mean 2); truth 2, 2 (mean 2).
    # per step: step 1 |1-2|, |4-2| -> skill 1.5, pairs 2 * 3 / (2 * 2 * 1) = 1.5 -> 0;
    #           step 2 |3-2|, |0-2| -> 1.5 - 1.5 = 0; the means agree with the truth: 0.
    # members that each day look right but cancel over the rollout: the term sees nothing
    # wrong here; with the truth at 2, 6 (mean 4) it adds the error of the means, 2.
    pred = torch.tensor([[1.0, 3.0], [4.0, 0.0]]).view(1, 2, 2, 1, 1, 1)
    plain = AreaWeightedAFCRPS([0.0], [1.0], members=2, alpha=1.0)
    both = AreaWeightedAFCRPS([0.0], [1.0], members=2, alpha=1.0, aggregate_weights=[0.5])
    flat = torch.tensor([2.0, 2.0]).view(1, 2, 1, 1, 1)
    assert float(plain(pred, flat)) == pytest.approx(0.0) and float(both(pred, flat)) == pytest.approx(0.0)
    wet = torch.tensor([2.0, 6.0]).view(1, 2, 1, 1, 1)
    # per step: step 1 as above 0; step 2 |3-6|, |0-6| -> 4.5 - 1.5 = 3: mean 1.5.
    # means 2, 2 against 4: |2 - 4| = 2, no spread: 2 -> 1.5 + 0.5 * 2 = 2.5
    assert float(plain(pred, wet)) == pytest.approx(1.5)
    assert float(both(pred, wet)) == pytest.approx(2.5)
    # one step: nothing to aggregate
    assert float(both(pred[:, :, :1], wet[:, :1])) == pytest.approx(float(plain(pred[:, :, :1], wet[:, :1])))
    # per channel: a second channel with weight 0 adds nothing but its daily scores
    two = AreaWeightedAFCRPS([0.0], [1.0, 1.0], members=2, alpha=1.0, aggregate_weights=[0.5, 0.0])
    pred2, wet2 = torch.cat([pred, pred], dim=3), torch.cat([wet, wet], dim=2)
    assert float(two(pred2, wet2)) == pytest.approx((2.5 + 1.5) / 2)


def test_aggregate_weights_by_channel_prefix():
    class Model:
        stochastic = True

    class Source:
        class grid:
            lat = np.array([0.0])
        channels = ["2m_temperature", "total_precipitation"]
        statistics = {"std": np.array([1.0, 1.0]), "diff_std": np.array([1.0, 1.0])}

    loss = make_loss({"loss": "afcrps", "aggregate_weights": {"total_precipitation": 2.0}}, Source, Model)
    assert loss.aggregate_weights.tolist() == [0.0, 2.0] and loss.aggregates
    assert not make_loss({"loss": "afcrps"}, Source, Model).aggregates
    with pytest.raises(SowcastError, match="train.aggregate_weights: 'rain' matches no channel"):
        make_loss({"loss": "afcrps", "aggregate_weights": {"rain": 1.0}}, Source, Model)


def test_bad_settings_are_one_line_errors():
    with pytest.raises(SowcastError, match="at least 2"):
        AreaWeightedAFCRPS([0.0], [1.0], members=1)
    with pytest.raises(SowcastError, match=r"in \[0, 1\]"):
        AreaWeightedAFCRPS([0.0], [1.0], alpha=1.5)
    with pytest.raises(SowcastError, match="train.aggregate_weights: one weight >= 0 per channel"):
        AreaWeightedAFCRPS([0.0], [1.0], aggregate_weights=[-1.0])

    class Model:
        stochastic = False

    class Source:
        class grid:
            lat = np.array([0.0])
        channels = ["t"]
        statistics = {"std": np.array([1.0]), "diff_std": np.array([1.0])}

    with pytest.raises(SowcastError, match="needs a stochastic model"):
        make_loss({"loss": "afcrps"}, Source, Model)
    with pytest.raises(SowcastError, match="train.loss must be one of"):
        make_loss({"loss": "mae"}, Source, Model)
    assert make_loss({"loss": "auto"}, Source, Model).members == 1
    Model.stochastic = True
    assert make_loss({"loss": "auto", "ensemble_members": 3}, Source, Model).members == 3
