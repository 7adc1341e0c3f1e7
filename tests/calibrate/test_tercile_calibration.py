"""Tercile calibration (extended logistic regression) on constructed data with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from sowcast.calibrate import tercile_regression as tr
from sowcast.calibrate.tercile_fit import box_sum, categories, fit_tercile_calibration

RNG_SEED = 20261203


def draw_categories(rng, p: np.ndarray) -> np.ndarray:
    u = rng.random(p.shape[:-1])
    return (u > p[..., 0]).astype(int) + (u > p[..., 0] + p[..., 1]).astype(int)


def test_fit_recovers_a_known_reliability_curve():
    rng = np.random.default_rng(RNG_SEED)
    true = np.array([-0.9, 0.5, -1.4])
    z = rng.normal(size=40_000)
    cat = draw_categories(rng, tr.probabilities(true, z))
    est = tr.fit(tr.bin_counts(z[:, None], cat[:, None], (1,)), ridge=0.0)[0]
    np.testing.assert_allclose(est, true, atol=0.06)
    # the fitted curve: P(above | z) against the true curve, at several z
    grid = np.linspace(-2, 2, 9)
    np.testing.assert_allclose(tr.probabilities(est, grid), tr.probabilities(true, grid), atol=0.02)


def test_probabilities_sum_to_one_and_stay_in_bounds():
    p = tr.bounded(tr.probabilities(np.array([-3.0, 3.0, 4.0]), np.linspace(-10, 10, 101)), 0.02)
    np.testing.assert_allclose(p.sum(-1), 1.0)
    assert p.min() >= 0.02 - 1e-12 and p.max() <= 0.96 + 1e-12
    with pytest.raises(ValueError):
        tr.bounded(p, 0.4)


def test_categories_follow_the_tie_rule():
    got = categories(np.array([0.0, 1.0, 2.0, 3.0, np.nan]), np.full(5, 1.0), np.full(5, 2.0))
    assert got.tolist() == [0, 1, 1, 2, -1]


def test_box_sum_pools_neighbours_without_wrapping():
    a = np.zeros((1, 5, 5))
    a[0, 0, 0] = 1.0
    out = box_sum(a, 1, axes=(1, 2))
    assert out[0, :2, :2].tolist() == [[1, 1], [1, 1]] and out.sum() == 4


def _samples(rng, n_years: int, per_year: int, signal: float, shape=(3, 3)):
    """z and categories with P(category | z) from slope ``signal`` (0: no skill)."""
    years = np.repeat(np.arange(2000, 2000 + n_years), per_year)
    z = rng.normal(size=(years.size, *shape))
    cat = draw_categories(rng, tr.probabilities(np.array([-0.69, 0.69, -signal]), z))
    return years, z, cat


def _rpss(p: np.ndarray, cat: np.ndarray) -> float:
    return 1.0 - np.nanmean(tr.rps(p, cat)) / np.nanmean(tr.rps(np.full(p.shape, 1 / 3), cat))


def _apply(fitted: dict, z: np.ndarray, floor: float = 0.02) -> np.ndarray:
    theta = np.stack([fitted["theta_lower"], fitted["theta_upper"], fitted["slope"]], -1)
    return tr.bounded(tr.probabilities(theta[None], z), floor)


def test_a_forecast_without_skill_calibrates_to_climatology():
    rng = np.random.default_rng(RNG_SEED)
    years, z, cat = _samples(rng, 8, 60, signal=0.0)
    raw = np.full((*z.shape, 3), 1 / 3)
    fitted = fit_tercile_calibration(z, cat, raw, years, neighbourhood=1)
    assert fitted["skillful"].mean() < 0.5
    _, z_new, cat_new = _samples(rng, 20, 200, signal=0.0)        # held-out years
    assert abs(_rpss(_apply(fitted, z_new), cat_new)) < 0.01


def test_a_perfect_forecast_keeps_its_skill():
    rng = np.random.default_rng(RNG_SEED)
    years = np.repeat(np.arange(2000, 2008), 60)
    z = rng.normal(size=(years.size, 3, 3))
    cat = np.where(z < -0.43, 0, np.where(z > 0.43, 2, 1))         # the category is known from z
    onehot = np.eye(3)[cat]
    fitted = fit_tercile_calibration(z, cat, onehot, years, neighbourhood=1)
    assert fitted["skillful"].all() and (fitted["cv_rpss"] > 0.6).all()
    z_new = rng.normal(size=(2000, 3, 3))
    cat_new = np.where(z_new < -0.43, 0, np.where(z_new > 0.43, 2, 1))
    p = _apply(fitted, z_new)
    assert _rpss(p, cat_new) > 0.6
    assert p.min() >= 0.02 - 1e-9 and p.max() <= 0.96 + 1e-9   # bounded all the same


def test_an_overconfident_raw_forecast_is_tempered():
    """Raw member fractions at 0/1 with a weak signal: raw RPSS negative, calibrated positive."""
    rng = np.random.default_rng(RNG_SEED)
    years, z, cat = _samples(rng, 8, 80, signal=0.6)
    raw = np.eye(3)[np.where(z < -0.43, 0, np.where(z > 0.43, 2, 1))]
    fitted = fit_tercile_calibration(z, cat, raw, years, neighbourhood=1)
    assert (fitted["raw_rpss"] < 0).all()
    assert (fitted["cv_rpss"] > 0).all() and fitted["skillful"].all()
    _, z_new, cat_new = _samples(rng, 10, 200, signal=0.6)
    assert _rpss(_apply(fitted, z_new), cat_new) > 0.02


def test_one_year_is_not_enough():
    from sowcast.errors import SowcastError

    z = np.zeros((10, 2, 2))
    with pytest.raises(SowcastError, match="at least 2 years"):
        fit_tercile_calibration(z, np.ones_like(z, int), np.full((10, 2, 2, 3), 1 / 3), np.full(10, 2001))


def test_constant_model_climatology_gives_no_anomaly_not_a_gap():
    """Where every hindcast gave the same value (a model bounded at 0 mm that never rains
    there), the anomaly is 0, so the products issue the regression's odds at z = 0 instead
    of no probability; an unknown value stays unknown."""
    from sowcast.calibrate.tercile_fit import standardised_anomaly

    z = standardised_anomaly(np.array([0.0, 3.0, 2.0, np.nan]), np.array([0.0, 0.0, 1.0, 1.0]),
                             np.array([0.0, 0.0, 2.0, 1.0]))
    np.testing.assert_array_equal(z[:3], [0.0, 0.0, 0.5])
    assert np.isnan(z[3])
