"""The skill's interval over the years (sowcast.verify.resampling): a block bootstrap of years,
checked against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sowcast.verify.categorical import skill_score
from sowcast.verify.resampling import year_sums

SPATIAL = ("start", "lat", "lon")


def scores(starts, seed=0, reference_shift=0.3):
    rng = np.random.default_rng(seed)
    shape = (len(starts), 2, 3, 4)
    coords = {"start": pd.to_datetime(starts), "period": ["week1", "weeks3-4"], "lat": [0.0, 30.0, 60.0],
              "lon": np.arange(4.0)}
    dims = ("start", "period", "lat", "lon")
    s = xr.DataArray(rng.random(shape), dims=dims, coords=coords)
    r = xr.DataArray(rng.random(shape) + reference_shift, dims=dims, coords=coords)
    s[0, 0, 0, 0] = np.nan                 # a missing point is left out of both sums
    return s, r


def test_the_year_sums_give_back_the_scorecards_skill():
    """1 - sum_y S_y / sum_y R_y (area-weighted, finite points) is skill_score's figure."""
    s, r = scores(["2009-05-01", "2009-05-15", "2010-05-01", "2011-06-01"])
    sums = year_sums(s, r, SPATIAL)
    years, sy, ry = sums.years, sums.numerator, sums.denominator
    assert list(years) == [2009, 2010, 2011] and sy.shape == (3, 2)
    np.testing.assert_allclose(1 - sy.sum(0) / ry.sum(0), skill_score(s, r, SPATIAL).values, rtol=1e-12)
    own = sums.per_year(skill=True)
    assert own.dims == ("year", "period") and list(own["year"].values) == [2009, 2010, 2011]
    for k, year in enumerate(years):   # and each year's own
        one = s.start.dt.year == year
        expected = skill_score(s.sel(start=one), r.sel(start=one), SPATIAL).values
        np.testing.assert_allclose(1 - sy[k] / ry[k], expected, rtol=1e-12)
        np.testing.assert_allclose(own.sel(year=year).values, expected, rtol=1e-12)


def test_two_years_give_the_range_between_their_own_skills():
    """Draws of 2 years: both the worse (1/4), one of each (1/2), both the better (1/4), so the
    5th and 95th percentiles are the two years' own skills."""
    s, r = scores(["2009-05-01", "2009-05-15", "2010-05-01"])
    low, high = year_sums(s, r, SPATIAL).interval(skill=True)
    own = [skill_score(s.sel(start=s.start.dt.year == y), r.sel(start=s.start.dt.year == y), SPATIAL).values
           for y in (2009, 2010)]
    np.testing.assert_allclose(low.values, np.minimum(*own), rtol=1e-12)
    np.testing.assert_allclose(high.values, np.maximum(*own), rtol=1e-12)
    assert list(low["period"].values) == ["week1", "weeks3-4"]


def test_a_means_interval_over_two_years_runs_between_the_years_means():
    """The onset's MAE and bias: plain means over (start, point) cases, NaN where no pair."""
    rng = np.random.default_rng(3)
    starts = pd.to_datetime(["2009-05-01", "2009-05-15", "2010-05-01"])
    error = xr.DataArray(rng.normal(-5.0, 8.0, (3, 40)), dims=("start", "point"), coords={"start": starts})
    error[1, :10] = np.nan
    low, high = year_sums(error, None, ["start", "point"]).interval()
    own = [float(error.sel(start=error.start.dt.year == y).mean()) for y in (2009, 2010)]
    assert float(low) == pytest.approx(min(own), rel=1e-12) and float(high) == pytest.approx(max(own), rel=1e-12)
    assert float(low) <= float(error.mean()) <= float(high)


def test_the_interval_holds_the_skill_narrows_with_years_and_is_the_same_each_time():
    few = scores([f"{y}-05-01" for y in range(2001, 2005)], seed=1)
    many = scores([f"{y}-05-01" for y in range(1981, 2021)], seed=1)
    widths = []
    for s, r in (few, many):
        low, high = year_sums(s, r, SPATIAL).interval(skill=True)
        skill = skill_score(s, r, SPATIAL)
        assert (low <= skill).all() and (skill <= high).all()
        widths.append(float((high - low).mean()))
        again = year_sums(s, r, SPATIAL).interval(skill=True)
        assert again[0].equals(low) and again[1].equals(high)      # seeded
    assert widths[1] < 0.8 * widths[0]


