"""Small forecasts in the engine's output layout (forecast.output_writer) for the weekly tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.data.schema import cf_attrs
from sowcast.forecast.output_writer import OutputLayout

LAT = np.array([12.0])
LON = np.array([-1.5, 0.0])


@dataclass
class Spec:
    """The fields of a bundle ChannelSpec that OutputLayout.build reads."""

    name: str
    variable: str
    level: float | None = None


def make_forecast(init: str = "2024-06-03", n_leads: int = 46, step: str = "1D", n_members: int = 3,
                  lat: np.ndarray = LAT, lon: np.ndarray = LON,
                  rain: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                  t2m: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                  levels: list[float] | None = None) -> xr.Dataset:
    """A forecast Dataset as the engine writes it.

    ``rain(member, hours)`` / ``t2m(member, hours)`` give each step's value from broadcast
    arrays of member index ``[M, 1]`` and hours after init of the step's valid time ``[1, L]``
    (default: rain 1 mm per step plus the member index, t2m 300 K + member + hours/24).
    """
    step_td = pd.Timedelta(step)
    leads = pd.TimedeltaIndex([step_td * (k + 1) for k in range(n_leads)])
    specs = [Spec("total_precipitation", "total_precipitation"), Spec("2m_temperature", "2m_temperature")]
    if levels:
        specs += [Spec(f"temperature_{int(lev)}", "temperature", float(lev)) for lev in levels]
    init_ts = pd.Timestamp(init)
    layout = OutputLayout.build(specs, {}, lat, lon, init_ts, leads,
                                np.full(n_members, init_ts.to_datetime64(), "datetime64[ns]"),
                                {"bundle_sha256": "abc123", "init_time": f"{init_ts:%Y-%m-%dT%H:%M:%S}",
                                 "sowcast_version": "0.1.0"})
    ds, _encoding = layout.coords_dataset()
    m = np.arange(n_members)[:, None]
    hours = (np.asarray(leads / pd.Timedelta(hours=1)))[None, :]
    rain = rain or (lambda m, h: 1.0 + m + 0 * h)
    t2m = t2m or (lambda m, h: 300.0 + m + h / 24.0)
    shape = (n_members, n_leads, len(lat), len(lon))
    for var in layout.variables:
        if var.name == "total_precipitation":
            values = np.broadcast_to(np.asarray(rain(m, hours), np.float64)[..., None, None], shape)
        elif var.name == "2m_temperature":
            values = np.broadcast_to(np.asarray(t2m(m, hours), np.float64)[..., None, None], shape)
        else:
            values = 250.0 + np.zeros((n_members, n_leads, len(layout.levels), len(lat), len(lon)))
        ds[var.name] = (layout.dims(var), values.astype(np.float32), var.attrs)
    return ds


def write_zarr(ds: xr.Dataset, path) -> None:
    """Write the forecast to a real zarr store (encoding as the engine's coords)."""
    enc = {v: {"_FillValue": np.float32(np.nan)} for v in ds.data_vars}
    ds.to_zarr(path, mode="w", encoding=enc, consolidated=False)


def daily_obs(start: str, n_days: int, rain: Callable[[np.ndarray], np.ndarray] | None = None,
              lat: np.ndarray = LAT, lon: np.ndarray = LON) -> xr.Dataset:
    """An observed daily series: rain(day index) mm and t2m 295 K + day index / 100."""
    times = pd.date_range(start, periods=n_days, freq="D")
    k = np.arange(n_days, dtype=np.float64)
    r = (rain or (lambda k: k))(k)
    shape = (n_days, len(lat), len(lon))
    return xr.Dataset(
        {"total_precipitation": (("time", "lat", "lon"), np.broadcast_to(r[:, None, None], shape).astype(np.float32),
                                 cf_attrs("total_precipitation")),
         "2m_temperature": (("time", "lat", "lon"),
                            np.broadcast_to((295 + k / 100)[:, None, None], shape).astype(np.float32),
                            cf_attrs("2m_temperature"))},
        coords={"time": times, "lat": lat, "lon": lon})
