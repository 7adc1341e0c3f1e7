"""Terciles, RPS / fair RPS / RPSS, Brier scores, reliability table and ROC."""

import numpy as np
import pytest
import xarray as xr

from sowcast.errors import SowcastError
from sowcast.verify.categorical import (
    brier_score,
    brier_skill_score,
    fair_brier_score,
    fair_rps,
    observed_category,
    reliability_table,
    roc,
    rps,
    rpss,
    tercile_probabilities,
    weigel_correction,
)


def _line(values, dim="x"):
    return xr.DataArray(np.asarray(values, dtype=float), dims=dim)


def _probs(rows):
    return xr.DataArray(np.asarray(rows, dtype=float), dims=("x", "category"),
                        coords={"category": ["below", "near", "above"]})


# ---------------------------------------------------------------- terciles
def test_tercile_probabilities_count_boundaries_as_near():
    # lower = 1, upper = 2: members 0 | 1 1.5 2 | 3  ->  1/5, 3/5, 1/5.
    ens = xr.DataArray([[0.0, 1.0, 1.5, 2.0, 3.0]], dims=("x", "member"))
    p = tercile_probabilities(ens, 1.0, 2.0)
    assert p.dims == ("x", "category")
    assert list(p["category"].values) == ["below", "near", "above"]
    np.testing.assert_allclose(p.sel(x=0), [0.2, 0.6, 0.2])
    np.testing.assert_allclose(observed_category(_line([1.0, 2.0, 0.5, 2.5]), 1.0, 2.0),
                               [[0, 1, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1]])


def test_tercile_probabilities_missing_members_and_per_point_boundaries():
    ens = xr.DataArray([[0.0, 5.0], [0.0, np.nan]], dims=("x", "member"))
    lower, upper = _line([1.0, 1.0]), _line([2.0, 2.0])
    p = tercile_probabilities(ens, lower, upper)
    np.testing.assert_allclose(p, [[0.5, 0, 0.5], [np.nan] * 3])
    np.testing.assert_allclose(tercile_probabilities(ens, lower, upper, skipna=True)[1], [1, 0, 0])
    assert np.isnan(observed_category(_line([np.nan]), 1.0, 2.0)).all()
    with pytest.raises(SowcastError, match="lower"):
        tercile_probabilities(ens, 3.0, 2.0)


# ---------------------------------------------------------------- RPS
def test_rps_by_hand():
    obs = _probs([[0, 0, 1], [0, 1, 0], [0, 0, 1]])
    # perfect: 0; equal odds vs "above": (1/3)^2 + (2/3)^2 = 5/9; vs "near": (1/3)^2 + (1/3)^2 = 2/9;
    # (0.2, 0.3, 0.5) vs "above": cumulative 0.2, 0.5 against 0, 0: 0.04 + 0.25 = 0.29.
    np.testing.assert_allclose(rps(obs, obs), 0.0)
    clim = _probs([[1 / 3] * 3] * 3)
    np.testing.assert_allclose(rps(clim, obs), [5 / 9, 2 / 9, 5 / 9])
    assert float(rps(_probs([[0.2, 0.3, 0.5]]), _probs([[0, 0, 1]]))[0]) == pytest.approx(0.29)
    assert float(rps(clim, obs, dims="x")) == pytest.approx(4 / 9)


def test_rps_orders_categories_and_checks_sums():
    obs = _probs([[0, 0, 1]])
    shuffled = _probs([[0.2, 0.3, 0.5]]).sel(category=["above", "below", "near"])
    assert float(rps(shuffled, obs)[0]) == pytest.approx(0.29)
    with pytest.raises(SowcastError, match="add up to 1"):
        rps(_probs([[0.5, 0.5, 0.5]]), obs)


def test_fair_rps_by_hand():
    # 2 members {below, above} vs "near": cumulative P = 0.5, 0.5; O = 0, 1  ->  RPS 0.25 + 0.25 = 0.5;
    # fair: each term less 0.5 * 0.5 / (2 - 1) = 0.25  ->  0.
    p, o = _probs([[0.5, 0, 0.5]]), _probs([[0, 1, 0]])
    assert float(rps(p, o)[0]) == pytest.approx(0.5)
    assert float(fair_rps(p, o, 2)[0]) == pytest.approx(0.0)
    with pytest.raises(SowcastError, match="at least 2 members"):
        fair_rps(p, o, 1)


def test_rpss_of_climatology_against_itself_is_zero_and_perfect_is_one():
    obs = _probs([[0, 0, 1], [1, 0, 0], [0, 1, 0]])
    clim = rps(_probs([[1 / 3] * 3] * 3), obs)
    assert float(rpss(clim, clim)) == pytest.approx(0.0)
    assert float(rpss(rps(obs, obs), clim)) == pytest.approx(1.0)
    # a reference with score 0 leaves the skill undefined
    assert np.isnan(float(rpss(clim, rps(obs, obs))))


