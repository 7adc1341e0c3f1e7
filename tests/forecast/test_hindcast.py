"""Hindcasts: several starts per onnxruntime call give exactly what one forecast per start
gives (a stochastic bundle's noise included); a killed run goes on with the starts not yet
done; bad options are one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from forecast_helpers import NOISE, make_store, one_line_error, options, write_bundle

from sowcast.forecast.engine import run_forecast
from sowcast.forecast.hindcast import (
    HindcastOptions,
    open_hindcast,
    run_hindcast,
    start_dates,
    start_file,
    start_perturbation,
)
from sowcast.products.daily import forecast_daily


@pytest.fixture(scope="module")
def long_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("hindcast")
    store = make_store(root / "a.zarr", n_times=40, levels=None, start="2000-01-01")
    return {"store": store, "bundle": write_bundle(root / "bundle", store, "dynamics"),
            "stochastic": write_bundle(root / "stochastic", store, "dynamics", noise=NOISE)}


def _hc(data, out, kind="bundle", **kw):
    cfg = {"bundle": str(data[kind]), "store": str(data["store"]), "output": str(out), "years": [2000, 2000],
           "first": "01-03", "last": "01-24", "every_days": 7, "members": 3, "lead": "9D", "threads": 1,
           "batch": 6, "keep_daily": True}
    cfg.update(kw)
    return HindcastOptions.from_config(cfg)


def test_start_dates_same_calendar_days_each_year_and_across_the_year_end():
    s = start_dates((2001, 2002), "03-01", "03-20", 7)
    assert [f"{t:%Y-%m-%d}" for t in s] == ["2001-03-01", "2001-03-08", "2001-03-15",
                                             "2002-03-01", "2002-03-08", "2002-03-15"]
    wrap = start_dates((2001, 2001), "12-25", "01-10", 7)
    assert [f"{t:%Y-%m-%d}" for t in wrap] == ["2001-12-25", "2002-01-01", "2002-01-08"]


@pytest.mark.parametrize("kind, noise_seed, memory", [("bundle", 0, 0.0), ("stochastic", 3, 0.0),
                                                     ("stochastic", 3, 1.5)])
def test_each_start_equals_a_forecast_from_that_start(long_data, tmp_path, kind, noise_seed, memory):
    opts = _hc(long_data, tmp_path / "hc", kind, noise_seed=noise_seed, noise_memory_days=memory)
    result = run_hindcast(opts)
    assert [f"{t:%m-%d}" for t in result.starts] == ["01-03", "01-10", "01-17", "01-24"]
    assert result.computed == 4 and result.member_days == 4 * 3 * 9
    daily = open_hindcast(tmp_path / "hc", "daily")
    periods = open_hindcast(tmp_path / "hc")
    assert daily["total_precipitation"].dims == ("start", "member", "lead_day", "lat", "lon")
    assert periods["total_precipitation"].dims == ("start", "member", "period", "lat", "lon")
    # Two starts went through onnxruntime together (batch 6 = 2 starts x 3 members), each with
    # its own forcings, perturbations (and noise); the engine run from one start alone must agree.
    for start in result.starts[1:3]:
        pert = start_perturbation(opts.perturbation, start)
        fc = run_forecast(options(long_data[kind], long_data["store"], tmp_path / f"{start:%d}.zarr",
                                  init_time=str(start), lead="9D", members=3, noise_seed=noise_seed,
                                  noise_memory_days=memory,
                                  perturbation={"scale": pert.scale, "length_scale": pert.length_scale,
                                                "seed": pert.seed}))
        with xr.open_zarr(fc.output, consolidated=False, chunks=None) as ds:
            ref = forecast_daily(ds, ["total_precipitation", "2m_temperature"])
        got = daily.sel(start=start)
        for name in ("total_precipitation", "2m_temperature"):
            np.testing.assert_allclose(got[name].values, ref[name].values, rtol=1e-6, atol=1e-6, err_msg=name)
    # week 1 is complete (lead days 1..7); week 2 needs day 14 > 9: NaN, not an error.
    wk = periods["total_precipitation"].sel(period="week1").values
    assert np.isfinite(wk).all()
    np.testing.assert_allclose(wk, daily["total_precipitation"].sel(lead_day=slice(1, 7)).sum("lead_day").values,
                               rtol=1e-5)
    assert np.isnan(periods["total_precipitation"].sel(period="week2").values).all()


@pytest.mark.parametrize("kind", ["bundle", "stochastic"])
def test_grouping_does_not_change_the_numbers(long_data, tmp_path, kind):
    run_hindcast(_hc(long_data, tmp_path / "a", kind, batch=12))
    run_hindcast(_hc(long_data, tmp_path / "b", kind, batch=1))
    a, b = open_hindcast(tmp_path / "a"), open_hindcast(tmp_path / "b")
    np.testing.assert_allclose(a["total_precipitation"].values, b["total_precipitation"].values, rtol=1e-6)
    np.testing.assert_allclose(a["2m_temperature"].values, b["2m_temperature"].values, rtol=1e-6)
    assert (json.loads((tmp_path / "a" / "hindcast.json").read_text()).get("noise_seed") == 0) == (kind == "stochastic")


def test_stochastic_hindcast_members_and_starts_draw_their_own_noise(long_data, tmp_path):
    """No initial perturbations: the members of a start differ by the model noise alone, each
    start has its own, and a start's members do not depend on which starts run beside it."""
    kw = {"perturbation": {"scale": 0, "variable_scale": {}}, "every_days": 1, "first": "01-03", "last": "01-04", "lead": "3D"}
    run_hindcast(_hc(long_data, tmp_path / "both", "stochastic", **kw))
    run_hindcast(_hc(long_data, tmp_path / "alone", "stochastic", **{**kw, "last": "01-03"}))
    run_hindcast(_hc(long_data, tmp_path / "seed1", "stochastic", noise_seed=1, **kw))
    both = open_hindcast(tmp_path / "both", "daily")["2m_temperature"]
    alone = open_hindcast(tmp_path / "alone", "daily")["2m_temperature"]
    t = both.values  # [start, member, lead_day, lat, lon]
    assert (t[:, 1:, 0] != t[:, :1, 0]).all()                      # members part at once
    np.testing.assert_array_equal(alone.values[0], t[0])           # grouping-free
    assert not np.array_equal(open_hindcast(tmp_path / "seed1", "daily")["2m_temperature"].values, t)
    one_line_error(lambda: _hc(long_data, tmp_path / "x", "stochastic", noise_seed=-2),
                   "hindcast.noise_seed must be at least 0")
    # the noise scale (default 1.3) changes the members and is recorded for the products' check
    run_hindcast(_hc(long_data, tmp_path / "unit", "stochastic", noise_scale=1, **kw))
    unit = open_hindcast(tmp_path / "unit", "daily")
    assert unit.attrs["noise_scale"] == 1.0 and open_hindcast(tmp_path / "both", "daily").attrs["noise_scale"] == 1.3
    assert not np.array_equal(unit["2m_temperature"].values, t)
    np.testing.assert_array_equal(unit["2m_temperature"].values[:, 0, 0] != t[:, 0, 0], True)
    one_line_error(lambda: _hc(long_data, tmp_path / "x", "stochastic", noise_scale=-1),
                   "hindcast.noise_scale must be > 0")


