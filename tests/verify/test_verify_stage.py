"""The verify stage's shape: its options (one truth for defaults, one-line errors naming the
key) and the scorecard summary contract (versioned; a missing key is an error at the reader)."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from sowcast.cli.main import compose
from sowcast.errors import SowcastError
from sowcast.options import default_mismatches
from sowcast.verify.options import VerifyOptions
from sowcast.verify.summary import ScorecardSummary, read_summary


def test_composed_defaults_equal_the_options_class():
    section = compose([]).verify   # resolved: dry_season_mm_per_day follows the products'
    assert default_mismatches(VerifyOptions, {k: section[k] for k in section}, "verify") == {}
    assert VerifyOptions().dry_season_mm_per_day == compose([]).products.dry_season_mm_per_day


@pytest.mark.parametrize("patch, message", [
    ({"nonsense": 1}, "unknown option verify.nonsense"),
    ({"hindcast": None}, "verify.hindcast is not set"),
    ({"truth": "/nonexistent/store.zarr"}, "verify.truth: no such file or folder"),
    ({"onset_region": [8, 16, -18]}, "verify.onset_region must be [lat_min, lat_max, lon_min, lon_max]"),
    ({"dry_season_mm_per_day": -1}, "verify.dry_season_mm_per_day must be a number of mm per day >= 0"),
    ({"tolerance_days": "soon"}, "verify.tolerance_days"),
])
def test_bad_options_are_one_line_naming_the_key(tmp_path, patch, message):
    for name in ("refc", "store.zarr"):
        (tmp_path / name).mkdir()
    (tmp_path / "climatology.nc").write_bytes(b"")
    section = {"hindcast": str(tmp_path / "refc"), "truth": str(tmp_path / "store.zarr"),
               "climatology": str(tmp_path / "climatology.nc"), **patch}
    with pytest.raises(SowcastError) as err:
        VerifyOptions.from_config(section)
    assert message in str(err.value) and "\n" not in str(err.value)


def _summary() -> ScorecardSummary:
    headline = {"rpss week1": 0.09, "bss_above week1": 0.03}
    return ScorecardSummary(starts=16, members=4, years=[2009, 2010], rules="sivakumar1988", weekly_rain=headline,
                            weekly_rain_all_points=headline, onset_mae_days=15.5, onset_mae_days_climatology=13.0,
                            onset_cases=2542, onset_bias_days=-10.9, onset_bias_days_climatology=-5.5,
                            dry_season_mm_per_day=1.0)


def test_the_summary_round_trips_and_refuses_old_or_partial_files(tmp_path):
    _summary().write(tmp_path)
    back = read_summary(tmp_path)
    assert back.version == 1 and math.isnan(back.onset_mae_days_calibrated)
    nans = ("onset_mae_days_calibrated", "onset_bias_days_calibrated", "onset_mae_days_ocean_climatology",
            "onset_bias_days_ocean_climatology", "onset_mean_bias_days", "onset_mean_bias_days_climatology",
            "onset_mean_bias_days_calibrated")      # NaN is not NaN: compared by kind
    assert all(math.isnan(getattr(back, k)) for k in nans)
    assert back == dataclasses.replace(_summary(), **{k: getattr(back, k) for k in nans})
    raw = json.loads((tmp_path / "summary.json").read_text())
    (tmp_path / "summary.json").write_text(json.dumps({k: v for k, v in raw.items() if k != "version"}))
    with pytest.raises(SowcastError, match="older sowcast .* re-run 'sowcast verify'"):
        read_summary(tmp_path)
    (tmp_path / "summary.json").write_text(json.dumps({k: v for k, v in raw.items() if k != "onset_cases"}))
    with pytest.raises(SowcastError, match="lacks onset_cases"):
        read_summary(tmp_path)
    with pytest.raises(SowcastError, match="no summary.json"):
        read_summary(tmp_path / "elsewhere")