def test_small_ensembles_fair_rps_and_weigel_correction_remove_the_size_penalty():
    # 3 members drawn from climatology: expected RPS_clim = 4/9, extra penalty D = 4/(9*3) = 4/27,
    # so the plain RPSS is -(4/27)/(4/9) = -1/3, while the fair RPSS and RPSS_D are 0.
    rng = np.random.default_rng(5)
    n, m = 60_000, 3
    ens = xr.DataArray(rng.normal(size=(n, m)), dims=("x", "member"))
    truth = _line(rng.normal(size=n))
    lo, hi = -0.4307272992954576, 0.4307272992954576  # terciles of N(0, 1)
    prob, obs = tercile_probabilities(ens, lo, hi), observed_category(truth, lo, hi)
    ref = rps(xr.full_like(prob, 1 / 3), obs)
    assert weigel_correction(m) == pytest.approx(4 / 27)
    assert float(rpss(rps(prob, obs), ref)) == pytest.approx(-1 / 3, abs=0.02)
    assert float(rpss(fair_rps(prob, obs, m), ref)) == pytest.approx(0.0, abs=0.02)
    assert float(rpss(rps(prob, obs), ref, correction=weigel_correction(m))) == pytest.approx(0.0, abs=0.02)


# ---------------------------------------------------------------- Brier
def test_brier_scores_by_hand():
    p, o = _line([0.7, 0.7]), _line([1, 0])
    # (0.3)^2 = 0.09, (0.7)^2 = 0.49, mean 0.29; fair with M = 10: less 0.7 * 0.3 / 9 each.
    np.testing.assert_allclose(brier_score(p, o), [0.09, 0.49])
    assert float(brier_score(p, o, "x")) == pytest.approx(0.29)
    assert float(fair_brier_score(p, o, 10, "x")) == pytest.approx(0.29 - 0.21 / 9)
    assert float(brier_skill_score(brier_score(o, o), brier_score(p, o))) == pytest.approx(1.0)
    assert float(brier_score(_line([0.5, np.nan]), _line([1, 1]), "x")) == pytest.approx(0.25)
    with pytest.raises(SowcastError, match="0 or 1"):
        brier_score(p, _line([0.5, 1]))
    with pytest.raises(SowcastError, match=r"\[0, 1\]"):
        brier_score(_line([1.2, 0.0]), o)
    with pytest.raises(SowcastError, match="at least 2 members"):
        fair_brier_score(p, o, 1)


def test_brier_scores_match_scores():
    scores = pytest.importorskip("scores")
    rng = np.random.default_rng(6)
    ens = xr.DataArray(rng.normal(size=(3, 50, 9)), dims=("period", "start", "member"),
                       coords={"period": ["week1", "week2", "week3"]})
    truth = xr.DataArray(rng.normal(size=(3, 50)), dims=("period", "start"),
                         coords={"period": ["week1", "week2", "week3"]})
    prob, event = (ens >= 0.5).mean("member"), (truth >= 0.5).astype(float)
    ref = scores.probability.brier_score(prob, event, preserve_dims="period")
    np.testing.assert_allclose(brier_score(prob, event, "start"), ref, rtol=1e-12)
    ref_fair = scores.probability.brier_score_for_ensemble(ens, truth, "member", 0.5, preserve_dims="period")
    np.testing.assert_allclose(fair_brier_score(prob, event, 9, "start"), ref_fair.squeeze(drop=True),
                               rtol=1e-12)


# ---------------------------------------------------------------- reliability
def test_reliability_table_bins_and_counts():
    # 5 bins of 0.2: 0.0, 0.1 -> bin 0; 0.2 (on an edge) -> bin 1; 0.5 -> bin 2; 1.0 -> the last bin.
    p = _line([0.0, 0.1, 0.2, 0.5, 0.5, 1.0, np.nan])
    o = _line([0, 1, 0, 1, 1, 1, 1])
    t = reliability_table(p, o, bins=5)
    np.testing.assert_allclose(t["bin_lower"], [0, 0.2, 0.4, 0.6, 0.8])
    np.testing.assert_array_equal(t["count"], [2, 1, 2, 0, 1])
    np.testing.assert_allclose(t["forecast_probability"], [0.05, 0.2, 0.5, np.nan, 1.0])
    np.testing.assert_allclose(t["observed_frequency"], [0.5, 0.0, 1.0, np.nan, 1.0])


def test_reliability_table_keeps_other_dims():
    p = xr.DataArray([[0.1, 0.9], [0.1, 0.1]], dims=("period", "x"), coords={"period": ["week1", "week2"]})
    o = xr.DataArray([[0, 1], [1, 1]], dims=("period", "x"), coords={"period": ["week1", "week2"]})
    t = reliability_table(p, o, bins=2, dims="x")
    assert t["count"].dims == ("period", "bin")
    np.testing.assert_array_equal(t["count"], [[1, 1], [2, 0]])
    np.testing.assert_allclose(t["observed_frequency"].sel(period="week2"), [1.0, np.nan])


