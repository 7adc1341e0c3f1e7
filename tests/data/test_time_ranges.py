"""Inclusive end dates and ``auto`` training/validation ranges from a store's span."""

from __future__ import annotations

import pandas as pd
import pytest

from sowcast.data.testing import make_canonical_store
from sowcast.data.time_ranges import auto_ranges, inclusive_end
from sowcast.data.windows import WindowSource
from sowcast.errors import SowcastError


@pytest.fixture(scope="module")
def six_hourly(tmp_path_factory):
    return make_canonical_store(tmp_path_factory.mktemp("s") / "6h.zarr", n_times=40, grid=(4, 8),
                                step="6h", levels=None, level_variables=())


@pytest.mark.parametrize("value, end", [
    ("2019-03-21", "2019-03-21 23:59:59.999999999"),
    ("2019-03", "2019-03-31 23:59:59.999999999"),
    ("2019", "2019-12-31 23:59:59.999999999"),
    ("2019-03-21T06", "2019-03-21 06:00"),
    ("2019-03-21 06:00", "2019-03-21 06:00"),
])
def test_a_date_only_end_is_the_end_of_that_day(value, end):
    assert inclusive_end(value, "x") == pd.Timestamp(end)


def test_a_bare_end_date_keeps_the_days_last_steps(six_hourly):
    src = WindowSource(six_hourly, n_input_steps=1, n_target_steps=1, time_range=["2000-01-01", "2000-01-02"])
    assert len(src) == 8 - 1  # 00Z 1 Jan .. 18Z 2 Jan: 8 times, not 5
    assert pd.Timestamp(src.window_times(len(src) - 1)[-1]) == pd.Timestamp("2000-01-02T18")


def test_auto_ranges_hold_out_the_last_whole_days():
    times = pd.date_range("2019-03-01", "2019-03-31T18", freq="6h")
    train, val = auto_ranges(times, "auto", "auto", 2, 1, 7)
    # 15 % of 124 times = 19 steps from the end: 27 March 06Z, rounded down to 00Z
    assert val == ["2019-03-27T00:00:00", "2019-03-31T18:00:00"]
    assert train == ["2019-03-01T00:00:00", "2019-03-26T18:00:00"]


def test_auto_validation_is_long_enough_for_the_longest_lead():
    times = pd.date_range("2000-01-01", periods=40, freq="D")
    train, val = auto_ranges(times, "auto", "auto", 2, 1, 10)
    assert pd.Timestamp(val[1]) - pd.Timestamp(val[0]) == pd.Timedelta(days=11)  # 12 times: 2 inputs + 10 leads
    assert pd.Timestamp(train[1]) < pd.Timestamp(val[0])


def test_explicit_ranges_come_back_unchanged():
    times = pd.date_range("2000-01-01", periods=40, freq="D")
    assert auto_ranges(times, ["2000-01-01", "2000-01-20"], None, 2, 1, 7) == (["2000-01-01", "2000-01-20"], None)
    train, val = auto_ranges(times, "auto", None, 2, 1, 7)
    assert train == ["2000-01-01T00:00:00", "2000-02-09T00:00:00"] and val is None


def test_a_store_too_short_for_auto_names_the_settings():
    times = pd.date_range("2000-01-01", periods=10, freq="D")
    with pytest.raises(SowcastError, match="train.validation_range=auto.*train.validation_leads") as err:
        auto_ranges(times, "auto", "auto", 2, 1, 7)
    assert "\n" not in str(err.value)


def test_a_short_range_names_its_setting(six_hourly):
    with pytest.raises(SowcastError, match=r"train.validation_range 2000-01-10\.\.2000-01-10 holds 4 .*"
                                           r"one window needs 9.*shorten train.validation_leads"):
        WindowSource(six_hourly, n_target_steps=7, time_range=["2000-01-10", "2000-01-10"],
                     range_setting="train.validation_range", targets_setting="train.validation_leads")
