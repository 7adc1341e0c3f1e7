"""Scores of a set of reforecasts (``sowcast hindcast`` of held-out years) against the truth,
each beside its baseline: what ``sowcast verify`` reports.

Weekly and fortnightly aggregates (lead periods of :mod:`sowcast.products.periods`), per
variable and period, over every start and grid point (latitude-weighted):

* ``rmse`` of the ensemble mean, against climatology (the observed climatological mean of
  the start's pooled dates) and persistence (the observed aggregate over the same number of
  days up to the init date);
* ``bias`` of the ensemble mean (forecast minus truth; the drift of the weekly means), its
  reference the climatology's RMSE (the variability it should stay well inside);
* ``acc`` of the ensemble-mean anomaly (against the model climatology) with the observed
  anomaly (against the observed climatology), WeatherBench 2;
* ``crps`` (fair, Ferro 2014) and the ``spread_skill`` ratio (WeatherBench 2);
* the 90 % interval over the years (:mod:`sowcast.verify.resampling`) of every one of these
  but ``acc`` (a correlation is no ratio of two sums), and of the skill scores below;
* terciles: forecast probabilities are member fractions against the **model** climatology's
  bounds at that lead, the observed category against the **observed** climatology's
  terciles (S2S practice: each against its own climate, which removes the mean bias; with
  ties at 0 mm the model's bounds sit at the observed categories' climatological levels,
  :mod:`sowcast.products.terciles`); ``rpss`` from the fair RPS (Ferro 2014) with the
  probabilistic climatology as the reference: the observed categories' climatological
  frequencies (1/3 each where the terciles are distinct; e.g. 0 / 0.8 / 0.2 where 80 % of
  the weeks are dry), so that knowing a dry season is dry earns no skill;
  ``bss_below``/``bss_above`` from the fair Brier score against the same reference;
  ``roc_area_below``/``roc_area_above``; the reliability table of the above-normal category.
  Rain is scored where the products issue terciles: periods of the climatological dry season
  (:mod:`sowcast.products.dry_season`, ``dry_season_mm_per_day``) are left out, and
  ``<score>_all_points`` gives the same score over every point.

Onset of the rains (:func:`onset_cases`), at every grid point of ``region`` and every start
before the observed onset (the observations up to the start show no onset yet): each
member's series is the truth up to the start joined to the member's daily forecast, and its
onset follows the rules. The forecast is what the planting outlook issues: the chance of
onset by the end of week k (k = 1..6) is its ``onset_by_week_expected``
(:func:`sowcast.products.planting.expected_onset_by_week`: members with a confirmed onset by
then, plus members whose candidate the forecast's end left unchecked, weighted by the
climatological chance that the unknown days bring no disqualifying dry spell), calibrated
as the products calibrate it; the forecast onset date is the median of that distribution
(:func:`median_onset_day`: inside the six weeks where the chance reaches 1/2, else the
climatology of the onsets later than the sixth week; :mod:`sowcast.verify.onset_dates`).
The baseline is the climatological median of the past years' onsets later than the start
(the climatology knows that the season has not started yet; the past years are every year of
the truth but the start's own, cross-validated as WMO's SVS for long-range forecasts asks: the
planting outlook, issued in real time, takes every observed year before it, which is the same
thing for a forecast of this year) and, by week, the fraction of
those past years with an onset by then among those later than the start. Scores: MAE, bias and
hit rate within ``tolerance_days`` of the median date; the bias of the distribution's mean
date (``onset_mean_bias_days``, beside the climatological mean's: the median of a reliable
forecast is early on average, since the wait for the rains is skewed late); and the Brier
score of "onset by the end of week k". (Until 2026-12-06 the
forecast chance counted confirmed onsets only, which the 46 days cannot confirm after day 23
of the Sivakumar rules, and the onset calibration was fitted on that, not on what the
products blend; the date was the members' median, else the climatological date even when
the members said "not by then".)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.errors import SowcastError
from sowcast.products.climatology import climatology_for, day_of_year, day_of_year_in
from sowcast.products.onset_climatology import onset_by_week_climatology
from sowcast.products.periods import observed_periods
from sowcast.products.dry_season import DRY_SEASON_MM_PER_DAY, dry_season_mask, period_days
from sowcast.products.terciles import (
    climatological_category_probabilities,
    model_category_bounds,
    tercile_bounds,
    tercile_probabilities,
)
from sowcast.verify.categorical import (
    brier_score,
    fair_brier_score,
    fair_rps,
    observed_category,
    reliability_table,
    roc,
    rps,
    skill_score,
)
from sowcast.verify.deterministic import acc, bias, rmse
from sowcast.verify.ensemble import crps_ensemble, spread_skill_ratio
from sowcast.verify.onset_dates import mean_onset_day, median_onset_day
from sowcast.verify.onset_scores import onset_errors
from sowcast.verify.resampling import YearSums, year_sums
from sowcast.verify.scorecard import Scorecard, skill_from
from sowcast.verify.weights import weighted_mean

if TYPE_CHECKING:
    from sowcast.calibrate.onset_ocean import OceanPredictor

RAIN = "total_precipitation"
WEEKS = 6
SPATIAL = ("start", "lat", "lon")


def per_start_climatology(clim: xr.Dataset, starts: Sequence[np.datetime64]) -> xr.Dataset:
    """The climatology at each start's nearest start day, stacked on ``start``."""
    parts = [climatology_for(clim, s).drop_vars(["start_doy", "start_month_day", "n_starts"], errors="ignore")
             for s in starts]
    return xr.concat(parts, dim=xr.DataArray(np.asarray(starts, "datetime64[ns]"), dims="start", name="start"),
                     coords="minimal", compat="override", join="override")