def test_years_with_the_same_skill_leave_no_room_and_one_year_gives_none():
    s, r = scores(["2009-05-01", "2010-05-01", "2011-05-01"])
    same = xr.concat([s.isel(start=[0])] * 3, "start").assign_coords(start=s.start)
    ref = xr.concat([r.isel(start=[0])] * 3, "start").assign_coords(start=r.start)
    low, high = year_sums(same, ref, SPATIAL).interval(skill=True)
    np.testing.assert_allclose(low.values, high.values, rtol=1e-12)
    low, high = year_sums(s.isel(start=[0]), r.isel(start=[0]), SPATIAL).interval(skill=True)
    assert np.isnan(low.values).all() and np.isnan(high.values).all() and math.isnan(float(low[0]))


def test_verify_writes_each_skill_scores_interval_over_the_years(chain, tmp_path, capsys):
    """A real ``sowcast verify`` of the chain's hindcasts (2000 and 2001): every RPSS and BSS row
    has an interval that holds its skill, the headline's are in summary.json and printed."""
    import json

    from sowcast.cli import verify_command
    from sowcast.cli.main import compose

    out = tmp_path / "scorecard"
    verify_command.run(compose([
        f"verify.hindcast={chain['hindcast']}", f"verify.truth={chain['store']}",
        f"verify.climatology={chain['hindcast'] / 'climatology.nc'}", f"verify.output={out}"]))
    frame = pd.read_csv(out / "scores.csv")
    skill_rows = frame[frame.metric.str.startswith(("rpss", "bss")) & np.isfinite(frame.value)]
    assert len(skill_rows) > 20
    assert (np.isfinite(skill_rows.low) & np.isfinite(skill_rows.high)).all()
    assert ((skill_rows.low <= skill_rows.value + 1e-12) & (skill_rows.value <= skill_rows.high + 1e-12)).all()
    # the means and ratios of sums have theirs too (RMSE, bias, CRPS, spread/skill); a correlation none
    means = frame[frame.metric.isin(["rmse", "bias", "crps", "spread_skill"]) & np.isfinite(frame.value)]
    assert set(means.metric) == {"rmse", "bias", "crps", "spread_skill"} and len(means) >= 16
    assert ((means.low <= means.value + 1e-9) & (means.value <= means.high + 1e-9)).all()
    assert (means[means.metric != "bias"].low > 0).all()
    assert frame[frame.metric == "acc"].low.isna().all()
    summary = json.loads((out / "summary.json").read_text())
    week1 = frame[(frame.metric == "rpss") & (frame.variable == "total_precipitation") & (frame.period == "week1")]
    np.testing.assert_allclose(summary["weekly_rain_interval"]["rpss week1"],
                               [week1.low.iloc[0], week1.high.iloc[0]])
    low, high = summary["onset_interval"]["bias_days"]
    assert summary["onset_cases"] > 0 and low <= summary["onset_bias_days"] <= high
    # the mean date's bias, beside the median's: its own row, interval and climatological reference
    low, high = summary["onset_interval"]["mean_bias_days"]
    assert low <= summary["onset_mean_bias_days"] <= high
    assert np.isfinite(summary["onset_mean_bias_days_climatology"])
    skill = 1 - summary["onset_mae_days"] / summary["onset_mae_days_climatology"]
    low, high = summary["onset_interval"]["mae_skill"]
    assert low <= skill + 1e-9 and skill <= high + 1e-9
    row = frame[frame.metric == "onset_mae_skill"].iloc[0]
    assert row.value == pytest.approx(skill) and row.low == low
    # the chance of onset by each week: its Brier skill as its own row, with an interval that holds it
    bss = frame[frame.metric == "onset_by_week_bss"].set_index("period")
    brier = frame[frame.metric == "onset_by_week_brier"].set_index("period")
    assert len(bss) >= 1 and list(bss.index) == list(brier.index)
    np.testing.assert_allclose(bss.value, brier.skill, rtol=1e-12)
    sure = bss[np.isfinite(bss.value)]
    assert len(sure) >= 1 and (np.isfinite(sure.low) & np.isfinite(sure.high)).all()
    assert ((sure.low <= sure.value + 1e-9) & (sure.value <= sure.high + 1e-9)).all()
    # each year's own figures: with two years the interval runs from the lower to the higher
    years = pd.read_csv(out / "scores_by_year.csv")
    assert set(years.year) == {2000, 2001}
    for _, row in frame[frame.metric.str.startswith(("rpss", "bss", "onset_mae_skill", "onset_bias", "onset_mean_bias", "rmse",
                                                        "bias", "crps", "spread_skill"))].iterrows():
        own = years[(years.metric == row.metric) & (years.variable == row.variable) & (years.period == row.period)]
        if np.isfinite(row.low):
            assert len(own) == 2
            assert row.low == pytest.approx(own.value.min(), rel=1e-9, abs=1e-12)
            assert row.high == pytest.approx(own.value.max(), rel=1e-9, abs=1e-12)
    # the weeks whose usual chances missed in both years (a year whose usual chances were perfect
    # has no skill of its own, and the pooled draw then lies outside the other year's)
    for week, row in sure.iterrows():
        own = years[(years.metric == "onset_by_week_bss") & (years.period == week)]
        assert len(own) == 2
        if np.isfinite(own.value).all():
            assert (row.low, row.high) == pytest.approx((own.value.min(), own.value.max()), rel=1e-9, abs=1e-12)
    printed = capsys.readouterr().out
    assert f"week1 {week1.value.iloc[0]:+.3f} [{week1.low.iloc[0]:+.3f}, {week1.high.iloc[0]:+.3f}]" in printed
    assert f"the mean date's {summary['onset_mean_bias_days']:+.1f}" in printed