# ---------------------------------------------------------------- ROC
def test_roc_area_perfect_constant_and_by_hand():
    o = _line([0, 0, 1, 1])
    assert float(roc(o, o).roc_area) == pytest.approx(1.0)
    assert float(roc(_line([0.3] * 4), o).roc_area) == pytest.approx(0.5)
    assert float(roc(1 - o, o).roc_area) == pytest.approx(0.0)
    # p = 0.1, 0.6, 0.4, 0.8 for events 0, 0, 1, 1; thresholds 0.5:
    # H = 1/2, F = 1/2; points (1,1), (0.5,0.5), (0,0): area 0.5.  With all distinct values:
    # (F, H) = (1,1), (0.5,1), (0.5,0.5), (0,0.5): area 0.5*1 + 0.5*0.5 = 0.75.
    p = _line([0.1, 0.6, 0.4, 0.8])
    r = roc(p, o, thresholds=[0.5])
    assert float(r.hit_rate[0]) == pytest.approx(0.5) and float(r.false_alarm_rate[0]) == pytest.approx(0.5)
    assert float(r.roc_area) == pytest.approx(0.5)
    assert float(roc(p, o).roc_area) == pytest.approx(0.75)


def test_roc_without_events_or_non_events_is_nan():
    for event in ([0, 0, 0], [1, 1, 1]):
        r = roc(_line([0.2, 0.5, 0.9]), _line(event))
        assert np.isnan(float(r.roc_area))
    # per period: one period has no events, the other is fine
    p = xr.DataArray([[0.2, 0.8], [0.2, 0.8]], dims=("period", "x"))
    o = xr.DataArray([[0, 1], [0, 0]], dims=("period", "x"))
    np.testing.assert_allclose(roc(p, o, dims="x").roc_area, [1.0, np.nan])


@pytest.mark.parametrize("thresholds", [None, [i / 100 for i in range(1, 100)]])
def test_roc_counts_equal_the_definition_threshold_by_threshold(thresholds):
    """Hits and false alarms at every threshold, by the definition's loop, on member fractions
    with ties, continuous values and missing points, pooled over two of three dims."""
    rng = np.random.default_rng(5)
    fractions = rng.integers(0, 9, (3, 4, 50)) / 8
    p = np.where(rng.random((3, 4, 50)) < 0.5, fractions, rng.random((3, 4, 50)))
    p[rng.random(p.shape) < 0.1] = np.nan
    o = (rng.random(p.shape) < p).astype(float)
    o[0] = 0                                                      # period "a": no events, H is NaN
    prob = xr.DataArray(p, dims=("period", "lat", "lon"), coords={"period": ["a", "b", "c"]})
    event = xr.DataArray(o, dims=prob.dims, coords=prob.coords)
    r = roc(prob, event, thresholds, dims=("lat", "lon"))
    ts = np.unique(p[np.isfinite(p)]) if thresholds is None else np.asarray(thresholds)
    for i in range(3):
        pi, oi = p[i][np.isfinite(p[i])], o[i][np.isfinite(p[i])]
        for j, t in enumerate(ts):
            hit = ((pi >= t) & (oi == 1)).sum() / (oi == 1).sum() if (oi == 1).any() else np.nan
            false = ((pi >= t) & (oi == 0)).sum() / (oi == 0).sum()
            np.testing.assert_allclose(r.hit_rate.isel(period=i, threshold=j), hit)
            np.testing.assert_allclose(r.false_alarm_rate.isel(period=i, threshold=j), false)
    assert r.hit_rate.dims == ("period", "threshold") and list(r.period.values) == ["a", "b", "c"]
    assert int(r.n_events.sel(period="b")) == int((o[1][np.isfinite(p[1])] == 1).sum())


def test_roc_area_matches_scores():
    scores = pytest.importorskip("scores")
    rng = np.random.default_rng(7)
    p = xr.DataArray(rng.integers(0, 11, size=(2, 400)) / 10, dims=("period", "x"))
    o = xr.DataArray((rng.random((2, 400)) < p).astype(float), dims=("period", "x"))
    ours = roc(p, o, dims="x")
    # the exact curve (all distinct probabilities) equals the Mann-Whitney area, ties halved
    ref = scores.probability.roc_auc(p, o, preserve_dims="period")
    np.testing.assert_allclose(ours.roc_area, ref, rtol=1e-12)
    # with given thresholds, the same trapezoid as scores' ROC curve
    thresholds = [0.0, 0.25, 0.5, 0.75, 1.0]
    curve = scores.probability.roc_curve_data(p, o, thresholds, preserve_dims="period")
    np.testing.assert_allclose(roc(p, o, thresholds, dims="x").roc_area, curve["AUC"], rtol=1e-12)