def persistence_periods(truth_daily: xr.Dataset, starts: Sequence[np.datetime64], periods: xr.Dataset,
                        names: Sequence[str]) -> xr.Dataset:
    """The observed aggregate of the ``n`` days up to each start (``n`` = the period's length)."""
    from sowcast.products.daily import aggregation

    n_days = (periods["last_lead_day"] - periods["first_lead_day"] + 1).values
    out = {}
    for name in names:
        da = truth_daily[name]
        how = aggregation(name, da.attrs)
        rows = []
        for s in pd.DatetimeIndex(starts):
            cols = []
            for n in n_days:
                block = da.sel(time=slice(s - pd.Timedelta(days=int(n) - 1), s))
                ok = block.sizes["time"] == n
                agg = block.sum("time", skipna=False) if how == "sum" else block.mean("time", skipna=False)
                cols.append(agg if ok else agg.where(False))
            rows.append(xr.concat(cols, dim="period"))
        out[name] = xr.concat(rows, dim="start").assign_coords(start=np.asarray(starts, "datetime64[ns]"),
                                                                period=periods["period"].values)
    return xr.Dataset(out)


def calibrated_tercile_probabilities(forecast: xr.DataArray, clim: xr.Dataset, calibration: xr.Dataset,
                                     name: str, raw: xr.DataArray | None = None) -> xr.DataArray:
    """Calibrated tercile probabilities ``(start, period, lat, lon, category)`` of reforecasts:
    the products' rule (:func:`sowcast.calibrate.tercile_fit.calibrated_probabilities`) at
    every start, blended with the member fractions ``raw`` as the products do."""
    from sowcast.calibrate.tercile_fit import calibrated_probabilities, member_weight

    params = calibration.sel(period=forecast["period"].values)
    floor = float(calibration.attrs.get("probability_floor", 0.02))
    weight = member_weight(params, name, forecast.sizes["member"])
    return calibrated_probabilities(params, name, forecast.mean("member"), clim, floor, raw=raw,
                                    weight=weight).transpose(..., "category")


