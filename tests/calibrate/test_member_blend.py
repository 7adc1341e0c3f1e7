"""The blend of member fractions into the calibrated terciles (sowcast.calibrate.tercile_fit,
step 5): fair sums from few hindcast members, a weight that grows with the forecast's members,
none for members that carry no information."""

import numpy as np
import pytest

from sowcast.calibrate.tercile_fit import blend_sums, blend_weight
from sowcast.errors import SowcastError


def _case(informative: bool, members: int, n: int = 20000, seed: int = 0):
    """Outcomes drawn from per-sample probabilities ``p_true``; members drawn from ``p_true``
    (informative) or from an unrelated draw; the calibrated forecast is climatology (1/3)."""
    rng = np.random.default_rng(seed)
    p_true = rng.dirichlet([1.5, 1.5, 1.5], size=n)
    cum = p_true.cumsum(-1)
    outcome = (rng.random(n)[:, None] > cum).sum(-1)
    source = cum if informative else rng.dirichlet([1.5, 1.5, 1.5], size=n).cumsum(-1)
    draws = (rng.random((members, n))[..., None] > source[None]).sum(-1)
    fractions = np.stack([(draws == k).mean(0) for k in range(3)], -1)
    return fractions[:, None, None], np.full((n, 1, 1, 3), 1 / 3), outcome[:, None, None]


def test_informative_members_earn_a_weight_that_grows_with_the_forecast_size():
    raw, clim, outcome = _case(True, members=2)
    sums = blend_sums(raw, clim, outcome, 2, np.ones(outcome.shape, bool))
    w = {m: float(blend_weight(*(sums[k] for k in ("blend_a", "blend_b", "blend_s")), m)[0, 0]) for m in (2, 8, 32)}
    assert 0 < w[2] < w[8] < w[32] <= 1
    assert w[32] > 0.8          # an ensemble drawn from the truth's own odds: most of the weight
    # the expected RPS of w P + (1 - w) Q for 2 members, minimised at w[2] (checked against a grid)
    grid = np.linspace(0, 1, 101)
    cum_obs = np.stack([outcome <= 0, outcome <= 1], -1)
    p, q = raw.cumsum(-1)[..., :2], clim.cumsum(-1)[..., :2]
    rps = [((g * p + (1 - g) * q - cum_obs) ** 2).sum(-1).mean() for g in grid]
    assert abs(grid[int(np.argmin(rps))] - w[2]) < 0.05


def test_members_without_information_get_no_weight():
    raw, clim, outcome = _case(False, members=4, seed=1)
    sums = blend_sums(raw, clim, outcome, 4, np.ones(outcome.shape, bool))
    for m in (4, 32):
        assert float(blend_weight(*(sums[k] for k in ("blend_a", "blend_b", "blend_s")), m)[0, 0]) < 0.05


def test_one_line_errors():
    raw, clim, outcome = _case(True, members=2, n=10)
    with pytest.raises(SowcastError, match="at least 2 members"):
        blend_sums(raw, clim, outcome, 1, np.ones(outcome.shape, bool))
    with pytest.raises(SowcastError, match="at least 1 member"):
        blend_weight(1.0, -1.0, 1.0, 0)
    assert blend_weight(0.0, 1.0, 0.0, 8) == 0.0          # no spread of information: no weight


def test_the_weight_is_the_best_end_where_the_cost_is_not_convex():
    # f(w) = -w^2 - w: falling on [0, 1], so all weight; f(w) = -w^2 + 3 w: rising, so none
    assert blend_weight(-1.0, -0.5, 0.0, 8) == 1.0
    assert blend_weight(-1.0, 1.5, 0.0, 8) == 0.0
    assert blend_weight(np.nan, -0.5, 1.0, 8) == 0.0


def _params(pooling: str | None):
    """Blend sums on (period, lat, lon): an informative point, a point without information,
    and a point without samples (NaN)."""
    import xarray as xr

    a = np.array([[[10.0, 10.0, np.nan]]])
    b = np.array([[[-8.0, 2.0, np.nan]]])
    s = np.array([[[8.0, 8.0, np.nan]]])
    ds = xr.Dataset({f"x_tercile_blend_{k}": (("period", "lat", "lon"), v) for k, v in zip("abs", (a, b, s))},
                    coords={"period": ["week1"], "lat": [10.0], "lon": [0.0, 1.0, 2.0]})
    if pooling is not None:
        ds.attrs["x_tercile_member_weight"] = pooling
    return ds


def test_the_domain_weight_is_the_weight_of_the_pooled_sums_and_none_where_a_point_has_no_samples():
    from sowcast.calibrate.tercile_fit import member_weight

    domain = member_weight(_params("domain"), "x", 8).values[0, 0]
    pooled = blend_weight(20.0, -6.0, 16.0, 8)                 # the two known points' sums added
    np.testing.assert_allclose(domain, [pooled, pooled, 0.0])
    point = member_weight(_params("point"), "x", 8).values[0, 0]
    np.testing.assert_allclose(point, [blend_weight(10.0, -8.0, 8.0, 8), 0.0, 0.0])
    # a calibration.nc made before the attribute keeps its point weights
    np.testing.assert_allclose(member_weight(_params(None), "x", 8).values, member_weight(_params("point"), "x", 8).values)
    with pytest.raises(SowcastError, match="x_tercile_member_weight is 'region'"):
        member_weight(_params("region"), "x", 8)
