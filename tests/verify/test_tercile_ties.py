"""Tercile categories with ties at 0 mm: the observed categories' climatological levels, the
model's bounds at those levels, the climatological reference, and rain scored where the
products issue terciles (sowcast.products.terciles, sowcast.verify.reforecasts)."""

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.products.climatology import QUANTILE_LEVELS
from sowcast.products.terciles import (
    category_levels,
    climatological_category_probabilities,
    model_category_bounds,
    tercile_bounds,
    tercile_probabilities,
)
from sowcast.verify.categorical import fair_rps, observed_category, rps, skill_score
from sowcast.verify.reforecasts import issued_points

RAIN = "total_precipitation"
LEVELS = np.asarray(QUANTILE_LEVELS)


def _clim(observed_samples, model_samples):
    """A climatology of one period on a 1 x n grid from explicit pooled samples per point."""
    obs_q = np.stack([np.quantile(s, LEVELS) for s in observed_samples], axis=-1)[:, None, :]
    mod_q = np.stack([np.quantile(s, LEVELS) for s in model_samples], axis=-1)[:, None, :]
    coords = {"quantile": LEVELS, "lat": [10.0], "lon": np.arange(len(observed_samples), dtype=float)}
    dims = ("quantile", "lat", "lon")
    return xr.Dataset({
        f"observed_{RAIN}_quantiles": (dims, obs_q), f"{RAIN}_quantiles": (dims, mod_q),
        f"observed_{RAIN}_mean": (("lat", "lon"), [[np.mean(s) for s in observed_samples]]),
        f"{RAIN}_mean": (("lat", "lon"), [[np.mean(s) for s in model_samples]]),
    }, coords=coords)


def _samples():
    rng = np.random.default_rng(3)
    wet = rng.gamma(2.0, 15.0, 200)                                   # distinct terciles
    dry = np.where(rng.random(200) < 0.8, 0.0, rng.gamma(1.0, 5.0, 200))   # 80 % of weeks dry
    edge = np.where(rng.random(200) < 0.45, 0.0, rng.gamma(1.0, 20.0, 200))  # lower tercile 0 only
    model = [rng.gamma(2.0, 14.0, 200), rng.gamma(1.5, 1.0, 200), rng.gamma(1.2, 10.0, 200)]  # drizzles
    return [wet, dry, edge], model, (dry, edge)


def test_levels_are_the_terciles_without_ties_and_the_dry_share_with_them():
    obs, model, (dry, edge) = _samples()
    clim = _clim(obs, model)
    p_below, p_upper = category_levels(clim, RAIN)
    assert p_below.values[0].tolist() == [1 / 3, 0.0, 0.0]
    # the dry share to the levels' 5 % steps: 80 % dry weeks, the 45 % one has distinct upper tercile
    assert abs(p_upper.values[0, 0] - 2 / 3) < 1e-12
    assert 0.75 <= p_upper.values[0, 1] <= np.mean(dry == 0) + 1e-9
    assert abs(p_upper.values[0, 2] - 2 / 3) < 1e-12
    ref = climatological_category_probabilities(clim, RAIN)
    np.testing.assert_allclose(ref.sum("category"), 1.0)
    np.testing.assert_allclose(ref.isel(lat=0, lon=0), [1 / 3, 1 / 3, 1 / 3])
    assert ref.isel(lat=0, lon=1).sel(category="below") == 0 and ref.isel(lat=0, lon=1).sel(category="near") >= 0.75


def test_model_bounds_are_its_terciles_without_ties_and_its_own_quantiles_at_the_dry_share():
    obs, model, _ = _samples()
    clim = _clim(obs, model)
    lower, upper = model_category_bounds(clim, RAIN)
    l3, u3 = tercile_bounds(clim, RAIN)
    assert lower.values[0, 0] == l3.values[0, 0] and upper.values[0, 0] == u3.values[0, 0]
    _, p_upper = category_levels(clim, RAIN)
    assert upper.values[0, 1] == np.quantile(model[1], p_upper.values[0, 1])
    # nothing can be below where the observed lower tercile is 0 mm: no member there
    members = xr.DataArray(np.stack(model)[:, :8].T[:, None, :], dims=("member", "lat", "lon"),
                           coords={"lat": [10.0], "lon": [0.0, 1.0, 2.0]})
    prob = tercile_probabilities(members, lower, upper)
    assert (prob.sel(category="below").isel(lon=[1, 2]) == 0).all()
    np.testing.assert_allclose(prob.sum("category"), 1.0)
    # in the model's climate a member is near as often as the observations are
    frac_near = (np.asarray(model[1]) <= upper.values[0, 1]).mean()
    assert abs(frac_near - p_upper.values[0, 1]) < 0.01


def test_knowing_the_dry_season_is_dry_earns_no_skill_and_rain_is_scored_where_issued():
    obs, model, _ = _samples()
    clim = _clim(obs, model)
    ref = climatological_category_probabilities(clim, RAIN)
    ol, ou = tercile_bounds(clim, RAIN, observed=True)
    rng = np.random.default_rng(9)
    times = pd.RangeIndex(4000, name="start")
    truth = xr.DataArray(np.stack([rng.choice(s, 4000) for s in obs], -1)[:, None, :],
                         dims=("start", "lat", "lon"), coords={"lat": [10.0], "lon": [0.0, 1.0, 2.0], "start": times})
    o = observed_category(truth, ol, ou)
    clim_forecast = ref.broadcast_like(o)
    # the climatological frequencies against themselves: no skill, at wet and dry points alike
    dims = ("start", "lat", "lon")
    assert abs(float(skill_score(rps(clim_forecast, o), rps(ref.broadcast_like(o), o), dims))) < 1e-12
    # against equal odds the same forecast would look skilful at the dry point (the old reference)
    equal = xr.full_like(clim_forecast, 1 / 3)
    dry = dict(lon=1)
    assert float(skill_score(rps(clim_forecast.isel(dry), o.isel(dry)), rps(equal.isel(dry), o.isel(dry)),
                             ("start", "lat"))) > 0.4
    # a 4-member ensemble drawn from the climatological frequencies: fair RPSS near 0
    draws = rng.random((4, 4000, 1, 3))
    cum = ref.cumsum("category").values
    cat = (draws[..., None] > cum[None, None]).sum(-1)
    prob = xr.concat([xr.DataArray((cat == k).mean(0), dims=dims, coords=o.isel(category=0, drop=True).coords)
                      for k in range(3)], dim="category").assign_coords(category=o.category.values)
    skill = float(skill_score(fair_rps(prob.transpose(*o.dims), o, 4), rps(ref.broadcast_like(o), o), dims))
    assert abs(skill) < 0.03, skill
    # the products' dry-season rule picks the points scored: the 80 %-dry point is left out
    periods = xr.DataArray(np.zeros(1), dims="period",
                           coords={"period": ["week1"], "first_lead_day": ("period", [1]),
                                   "last_lead_day": ("period", [7])})
    issued = issued_points(clim.expand_dims(period=["week1"]), periods, RAIN, 1.0)
    assert issued.sel(period="week1").values[0].tolist() == [True, False, True]
    assert issued_points(clim, periods, "2m_temperature", 1.0) is None
    assert issued_points(clim, periods, RAIN, 0.0) is None