def _score_categories(card: Scorecard, name: str, prob: xr.DataArray, obs: xr.DataArray, reference: xr.DataArray,
                      members: int | None, suffix: str = "", where: xr.DataArray | None = None) -> xr.Dataset:
    """RPSS, BSS and ROC area of tercile probabilities (fair scores for member fractions of
    ``members``; plain for calibrated probabilities, ``members`` None) against the
    climatological ``reference`` probabilities, the skill scores with their 90 % interval over
    the years (:mod:`sowcast.verify.resampling`); the reliability table. Only points where
    ``where`` is true count (all if None)."""
    prob, obs = xr.align(prob, obs, join="exact")
    reference = reference.transpose(*prob.dims)
    if where is not None:
        where = where.broadcast_like(obs.isel(category=0, drop=True))
        obs = obs.where(where)
    def add_skill(metric: str, score: xr.DataArray, reference_score: xr.DataArray) -> None:
        sums = year_sums(score, reference_score, SPATIAL)
        card.add_scores(metric, name, skill_score(score, reference_score, SPATIAL), perfect=1.0,
                        interval=sums.interval(skill=True))
        card.add_by_year(metric, name, sums.per_year(skill=True))

    score = rps(prob, obs) if members is None else fair_rps(prob, obs, members)
    reference_rps = rps(reference, obs)
    add_skill(f"rpss{suffix}", score, reference_rps)
    if members is not None:   # the member fractions as a forecast of this many members issues them
        add_skill(f"rpss_as_issued{suffix}", rps(prob, obs), reference_rps)
    for cat in ("below", "above"):
        p, e, r = prob.sel(category=cat), obs.sel(category=cat), reference.sel(category=cat)
        bs = brier_score(p, e) if members is None else fair_brier_score(p, e, members)
        add_skill(f"bss_{cat}{suffix}", bs, brier_score(r, e))
        # calibrated probabilities are continuous: the curve at 1 % steps, not at every value
        thresholds = None if members is not None else [i / 100 for i in range(1, 100)]
        card.add_scores(f"roc_area_{cat}{suffix}", name, roc(p, e, thresholds, dims=SPATIAL)["roc_area"], perfect=1.0)
    bins = _member_bins(members) if members is not None else [i / 10 for i in range(11)]
    return reliability_table(prob.sel(category="above"), obs.sel(category="above"), bins=bins, dims=SPATIAL)


def _add_mean_score(card: Scorecard, metric: str, name: str, value: xr.DataArray, sums: YearSums,
                    transform=None, **keywords) -> None:
    """A score that is ``transform(N / D)`` of area-weighted sums (a mean, an RMSE, the
    spread/skill ratio) with its 90 % interval over the years and each year's own figure
    (:mod:`sowcast.verify.resampling`; a monotone ``transform`` keeps the percentiles)."""
    transform = transform or (lambda x: x)
    low, high = sums.interval()
    card.add_scores(metric, name, value, interval=(transform(low), transform(high)), **keywords)
    card.add_by_year(metric, name, transform(sums.per_year()))


def issued_points(clim: xr.Dataset, forecast: xr.DataArray, name: str, dry_mm_per_day: float) -> xr.DataArray | None:
    """True where the products issue terciles of ``name``: outside the climatological dry
    season for accumulated rain (:func:`sowcast.products.dry_season.dry_season_mask`); None
    (every point) for other variables or a threshold of 0."""
    if name != RAIN or not dry_mm_per_day:
        return None
    return dry_season_mask(clim, period_days(forecast), name, dry_mm_per_day) == 0