def test_real_stochastic_bundle_hindcast_grouping(stochastic_bundle, tmp_path):
    """The exported stochastic tiny model: two starts per call or one give the same members."""
    data = {"bundle": stochastic_bundle["bundle"], "store": stochastic_bundle["store"]}
    kw = {"first": "01-03", "last": "01-10", "members": 2, "lead": "3D"}
    run_hindcast(_hc(data, tmp_path / "a", batch=4, **kw))
    run_hindcast(_hc(data, tmp_path / "b", batch=2, **kw))
    a, b = open_hindcast(tmp_path / "a", "daily"), open_hindcast(tmp_path / "b", "daily")
    assert a.sizes["start"] == 2 and a.sizes["lead_day"] == 3
    for name in ("total_precipitation", "2m_temperature"):
        assert np.isfinite(a[name].values).all()
        np.testing.assert_allclose(a[name].values, b[name].values, rtol=1e-6, atol=1e-5, err_msg=name)
    t = a["2m_temperature"].values
    assert not np.array_equal(t[:, 0], t[:, 1]) and not np.array_equal(t[0], t[1])


def test_a_killed_run_goes_on_with_the_starts_not_done(long_data, tmp_path, monkeypatch):
    import sowcast.forecast.hindcast as hc

    out = tmp_path / "hc"
    original = hc._write
    written = []

    def cut(ds, path):
        original(ds, path)
        written.append(path)
        if len(written) == 4:  # daily + periods of the first two starts
            raise RuntimeError("power cut")

    monkeypatch.setattr(hc, "_write", cut)
    with pytest.raises(RuntimeError, match="power cut"):
        run_hindcast(_hc(long_data, out))
    monkeypatch.setattr(hc, "_write", original)
    assert len(list((out / "periods").glob("*.nc"))) == 2
    again = run_hindcast(_hc(long_data, out))
    assert again.computed == 2
    run_hindcast(_hc(long_data, tmp_path / "whole"))
    xr.testing.assert_allclose(open_hindcast(out), open_hindcast(tmp_path / "whole"))
    assert run_hindcast(_hc(long_data, out)).computed == 0


def test_a_folder_of_other_hindcasts_is_kept_unless_overwrite(long_data, tmp_path):
    out = tmp_path / "hc"
    run_hindcast(_hc(long_data, out, last="01-03"))
    before = start_file(out, "periods", pd.Timestamp("2000-01-03")).stat().st_mtime_ns
    one_line_error(lambda: run_hindcast(_hc(long_data, out, last="01-03", members=2)), "other hindcasts", "overwrite")
    assert start_file(out, "periods", pd.Timestamp("2000-01-03")).stat().st_mtime_ns == before
    assert json.loads((out / "hindcast.json").read_text())["members"] == 3
    run_hindcast(_hc(long_data, out, last="01-03", members=2), overwrite=True)
    assert open_hindcast(out).sizes["member"] == 2


@pytest.mark.parametrize("change, needles", [
    ({"years": [1990, 1991]}, ("no hindcast start", "1990..1991")),
    ({"first": "13-01"}, ("hindcast.first", "MM-DD")),
    ({"members": 0}, ("hindcast.members", "at least 1")),
    ({"lead": "36h"}, ("hindcast.lead 36h", "not whole days", "daily periods")),
    ({"lead": "6h"}, ("hindcast.lead 6h", "not whole days", "daily periods")),
    ({"variables": ["sea_ice"]}, ("no surface channel sea_ice",)),
    ({"colour": "red"}, ("unknown option hindcast.colour; known: bundle,",)),
    ({"years": [2001, 2000]}, ("before the first",)),
])
def test_bad_options_are_one_line_errors(long_data, tmp_path, change, needles):
    one_line_error(lambda: run_hindcast(_hc(long_data, tmp_path / "x", **change)), *needles)
    assert not (tmp_path / "x").exists()


def test_open_hindcast_refuses_a_folder_that_is_not_one(tmp_path):
    one_line_error(lambda: open_hindcast(tmp_path), "not a hindcast folder")