def test_the_spread_skill_ratio_and_rmse_of_each_year_and_their_interval():
    """The ratio-of-sums scores' year figures are the scores of each year's starts alone, and
    with two years the interval runs between them (spread/skill through its square root)."""
    from sowcast.verify.deterministic import rmse
    from sowcast.verify.ensemble import spread_skill_ratio
    from sowcast.verify.reforecasts import _add_mean_score
    from sowcast.verify.scorecard import Scorecard

    rng = np.random.default_rng(5)
    starts = pd.to_datetime(["2009-05-01", "2009-05-15", "2010-05-01", "2010-05-15"])
    coords = {"start": starts, "member": np.arange(3), "period": ["week1", "weeks3-4"], "lat": [0.0, 30.0, 60.0],
              "lon": np.arange(4.0)}
    f = xr.DataArray(rng.normal(size=(4, 3, 2, 3, 4)), dims=tuple(coords), coords=coords)
    f = f * xr.DataArray([0.5, 0.5, 2.0, 2.0], dims="start", coords={"start": starts})   # 2010 spread wider
    o = xr.DataArray(rng.normal(size=(4, 2, 3, 4)), dims=("start", "period", "lat", "lon"),
                     coords={k: v for k, v in coords.items() if k != "member"})
    error = f.mean("member") - o
    card = Scorecard()
    _add_mean_score(card, "spread_skill", "x", spread_skill_ratio(f, o, SPATIAL),
                    year_sums(f.var("member", ddof=1), error ** 2, SPATIAL), lambda r: np.sqrt(4 / 3 * r),
                    perfect=1.0)
    _add_mean_score(card, "rmse", "x", rmse(f.mean("member"), o, SPATIAL), year_sums(error ** 2, None, SPATIAL),
                    np.sqrt)
    frame, years = card.to_frame(), card.by_year_frame()
    for metric, score in (("spread_skill", lambda y: spread_skill_ratio(f.sel(start=y), o.sel(start=y), SPATIAL)),
                          ("rmse", lambda y: rmse(f.sel(start=y).mean("member"), o.sel(start=y), SPATIAL))):
        for year in ("2009", "2010"):
            own = years[(years.metric == metric) & (years.year == int(year))].set_index("period")["value"]
            np.testing.assert_allclose(own[["week1", "weeks3-4"]].values, score(year).values, rtol=1e-10)
        rows = frame[frame.metric == metric].set_index("period")
        both = years[years.metric == metric].groupby("period")["value"]
        np.testing.assert_allclose(rows["low"].values, both.min()[rows.index].values, rtol=1e-10)
        np.testing.assert_allclose(rows["high"].values, both.max()[rows.index].values, rtol=1e-10)
    spread = frame[frame.metric == "spread_skill"]
    assert (spread.high > spread.low * 1.5).all()      # the two years' spreads differ fourfold
