"""Ensemble scores: CRPS (fair, plain), spread/skill, ensemble-mean RMSE."""

import numpy as np
import pytest
import xarray as xr

from sowcast.errors import SowcastError
from sowcast.verify.ensemble import (
    crps_ensemble,
    ensemble_mean_rmse,
    spread_skill_ratio,
)


def _ens(rows):
    return xr.DataArray(np.asarray(rows, dtype=float), dims=("x", "member"))


def _obs(values):
    return xr.DataArray(np.asarray(values, dtype=float), dims="x")


def test_crps_two_members_by_hand():
    # {0, 2} against 1: mean|x - y| = 1, sum_ij |x_i - x_j| = 4.
    # plain: 1 - 4 / (2 * 2^2) = 0.5;  fair: 1 - 4 / (2 * 2 * 1) = 0.
    f, y = _ens([[0, 2]]), _obs([1])
    assert float(crps_ensemble(f, y, fair=False)[0]) == pytest.approx(0.5)
    assert float(crps_ensemble(f, y, fair=True)[0]) == pytest.approx(0.0)


def test_crps_three_members_by_hand():
    # {0, 1, 3} against 2: mean|x - y| = (2 + 1 + 1)/3 = 4/3; sum_ij |x_i - x_j| = 2(1 + 3 + 2) = 12.
    # plain: 4/3 - 12/18 = 2/3;  fair: 4/3 - 12/12 = 1/3.
    f, y = _ens([[3, 0, 1]]), _obs([2])
    assert float(crps_ensemble(f, y, fair=False)[0]) == pytest.approx(2 / 3)
    assert float(crps_ensemble(f, y)[0]) == pytest.approx(1 / 3)


def test_one_member_plain_crps_is_the_absolute_error_and_fair_refuses():
    f, y = _ens([[1.5], [-1.0]]), _obs([1.0, 1.0])
    np.testing.assert_allclose(crps_ensemble(f, y, fair=False), [0.5, 2.0])
    with pytest.raises(SowcastError, match="at least 2 members"):
        crps_ensemble(f, y, fair=True)
    with pytest.raises(SowcastError, match="at least 2 members"):
        spread_skill_ratio(f, y, "x")


def test_missing_member_or_truth_makes_the_point_missing_and_the_mean_skips_it():
    f, y = _ens([[0, 2], [0, np.nan], [0, 2]]), _obs([1, 1, np.nan])
    point = crps_ensemble(f, y, fair=False)
    np.testing.assert_allclose(point, [0.5, np.nan, np.nan])
    assert float(crps_ensemble(f, y, fair=False, dims="x")) == pytest.approx(0.5)


def test_crps_keeps_other_dims_and_needs_the_member_dim():
    f = xr.DataArray(np.zeros((2, 3, 4)), dims=("period", "start", "member"),
                     coords={"period": ["week1", "week2"]})
    y = xr.DataArray(np.ones((2, 3)), dims=("period", "start"), coords={"period": ["week1", "week2"]})
    out = crps_ensemble(f, y, dims="start")
    assert out.dims == ("period",)
    np.testing.assert_allclose(out, [1.0, 1.0])
    with pytest.raises(SowcastError, match="member"):
        crps_ensemble(f, y, member_dim="realization")


def test_spread_skill_ratio_by_hand():
    # {0, 2} vs 2 and {1, 3} vs 0: ensemble variances (ddof=1) 2 and 2, mean errors 1 and 2.
    # spread^2 = 2 * (M + 1)/M = 3, skill^2 = (1 + 4)/2 = 2.5  ->  SSR = sqrt(1.2).
    f, y = _ens([[0, 2], [1, 3]]), _obs([2, 0])
    assert float(spread_skill_ratio(f, y, "x")) == pytest.approx(np.sqrt(1.2))
    # ensemble-mean RMSE = sqrt(2.5).
    assert float(ensemble_mean_rmse(f, y, "x")) == pytest.approx(np.sqrt(2.5))


def test_spread_skill_ratio_of_a_reliable_small_ensemble_is_one():
    # Members and truth from the same distribution; without (M+1)/M the ratio would be sqrt(3/4).
    rng = np.random.default_rng(3)
    centre = rng.normal(size=40_000)[:, None]
    f = _ens(centre + rng.normal(size=(40_000, 3)))
    y = _obs(centre[:, 0] + rng.normal(size=40_000))
    assert float(spread_skill_ratio(f, y, "x")) == pytest.approx(1.0, abs=0.02)


def test_crps_matches_scores_fair_and_plain_with_lat_weights():
    scores = pytest.importorskip("scores")
    rng = np.random.default_rng(4)
    coords = {"period": ["week1", "week2"], "lat": np.linspace(-5, 15, 5)}
    f = xr.DataArray(rng.gamma(2.0, size=(2, 6, 5, 4, 7)), dims=("period", "start", "lat", "lon", "member"),
                     coords=coords)
    y = xr.DataArray(rng.gamma(2.0, size=(2, 6, 5, 4)), dims=("period", "start", "lat", "lon"), coords=coords)
    weights = np.cos(np.deg2rad(f["lat"]))
    for fair, method in ((True, "fair"), (False, "ecdf")):
        ours = crps_ensemble(f, y, fair=fair, dims=("start", "lat", "lon"))
        ref = scores.probability.crps_for_ensemble(f, y, "member", method=method, preserve_dims="period",
                                                   weights=weights)
        np.testing.assert_allclose(ours, ref.transpose(*ours.dims), rtol=1e-12)
        # and per point
        ours_pt = crps_ensemble(f, y, fair=fair)
        ref_pt = scores.probability.crps_for_ensemble(f, y, "member", method=method, preserve_dims="all")
        np.testing.assert_allclose(ours_pt, ref_pt.transpose(*ours_pt.dims), rtol=1e-12, atol=1e-14)