def score_periods(card: Scorecard, forecast: xr.Dataset, truth: xr.Dataset, clim: xr.Dataset,
                  persistence: xr.Dataset, names: Sequence[str],
                  calibration: xr.Dataset | None = None,
                  dry_mm_per_day: float = DRY_SEASON_MM_PER_DAY) -> dict[str, xr.Dataset]:
    """Add the period scores of the module doc to ``card``; returns the reliability tables
    (``<name>`` raw, ``<name>_calibrated`` with a ``calibration``), of the issued points."""
    tables = {}
    for name in names:
        f = forecast[name]
        o = truth[name].transpose(*[d for d in f.dims if d != "member"])
        mean = f.mean("member")
        o_clim = clim[f"observed_{name}_mean"].transpose(*o.dims)
        error = mean - o
        error2 = error ** 2
        squared = year_sums(error2, None, SPATIAL)
        _add_mean_score(card, "rmse", name, rmse(mean, o, SPATIAL), squared, np.sqrt,
                        reference=rmse(o_clim, o, SPATIAL))
        _add_mean_score(card, "rmse_vs_persistence", name, rmse(mean, o, SPATIAL), squared, np.sqrt,
                        reference=rmse(persistence[name].transpose(*o.dims), o, SPATIAL))
        # the drift of the weekly means, beside their variability (the climatology's RMSE)
        _add_mean_score(card, "bias", name, bias(mean, o, SPATIAL), year_sums(error, None, SPATIAL),
                        reference=rmse(o_clim, o, SPATIAL), skill=False)
        card.add_scores("acc", name, acc(mean - clim[f"{name}_mean"], o - o_clim, 0.0, SPATIAL), perfect=1.0)
        crps = crps_ensemble(f, o)                                      # per point
        _add_mean_score(card, "crps", name, weighted_mean(crps, SPATIAL), year_sums(crps, None, SPATIAL))
        m = f.sizes["member"]
        valid = np.isfinite(f).all("member") & np.isfinite(o)
        spread = year_sums(f.var("member", ddof=1).where(valid), error2.where(valid), SPATIAL)
        _add_mean_score(card, "spread_skill", name, spread_skill_ratio(f, o, SPATIAL), spread,
                        lambda ratio: np.sqrt((m + 1) / m * ratio), perfect=1.0)

        lower, upper = model_category_bounds(clim, name)
        prob = tercile_probabilities(f, lower, upper)
        ol, ou = tercile_bounds(clim, name, observed=True)
        obs = observed_category(o, ol, ou)
        reference = climatological_category_probabilities(clim, name)
        issued = issued_points(clim, f, name, dry_mm_per_day)
        members = f.sizes["member"]
        tables[name] = _score_categories(card, name, prob, obs, reference, members, where=issued)
        if issued is not None:
            _score_categories(card, name, prob, obs, reference, members, "_all_points")
        if calibration is not None and f"{name}_tercile_slope" in calibration:
            cal = calibrated_tercile_probabilities(f, clim, calibration, name, prob).transpose(*prob.dims)
            tables[f"{name}_calibrated"] = _score_categories(card, name, cal, obs, reference, None, "_calibrated",
                                                             where=issued)
            if issued is not None:
                _score_categories(card, name, cal, obs, reference, None, "_calibrated_all_points")
    return tables


def _member_bins(m: int) -> list[float]:
    """Bin edges that put each possible member fraction i/M in its own bin."""
    return [0.0] + [(i + 0.5) / m for i in range(m)] + [1.0]


@dataclass
class OnsetSetup:
    rules: object
    region: tuple[float, float, float, float] | None = None
    tolerance_days: float = 7.0


def _region_mask(lat: np.ndarray, lon: np.ndarray, region, land: xr.DataArray | None) -> xr.DataArray:
    mask = xr.DataArray(np.ones((len(lat), len(lon)), bool), dims=("lat", "lon"), coords={"lat": lat, "lon": lon})
    if region is not None:
        la0, la1, lo0, lo1 = (float(x) for x in region)
        mask = mask & (mask.lat >= la0) & (mask.lat <= la1) & (mask.lon >= lo0) & (mask.lon <= lo1)
    if land is not None:
        mask = mask & (land.reindex_like(mask, method="nearest") > 0.5)
    if not bool(mask.any()):
        raise SowcastError(f"the onset region {region} holds no (land) grid point")
    return mask


def _points(da: xr.DataArray, mask: xr.DataArray) -> xr.DataArray:
    """The masked grid points as one ``point`` dim, numbered 0.. (``lat``, ``lon`` kept as
    coordinates along it, not as a MultiIndex: the season analysis and the planting outlook
    drop and align coordinates, which a MultiIndex level would not survive)."""
    lat, lon = np.meshgrid(mask["lat"].values, mask["lon"].values, indexing="ij")
    keep = np.flatnonzero(mask.transpose("lat", "lon").values.reshape(-1))
    stacked = da.stack(point=("lat", "lon")).isel(point=keep)
    return stacked.drop_vars(["point", "lat", "lon"]).assign_coords(
        point=np.arange(keep.size), lat=("point", lat.reshape(-1)[keep]), lon=("point", lon.reshape(-1)[keep]))


