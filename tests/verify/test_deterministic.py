"""Deterministic scores and area weights: hand-worked values, NaN pairs, dims, `scores`."""

import numpy as np
import pytest
import xarray as xr

from sowcast.errors import SowcastError
from sowcast.verify.deterministic import acc, bias, mae, rmse
from sowcast.verify.weights import lat_weights, weighted_mean


def _line(values, dim="x", **coords):
    return xr.DataArray(np.asarray(values, dtype=float), dims=dim, coords=coords)


def test_lat_weights_are_cos_normalised_to_mean_one():
    # cos(0) = 1, cos(60) = 0.5, mean 0.75  ->  weights 4/3 and 2/3.
    w = lat_weights(_line([0.0, 60.0], "lat"))
    np.testing.assert_allclose(w, [4 / 3, 2 / 3])
    assert float(w.mean()) == pytest.approx(1.0)
    # A pole row has no area.
    assert float(lat_weights(_line([90.0, 0.0], "lat"))[0]) == 0.0
    with pytest.raises(SowcastError):
        lat_weights(_line([0.0, 95.0], "lat"))


def test_weighted_mean_weights_lat_only_when_lat_is_reduced():
    x = xr.DataArray([[1.0, 1.0], [4.0, 4.0]], dims=("lat", "lon"), coords={"lat": [0.0, 60.0]})
    # (4/3 * 1 + 2/3 * 4) / 2 = 2, the plain mean would be 2.5.
    assert float(weighted_mean(x, ("lat", "lon"))) == pytest.approx(2.0)
    np.testing.assert_allclose(weighted_mean(x, "lon"), [1.0, 4.0])
    # NaN skipped: the weights are renormalised over the finite points.
    assert float(weighted_mean(x.where(x < 4), ("lat", "lon"))) == pytest.approx(1.0)
    with pytest.raises(SowcastError, match="cannot reduce"):
        weighted_mean(x, "time")


def test_rmse_bias_mae_by_hand():
    f, o = _line([1, 2, 3]), _line([1, 0, 4])
    # errors 0, 2, -1: RMSE sqrt(5/3), bias 1/3, MAE 1.
    assert float(rmse(f, o, "x")) == pytest.approx(np.sqrt(5 / 3))
    assert float(bias(f, o, "x")) == pytest.approx(1 / 3)
    assert float(mae(f, o, "x")) == pytest.approx(1.0)


def test_rmse_lat_weighted_by_hand():
    f = _line([1.0, 2.0], "lat", lat=[0.0, 60.0])
    o = xr.zeros_like(f)
    # mean_w(e^2) = (4/3 * 1 + 2/3 * 4) / 2 = 2.
    assert float(rmse(f, o, "lat")) == pytest.approx(np.sqrt(2.0))


def test_a_pair_counts_only_where_both_are_finite():
    f, o = _line([1.0, np.nan, 3.0]), _line([2.0, 5.0, np.nan])
    # Only the first pair: error -1.
    assert float(rmse(f, o, "x")) == pytest.approx(1.0)
    assert float(bias(f, o, "x")) == pytest.approx(-1.0)
    assert np.isnan(float(rmse(_line([np.nan]), _line([1.0]), "x")))


def test_other_dims_are_preserved():
    f = xr.DataArray(np.ones((2, 3, 4)), dims=("period", "start", "lat"),
                     coords={"period": ["week1", "week2"], "lat": [0.0, 5.0, 10.0, 15.0]})
    o = f.copy()
    o[1] = 3.0
    out = rmse(f, o, ("start", "lat"))
    assert out.dims == ("period",)
    np.testing.assert_allclose(out, [0.0, 2.0])
    assert list(out["period"].values) == ["week1", "week2"]


def test_acc_by_hand():
    clim = _line([0.0, 0.0])
    assert float(acc(_line([1, -1]), _line([2, -2]), clim, "x")) == pytest.approx(1.0)
    assert float(acc(_line([1, -1]), _line([-1, 1]), clim, "x")) == pytest.approx(-1.0)
    # sum f'o' = 1, sum f'^2 = 1, sum o'^2 = 2  ->  1/sqrt(2); uncentred.
    assert float(acc(_line([1, 0]), _line([1, 1]), clim, "x")) == pytest.approx(1 / np.sqrt(2))
    # Anomalies are taken against the climatology c, not against zero.
    c = _line([5.0, 6.0])
    assert float(acc(c + 1, c + 2, c, "x")) == pytest.approx(1.0)


def test_acc_matches_the_weighted_formula():
    rng = np.random.default_rng(1)
    coords = {"lat": np.linspace(-30, 30, 5)}
    f, o, c = (xr.DataArray(rng.normal(size=(5, 6)), dims=("lat", "lon"), coords=coords) for _ in range(3))
    w = np.cos(np.deg2rad(coords["lat"]))[:, None]
    fa, oa = f.values - c.values, o.values - c.values
    expected = (w * fa * oa).sum() / np.sqrt((w * fa**2).sum() * (w * oa**2).sum())
    assert float(acc(f, o, c, ("lat", "lon"))) == pytest.approx(expected)


def test_mismatched_coordinates_are_an_error_not_a_silent_cut():
    f = _line([1.0, 2.0], "lat", lat=[0.0, 1.0])
    o = _line([1.0, 2.0], "lat", lat=[0.0, 2.0])
    with pytest.raises(SowcastError, match="coordinates"):
        rmse(f, o, "lat")


def test_rmse_matches_scores_with_lat_weights():
    scores = pytest.importorskip("scores")
    rng = np.random.default_rng(2)
    coords = {"period": ["week1", "week2", "week3"], "lat": np.linspace(0, 20, 6)}
    dims = ("period", "start", "lat", "lon")
    f = xr.DataArray(rng.normal(size=(3, 8, 6, 5)), dims=dims, coords=coords)
    o = xr.DataArray(rng.normal(size=(3, 8, 6, 5)), dims=dims, coords=coords)
    ours = rmse(f, o, ("start", "lat", "lon"))
    ref = scores.continuous.rmse(f, o, preserve_dims="period", weights=np.cos(np.deg2rad(f["lat"])))
    np.testing.assert_allclose(ours, ref.transpose(*ours.dims), rtol=1e-12)
