"""The canonical schema: time-axis checks, validation, channel names, grids."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sowcast.data.grid import Grid
from sowcast.data.schema import (CANONICAL_VARIABLES, cf_attrs, channel_names, infer_time_step,
                                 time_step_iso, validate_canonical)
from sowcast.errors import SowcastError


def _ds(times, lat=(0.0, 1.0), lon=(-1.0, 0.0)):
    data = np.zeros((len(times), len(lat), len(lon)), np.float32)
    return xr.Dataset(
        {"2m_temperature": (("time", "lat", "lon"), data, cf_attrs("2m_temperature"))},
        coords={"time": times, "lat": list(lat), "lon": list(lon)},
    )


def test_time_step_inferred_and_named():
    t = pd.date_range("2000-01-01", periods=5, freq="6h")
    assert infer_time_step(t.values) == pd.Timedelta(hours=6)
    assert time_step_iso(pd.Timedelta(hours=6)) == "PT6H"
    assert time_step_iso(pd.Timedelta(days=1)) == "P1D"


@pytest.mark.parametrize("times, message", [
    (["2000-01-01", "2000-01-02", "2000-01-02"], "duplicated"),
    (["2000-01-01", "2000-01-03", "2000-01-02"], "non-monotonic"),
    (["2000-01-01", "2000-01-02", "2000-01-04"], "irregular"),
])
def test_bad_time_axes_are_refused(times, message):
    with pytest.raises(SowcastError, match=message):
        infer_time_step(pd.DatetimeIndex(times).values)


def test_validate_accepts_canonical_and_refuses_descending_lat():
    times = pd.date_range("2000-01-01", periods=3)
    validate_canonical(_ds(times))
    with pytest.raises(SowcastError, match="ascending"):
        validate_canonical(_ds(times, lat=(1.0, 0.0)))
    with pytest.raises(SowcastError, match=r"\[-180, 180\)"):
        validate_canonical(_ds(times, lon=(10.0, 200.0)))


def test_validate_refuses_wrong_units():
    ds = _ds(pd.date_range("2000-01-01", periods=3))
    ds["2m_temperature"].attrs["units"] = "degC"
    with pytest.raises(SowcastError, match="units"):
        validate_canonical(ds)


def test_channel_names_expand_levels():
    ds = xr.Dataset({
        "temperature": (("level", "lat"), np.zeros((2, 1))),
        "2m_temperature": (("lat",), np.zeros(1)),
    }, coords={"level": [500, 850], "lat": [0.0]})
    assert channel_names(ds) == ["temperature_500", "temperature_850", "2m_temperature"]


def test_aliases_are_unique():
    seen = {}
    for var in CANONICAL_VARIABLES.values():
        for alias in var.aliases:
            assert alias not in seen, f"{alias} maps to {seen.get(alias)} and {var.name}"
            seen[alias] = var.name


def test_grids():
    g = Grid.global_grid(1.5)
    assert g.shape == (121, 240) and g.is_global and g.lon[0] == -180 and g.lon[-1] == 178.5
    r = Grid.from_config({"lat_min": -2, "lat_max": 24, "lon_min": -20, "lon_max": 16, "resolution": 1})
    assert r.shape == (27, 37) and not r.is_global
    with pytest.raises(SowcastError, match="lacks"):
        Grid.from_config({"resolution": 1})