def onset_cases(daily: xr.Dataset, truth_daily: xr.DataArray, past_truth_daily: xr.DataArray,
                setup: OnsetSetup, land: xr.DataArray | None = None,
                calibration: xr.Dataset | None = None, ocean: OceanPredictor | None = None,
                ocean_index: xr.DataArray | None = None) -> xr.Dataset:
    """Per (start, point): observed, forecast and climatological onset (days since 1970) and
    the probabilities of onset by the end of weeks 1..6 (module doc). Cases where the
    observations up to the start already show an onset are NaN. The past onsets of a start
    are those of ``past_truth_daily``'s years but the start's own (cross-validated: WMO's
    Standardised Verification System for long-range forecasts, WMO-No. 485, Attachment II.8,
    builds a hindcast's climatology without the year forecast); a start with none is left out.
    With ``calibration`` holding the onset blend, the forecast probability is blended with
    climatology as the products blend it
    (:func:`sowcast.calibrate.onset_blend.calibrated_onset_probability`).

    With ``ocean`` (and its daily ``ocean_index``), the climatology the blend leans on is the
    past onsets moved to each start's ocean (:mod:`sowcast.calibrate.onset_ocean`):
    ``prior_prob_by_week`` and ``prior`` (its median onset); ``climatology`` and
    ``clim_prob_by_week`` stay the plain baseline. Without it the prior is the baseline."""
    from sowcast.calibrate.onset_blend import calibrated_onset_probability
    from sowcast.products.planting import expected_onset_by_week
    from sowcast.products.season import analyse_seasons

    blend = calibration is not None and "onset_blend_weight" in calibration
    mask = _region_mask(daily.lat.values, daily.lon.values, setup.region, land)
    obs_pts = _points(truth_daily, mask).load()
    past_pts = _points(past_truth_daily, mask).load()
    past = analyse_seasons(past_pts, setup.rules)
    history = past["onset_doy"].where(past["onset_status"] == 0)                # (point, year)
    truth_seasons = analyse_seasons(obs_pts, setup.rules)
    rows = []
    for s in pd.DatetimeIndex(daily["start"].values):
        year = s.year
        past_onset = history.sel(year=history["year"] != year)                 # cross-validated: every other year
        if year not in truth_seasons["year"].values or past_onset.sizes["year"] == 0:
            continue
        observed = truth_seasons["onset"].sel(year=year)                       # (point,)
        before = obs_pts.sel(time=slice(pd.Timestamp(year=year, month=1, day=1), s))
        fc = _points(daily[RAIN].sel(start=s), mask)                            # (member, lead_day, point)
        lead = fc["lead_day"].values
        fc = fc.rename(lead_day="time").assign_coords(time=np.asarray(s + pd.to_timedelta(lead, "D")))
        p_fc = expected_onset_by_week(before, fc, s, setup.rules, history=past_pts, weeks=WEEKS)
        p_fc = p_fc.drop_vars("week_end").transpose("point", "week")
        so_far = _season_of(analyse_seasons(before, setup.rules), year)
        started = (so_far["onset_status"] == 0) | (observed.notnull() & (observed <= np.datetime64(s)))
        s_doy = float(day_of_year([s])[0])
        later = past_onset.where(past_onset > s_doy)
        clim_day, clim_mean = _days_of(year, later.median("year")), _days_of(year, later.mean("year"))
        p_clim = _by_week(past_onset, s, p_fc["week"].values)
        prior_onset, p_prior, prior_day, prior_mean = past_onset, p_clim, clim_day, clim_mean
        if ocean is not None:
            prior_onset = past_onset + ocean.past_onset_shift(ocean_index, s, past_onset["year"].values)
            p_prior = _by_week(prior_onset, s, p_fc["week"].values)
            prior_day, prior_mean = median_onset_day(p_prior, s, prior_onset), mean_onset_day(p_prior, s, prior_onset)
        if blend:
            p_fc = calibrated_onset_probability(p_fc, p_prior, calibration).where(p_fc.notnull())
        tail = prior_onset if blend else past_onset
        forecast_day = median_onset_day(p_fc, s, tail).fillna(prior_day if blend else clim_day)
        forecast_mean = mean_onset_day(p_fc, s, tail).fillna(prior_mean if blend else clim_mean)
        case = xr.Dataset({"observed": _days(observed), "forecast": forecast_day, "climatology": clim_day,
                           "forecast_mean": forecast_mean, "climatology_mean": clim_mean,
                           "prior": prior_day, "prior_mean": prior_mean, "prob_by_week": p_fc.transpose("week", "point"),
                           "clim_prob_by_week": p_clim.transpose("week", "point"),
                           "prior_prob_by_week": p_prior.transpose("week", "point")})
        rows.append(case.where(~started).expand_dims(start=[s]))
    if not rows:
        raise SowcastError("no reforecast start lies in a year of the truth with another year beside it; "
                           "cannot score the onset")
    return xr.concat(rows, dim="start", coords="minimal", compat="override")


