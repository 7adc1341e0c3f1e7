"""Onset errors (MAE, bias, hit rate with tolerance, missing onsets) and onset-by-date Brier."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sowcast.errors import SowcastError
from sowcast.verify.onset_scores import onset_by_date_brier, onset_errors


def _dates(values, dim="x"):
    return xr.DataArray(pd.to_datetime(values).values, dims=dim)


def _days(values, dim="x"):
    return xr.DataArray(np.asarray(values, dtype=float), dims=dim)


def test_onset_errors_by_hand_with_missing_onsets():
    # pairs: +3 days, -7 days (on the tolerance: a hit), +8 days (a miss);
    # then both missing (a hit), forecast missing (missed onset), observed missing (false onset).
    fc = _dates(["2020-05-04", "2020-05-03", "2020-06-09", "NaT", "NaT", "2020-05-20"])
    ob = _dates(["2020-05-01", "2020-05-10", "2020-06-01", "NaT", "2020-05-15", "NaT"])
    r = onset_errors(fc, ob)
    assert float(r.mae) == pytest.approx((3 + 7 + 8) / 3)
    assert float(r.bias) == pytest.approx((3 - 7 + 8) / 3)
    assert float(r.hit_rate) == pytest.approx(3 / 6)
    assert (int(r.n_cases), int(r.n_pairs), int(r.n_both_missing)) == (6, 3, 1)
    assert (int(r.n_missed_onset), int(r.n_false_onset)) == (1, 1)


def test_tolerance_is_a_parameter_and_inclusive():
    fc, ob = _days([130.0, 137.5]), _days([123.0, 130.0])
    assert float(onset_errors(fc, ob).hit_rate) == pytest.approx(0.5)  # 7 hit, 7.5 miss
    assert float(onset_errors(fc, ob, tolerance=10).hit_rate) == pytest.approx(1.0)


def test_valid_mask_and_dims():
    fc = xr.DataArray([[130.0, np.nan], [150.0, 140.0]], dims=("period", "x"), coords={"period": ["a", "b"]})
    ob = xr.DataArray([[128.0, 150.0], [140.0, 141.0]], dims=("period", "x"), coords={"period": ["a", "b"]})
    valid = xr.DataArray([True, False], dims="x")  # the second point has no data at all
    r = onset_errors(fc, ob, dims="x", valid=valid)
    np.testing.assert_allclose(r.mae, [2.0, 10.0])
    np.testing.assert_allclose(r.hit_rate, [1.0, 0.0])
    np.testing.assert_array_equal(r.n_cases, [1, 1])


def test_dates_and_day_numbers_do_not_mix():
    with pytest.raises(SowcastError, match="one kind"):
        onset_errors(_dates(["2020-05-01"]), _days([120.0]))


def test_onset_by_date_brier_by_hand():
    # dates 10, 20; observed onsets 15 and none.
    # event "onset by 10": 0, 0; "by 20": 1, 0.
    # forecast P(by 10) = 0.2, 0.2; P(by 20) = 0.6, 0.5
    # BS(10) = (0.04 + 0.04)/2 = 0.04;  BS(20) = (0.16 + 0.25)/2 = 0.205.
    prob = xr.DataArray([[0.2, 0.6], [0.2, 0.5]], dims=("x", "date"), coords={"date": [10.0, 20.0]})
    obs = _days([15.0, np.nan])
    out = onset_by_date_brier(prob, obs)
    assert out.dims == ("date",)
    np.testing.assert_allclose(out, [0.04, 0.205])
    np.testing.assert_allclose(out["date"], [10.0, 20.0])


def test_onset_by_date_brier_with_dates_and_onset_on_the_date():
    dates = pd.to_datetime(["2020-05-01", "2020-05-15"]).values
    prob = xr.DataArray([[0.0, 1.0]], dims=("x", "date"), coords={"date": dates})
    obs = _dates(["2020-05-15"])  # on the date counts as "by" the date: a perfect forecast
    np.testing.assert_allclose(onset_by_date_brier(prob, obs), [0.0, 0.0])
    with pytest.raises(SowcastError, match="one kind"):
        onset_by_date_brier(prob, _days([135.0]))
    with pytest.raises(SowcastError, match="do not reduce"):
        onset_by_date_brier(prob, obs, dims=("x", "date"))
