"""``sowcast verify``: scores of reforecasts against the truth, beside their baselines
(:mod:`sowcast.verify.stage`; the summary it writes: :mod:`sowcast.verify.summary`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegaconf import DictConfig

if TYPE_CHECKING:
    from sowcast.verify.options import VerifyOptions
    from sowcast.verify.stage import VerifyResult


def run(cfg: DictConfig) -> int:
    """Verify reforecasts of held-out years (a 'sowcast hindcast' folder run with
    hindcast.keep_daily=true) against the truth (a canonical store), with the model and observed
    climatology of the training years (climatology.nc from 'sowcast hindcast'):

        sowcast verify verify.hindcast=reforecasts verify.truth=data/demo/demo.zarr \\
            verify.climatology=hindcast/climatology.nc verify.output=scorecard

    Weekly and fortnightly rain and 2 m temperature: RMSE (beside climatology and persistence),
    ACC, fair CRPS, spread-skill, RPSS of terciles and Brier skill of the outer terciles (the
    categories' climatological frequencies as reference; rain where the products issue
    terciles, outside the dry season of verify.dry_season_mm_per_day, and over all points), ROC
    area, a reliability diagram; onset of the rains (verify.rules): MAE, bias, hit rate within
    verify.tolerance_days of the forecast's median date, the bias of its mean date, and the
    Brier score of "onset by week k", beside the climatological
    onset of the training years. Writes scores.csv, summary.json, reliability.png and
    skill_by_lead.png into verify.output (replaced as a whole). Reforecasts of years the model
    trained on (or whose validation loss chose its checkpoint, or that the calibration was
    fitted on) are scored with a warning, and summary.json says "held_out": false; the
    bulletin refuses such a scorecard.
    """
    from sowcast.verify.options import VerifyOptions
    from sowcast.verify.stage import run as verify

    options = VerifyOptions.from_config(cfg.verify)
    finish(options, verify(options))
    return 0


def finish(options: VerifyOptions, result: VerifyResult) -> None:
    """What the command prints after the stage (the demo too): the headline scores."""
    s = result.summary
    rpss = _with_intervals(s.weekly_rain, s.weekly_rain_interval)
    print(f"scorecard in {result.output}: RPSS of weekly rain {rpss}; "
          f"onset MAE {s.onset_mae_days:.1f} {_days(s.onset_interval.get('mae_days'), '')} days, bias {s.onset_bias_days:+.1f} "
          f"{_days(s.onset_interval.get('bias_days'))}, the mean date's {s.onset_mean_bias_days:+.1f} "
          f"{_days(s.onset_interval.get('mean_bias_days'))} (climatology {s.onset_mae_days_climatology:.1f}, "
          f"{s.onset_bias_days_climatology:+.1f}, its mean's {s.onset_mean_bias_days_climatology:+.1f}; the MAE's skill against it "
          f"{1 - s.onset_mae_days / s.onset_mae_days_climatology:+.2f} {_days(s.onset_interval.get('mae_skill'), '+', 2)})")
    print(f"  [ ]: 90 % intervals when the {len(s.years)} year(s) scored are resampled (sowcast.verify.resampling); "
          f"a skill score's that reaches 0 is no proof of skill")
    if s.held_out is False:
        kinds = "; ".join(f"{k} {', '.join(map(str, y))}" for k, y in s.in_sample_years.items() if y)
        print(f"NOT HELD OUT ({kinds}): these scores measure the fit, not skill (warnings above)")
    if s.calibration is not None:
        cal = _with_intervals(s.weekly_rain_calibrated, s.weekly_rain_calibrated_interval)
        print(f"calibrated: RPSS of weekly rain {cal}; "
              f"onset MAE {s.onset_mae_days_calibrated:.1f} {_days(s.onset_interval.get('mae_days_calibrated'), '')} days, "
              f"bias {s.onset_bias_days_calibrated:+.1f} {_days(s.onset_interval.get('bias_days_calibrated'))}, "
              f"the mean date's {s.onset_mean_bias_days_calibrated:+.1f} "
              f"{_days(s.onset_interval.get('mean_bias_days_calibrated'))}, "
              f"the MAE's skill {1 - s.onset_mae_days_calibrated / s.onset_mae_days_climatology:+.2f} "
              f"{_days(s.onset_interval.get('mae_skill_calibrated'), '+', 2)}")


def _with_intervals(headline: dict[str, float], intervals: dict[str, list[float]]) -> str:
    """``week1 +0.119 [+0.052, +0.190] ...`` for the RPSS entries of a headline."""
    cells = []
    for key, x in headline.items():
        if key.startswith("rpss"):
            low, high = intervals.get(key, [float("nan"), float("nan")])
            cells.append(f"{key.split()[1]} {x:+.3f} [{low:+.3f}, {high:+.3f}]")
    return " ".join(cells)


def _days(pair: list[float] | None, sign: str = "+", digits: int = 1) -> str:
    low, high = pair if pair else (float("nan"), float("nan"))
    return f"[{low:{sign}.{digits}f}, {high:{sign}.{digits}f}]"