def _by_week(onset_doy: xr.DataArray, start: pd.Timestamp, weeks) -> xr.DataArray:
    """The climatological chance of onset by week (:func:`onset_by_week_climatology`) on ``(point, week)``."""
    p = onset_by_week_climatology(onset_doy, start, WEEKS, min_years=1).drop_vars("week")
    return p.assign_coords(week=weeks).transpose("point", "week")


def calibrated_onset_cases(daily: xr.Dataset, truth_daily: xr.DataArray, past_truth_daily: xr.DataArray,
                           setup: OnsetSetup, calibration: xr.Dataset, land: xr.DataArray | None = None,
                           ocean_index: xr.DataArray | None = None) -> xr.Dataset:
    """:func:`onset_cases` of the calibrated forecast: daily rain quantile mapped by lead week,
    and the onset-by-week probability blended with climatology and bounded, as ``sowcast
    products`` does (:mod:`sowcast.calibrate`); the onset date the median of that distribution.
    Where the calibration has an ocean predictor, the climatology is moved to each start's
    ocean (``ocean_index``: its daily index from the truth; required then)."""
    from sowcast.calibrate.daily_rain import map_by_lead_day
    from sowcast.calibrate.onset_ocean import from_calibration

    ocean = from_calibration(calibration)
    if ocean is not None and ocean_index is None:
        raise SowcastError(f"the calibration moves the onset climatology by the ocean ({ocean.variable}); "
                           "give the truth's ocean index")

    if "daily_rain_model_quantiles" in calibration:
        rain = daily[RAIN]
        q = calibration.assign_coords(lat=rain["lat"].values, lon=rain["lon"].values)
        daily = daily.assign({RAIN: map_by_lead_day(rain, q)})
    return onset_cases(daily, truth_daily, past_truth_daily, setup, land, calibration=calibration,
                       ocean=ocean, ocean_index=ocean_index)


def _season_of(seasons: xr.Dataset, year: int) -> xr.Dataset:
    """Season ``year`` (all NaN/NaT when the series did not reach its search window)."""
    return seasons.reindex(year=[year]).squeeze("year", drop=True)


def _days(t: xr.DataArray) -> xr.DataArray:
    """datetime64 -> float days since 1970 (NaT -> NaN)."""
    v = t.values.astype("datetime64[ns]")
    out = np.where(np.isnat(v), np.nan, (v - np.datetime64("1970-01-01")) / np.timedelta64(1, "D"))
    return xr.DataArray(out, dims=t.dims, coords={k: c for k, c in t.coords.items() if set(c.dims) <= set(t.dims)})


def _days_of(year: int, doy: xr.DataArray) -> xr.DataArray:
    """Day of year (365-day calendar, as ``onset_doy``) of ``year`` -> days since 1970."""
    return doy.copy(data=day_of_year_in(year, doy.values))


def score_onset(card: Scorecard, cases: xr.Dataset, tolerance_days: float, suffix: str = "") -> None:
    """Onset MAE/bias/hit rate of the median date (forecast beside the climatological baseline;
    the MAE's and the bias's 90 % interval over the years, :mod:`sowcast.verify.resampling`),
    ``onset_mean_bias_days``, the bias of the mean date (beside the climatological mean's;
    :mod:`sowcast.verify.onset_dates` says why a bias judges the mean), ``onset_mae_skill``,
    ``1 - MAE / MAE of the climatological date``, with its interval from the same cases) and the Brier
    score of onset by the end of each week, skill against the climatological probability
    (``onset_by_week_bss``: that skill as its own row, with its interval over the years)."""
    valid = cases["observed"].notnull() | cases["forecast"].notnull()
    valid = valid & cases["climatology"].notnull()
    f = onset_errors(cases["forecast"].where(valid), cases["observed"].where(valid), tolerance_days,
                     dims=list(cases["forecast"].dims), valid=valid)
    c = onset_errors(cases["climatology"].where(valid), cases["observed"].where(valid), tolerance_days,
                     dims=list(cases["forecast"].dims), valid=valid)
    n = int(f["n_cases"])
    dims = list(cases["forecast"].dims)
    error = (cases["forecast"] - cases["observed"]).where(valid)     # the pairs where both have an onset
    # the MAE's skill against the climatological date, paired case by case (both share the year's lateness)
    clim_error = (cases["climatology"] - cases["observed"]).where(valid & cases["forecast"].notnull())
    # the bias of the distribution's mean date, the one date a reliable forecast has unbiased (onset_dates)
    fm, cm = (onset_errors(cases[name].where(valid), cases["observed"].where(valid), tolerance_days,
                           dims=dims, valid=valid) for name in ("forecast_mean", "climatology_mean"))
    mean_error = (cases["forecast_mean"] - cases["observed"]).where(valid)
    for metric, value, reference, sums, skill in (
            ("onset_mae_days", f["mae"], c["mae"], year_sums(abs(error), None, dims), False),
            ("onset_bias_days", f["bias"], c["bias"], year_sums(error, None, dims), False),
            ("onset_mean_bias_days", fm["bias"], cm["bias"], year_sums(mean_error, None, dims), False),
            ("onset_mae_skill", skill_from(float(f["mae"]), float(c["mae"])), np.nan,
             year_sums(abs(error), abs(clim_error), dims), True)):
        card.add(f"{metric}{suffix}", RAIN, "onset", float(value), float(reference), n=n,
                 skill=None if metric == "onset_mae_days" else np.nan,
                 interval=tuple(float(v) for v in sums.interval(skill=skill)))
        card.add_by_year(f"{metric}{suffix}", RAIN, sums.per_year(skill=skill))
    card.add(f"onset_hit_rate_{tolerance_days:g}d{suffix}", RAIN, "onset", float(f["hit_rate"]),
             float(c["hit_rate"]), n=n, perfect=1.0)
    for k in cases["week"].values:
        end_days = cases["start"].astype("datetime64[ns]").astype(np.int64) / 86400e9 + 7.0 * k
        event = (cases["observed"] <= end_days).where(cases["observed"].notnull(), False).astype(float)
        p, pc = cases["prob_by_week"].sel(week=k), cases["clim_prob_by_week"].sel(week=k)
        ok = p.notnull() & pc.notnull()
        e = event.where(ok)
        bs, bsc = brier_score(p.where(ok), e), brier_score(pc.where(ok), e)
        dims, n_ok = list(bs.dims), int(ok.sum())
        score, reference = float(bs.mean(dims)), float(bsc.mean(dims))
        card.add(f"onset_by_week_brier{suffix}", RAIN, f"week{k}", score, reference, n=n_ok)
        # the Brier skill itself, with its 90 % interval over the years (the chances the planting
        # table issues: how sure the scorecard is that they beat the usual dates')
        sums = year_sums(bs, bsc, dims)
        bss = skill_from(score, reference)
        card.add(f"onset_by_week_bss{suffix}", RAIN, f"week{k}", bss, n=n_ok, skill=bss,
                 interval=tuple(float(v) for v in sums.interval(skill=True)))
        card.add_by_year(f"onset_by_week_bss{suffix}", RAIN,
                         sums.per_year(skill=True).expand_dims(period=[f"week{k}"], axis=-1))


def verify_reforecasts(periods: xr.Dataset, truth_daily: xr.Dataset, climatology: xr.Dataset,
                       names: Sequence[str], calibration: xr.Dataset | None = None,
                       dry_mm_per_day: float = DRY_SEASON_MM_PER_DAY) -> tuple[Scorecard, dict[str, xr.Dataset]]:
    """The period scores of the module doc for hindcast periods ``(start, member, period, lat,
    lon)`` against the truth's daily series."""
    starts = periods["start"].values
    truth = observed_periods(truth_daily[list(names)], starts)
    clim = per_start_climatology(climatology, starts)
    pers = persistence_periods(truth_daily, starts, periods, names)
    card = Scorecard()
    tables = score_periods(card, periods, truth, clim, pers, names, calibration, dry_mm_per_day)
    return card, tables
