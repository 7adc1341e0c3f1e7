"""Initial conditions: the last analysed states up to ``init_time``, checked against the bundle.

Sources:

* a canonical store (``sowcast data ingest`` output): read directly, no dask;
* a netCDF or GRIB analysis file: opened in memory (no dask, nothing written) and brought
  to canonical form by the ingest's own normalisation (:func:`sowcast.data.ingest._prepare`
  and friends: names, coordinates, units, precipitation convention), so a file that
  ``sowcast data ingest`` understands works here too.

Checks, each a one-line :class:`SowcastError` naming what differs: every bundle channel's
variable and pressure level is present (extra variables are ignored); the grid equals the
bundle's (1e-6 degree tolerance); the time step equals the bundle's; ``init_time`` and the
``n_times - 1`` steps before it are all there; the states read hold no NaN or infinity.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.data.grid import Grid
from sowcast.data.schema import infer_time_step, parse_time_step, time_step_iso
from sowcast.errors import SowcastError

GRID_TOLERANCE = 1e-6  # degrees


@dataclass(frozen=True)
class ChannelSpec:
    """One model channel: its name, canonical variable and pressure level (None at the surface)."""

    name: str
    variable: str
    level: float | None


def channel_specs(bundle: Any) -> list[ChannelSpec]:
    """The bundle's channels in model order, from its typed manifest (``Bundle.typed_manifest``)."""
    return [ChannelSpec(c.name, c.variable, None if c.level is None else float(c.level))
            for c in bundle.typed_manifest.channels]


@dataclass
class InitialConditions:
    """Analysed states ``[T, C, H, W]`` float32 at ``times`` (oldest first), in bundle channel order."""

    states: np.ndarray
    times: np.ndarray  # datetime64[ns], consecutive, the last is init_time
    source: str

    @property
    def init_time(self) -> pd.Timestamp:
        return pd.Timestamp(self.times[-1])

    def window(self, end: int, n_input_steps: int) -> np.ndarray:
        """The ``n_input_steps`` states ending at index ``end`` (negative counts from the last)."""
        end = end % len(self.times)
        if end + 1 < n_input_steps:
            raise SowcastError(f"initial conditions hold {end + 1} state(s) up to {self.times[end]}, "
                               f"the model needs {n_input_steps}")
        return self.states[end - n_input_steps + 1:end + 1]

    def digest(self) -> str:
        """sha256 of the states and times: identifies the initial conditions in the run's config."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.times.astype("datetime64[ns]").astype(np.int64)).tobytes())
        h.update(np.ascontiguousarray(self.states, dtype=np.float32).tobytes())
        return h.hexdigest()


def _fmt(t: Any) -> str:
    return f"{pd.Timestamp(t):%Y-%m-%d %H:%M}"


def _levels(values: Sequence[float]) -> str:
    return ", ".join(f"{float(v):g}" for v in values)


def _grid_text(lat: np.ndarray, lon: np.ndarray) -> str:
    step = f", step {abs(float(lat[1] - lat[0])):g}" if len(lat) > 1 else ""
    return f"{len(lat)} x {len(lon)} (lat {lat[0]:g}..{lat[-1]:g}, lon {lon[0]:g}..{lon[-1]:g}{step})"


def check_grid(ds: xr.Dataset, grid: Grid, what: str) -> None:
    """``ds``'s lat/lon equal the bundle grid within :data:`GRID_TOLERANCE`, or a clear error."""
    if "lat" not in ds.coords or "lon" not in ds.coords:
        raise SowcastError(f"{what} has no lat/lon coordinates")
    lat, lon = np.asarray(ds["lat"].values, np.float64), np.asarray(ds["lon"].values, np.float64)
    blat, blon = np.asarray(grid.lat, np.float64), np.asarray(grid.lon, np.float64)
    same = (lat.shape == blat.shape and lon.shape == blon.shape
            and np.allclose(lat, blat, rtol=0, atol=GRID_TOLERANCE)
            and np.allclose(lon, blon, rtol=0, atol=GRID_TOLERANCE))
    if not same:
        raise SowcastError(f"grids differ: {what} is {_grid_text(lat, lon)} but the bundle's is "
                           f"{_grid_text(blat, blon)}; regrid the analysis with 'sowcast data ingest data.ingest.grid=...'")


def _time_step(ds: xr.Dataset, what: str) -> pd.Timedelta:
    text = ds.attrs.get("time_step")
    if text:
        try:
            return parse_time_step(str(text))
        except ValueError:
            pass
    return infer_time_step(ds["time"].values, what)


def extract(ds: xr.Dataset, specs: Sequence[ChannelSpec], grid: Grid, time_step: pd.Timedelta,
            init_time: Any, n_times: int, what: str) -> InitialConditions:
    """The ``n_times`` states up to ``init_time`` (None: the latest) from a canonical-form dataset."""
    wanted = list(dict.fromkeys(s.variable for s in specs))
    missing = [v for v in wanted if v not in ds.data_vars]
    if missing:
        have = sorted(str(n) for n in ds.data_vars if not str(n).endswith("_valid"))
        raise SowcastError(f"{what} lacks variable(s) {', '.join(missing)} that the bundle needs "
                           f"(it has {', '.join(have) or 'none'})")
    for name in wanted:
        if "time" not in ds[name].dims:
            raise SowcastError(f"{what}: {name} has no time axis")
        if "member" in ds[name].dims:
            raise SowcastError(f"{what}: {name} is an ensemble ({ds.sizes['member']} members); initial conditions "
                               f"must be one analysis (select a member first)")
    for s in specs:
        da = ds[s.variable]
        if s.level is None:
            if "level" in da.dims and da.sizes["level"] != 1:
                raise SowcastError(f"{what}: {s.variable} has pressure levels but the bundle wants it at the surface")
            continue
        if "level" not in da.dims:
            raise SowcastError(f"{what}: {s.variable} has no pressure levels; the bundle needs {s.level:g} hPa")
        have = np.asarray(da["level"].values, np.float64)
        if not np.isclose(have, s.level).any():
            raise SowcastError(f"{what} has no {s.variable} at {s.level:g} hPa (it has {_levels(have)} hPa)")
    check_grid(ds, grid, what)
    step = _time_step(ds, what)
    if step != pd.Timedelta(time_step):
        raise SowcastError(f"time steps differ: {what} has {time_step_iso(step)} but the bundle's is "
                           f"{time_step_iso(pd.Timedelta(time_step))}; resample it with 'sowcast data ingest "
                           f"data.ingest.time_step=...'")

    times = pd.DatetimeIndex(ds["time"].values)
    if init_time is None or str(init_time).lower() in ("", "none", "null", "latest"):
        end = len(times) - 1
    else:
        try:
            t0 = pd.Timestamp(init_time)
        except (TypeError, ValueError):
            raise SowcastError(f"forecast.init_time {init_time!r} is not a date") from None
        if t0.tzinfo is not None:
            t0 = t0.tz_convert("UTC").tz_localize(None)
        end = int(times.searchsorted(t0))
        if end >= len(times) or times[end] != t0:
            raise SowcastError(f"{what} has no state at init_time {_fmt(t0)} (it covers "
                               f"{_fmt(times[0])} .. {_fmt(times[-1])})")
    first = end - n_times + 1
    if first < 0:
        raise SowcastError(f"{what} starts at {_fmt(times[0])}; a forecast from {_fmt(times[end])} needs states "
                           f"from {_fmt(times[end] - (n_times - 1) * step)} ({n_times} step(s))")
    sel = times[first:end + 1]
    expected = pd.DatetimeIndex([times[end] - step * k for k in range(n_times - 1, -1, -1)])
    if not (sel == expected).all():
        raise SowcastError(f"{what}: the states before init_time {_fmt(times[end])} are not consecutive")

    h, w = grid.shape
    states = np.empty((n_times, len(specs), h, w), np.float32)
    loaded: dict[str, np.ndarray] = {}
    for c, s in enumerate(specs):
        if s.variable not in loaded:
            loaded[s.variable] = np.asarray(ds[s.variable].isel(time=slice(first, end + 1)).values)
        block = loaded[s.variable]
        da = ds[s.variable]
        if s.level is None:
            states[:, c] = block.reshape(n_times, h, w) if block.ndim == 4 else block
        else:
            k = int(np.argmin(np.abs(np.asarray(da["level"].values, np.float64) - s.level)))
            states[:, c] = block[:, k]
    bad = ~np.isfinite(states)
    if bad.any():
        t, c = np.argwhere(bad.reshape(n_times, len(specs), -1).any(axis=2))[0]
        count = int(bad[t, c].sum())
        raise SowcastError(f"the initial state from {what} has NaN or infinite values: {specs[c].name} at "
                           f"{_fmt(sel[t])} ({count} grid point(s))")
    return InitialConditions(states=states, times=sel.values.astype("datetime64[ns]"), source=what)


def _open_file(path: Path, kind: str) -> list[xr.Dataset]:
    """Open a netCDF or GRIB file in memory-backed lazy mode (no dask)."""
    from sowcast.data import sources

    if kind == sources.NETCDF:
        sources.check_hdf5_complete(path)
        try:
            return [xr.open_dataset(path, engine="netcdf4")]
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SowcastError(f"cannot read {path} as netCDF (corrupt or truncated?): {msg}") from None
    sources.check_grib_complete(path)
    try:
        import cfgrib
    except (ImportError, RuntimeError):
        raise SowcastError(f"reading GRIB ({path}) needs cfgrib and eccodes: pip install 'sowcast[grib]'") from None
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            datasets = list(cfgrib.open_datasets(str(path), backend_kwargs={"indexpath": ""}))
    except Exception as exc:  # noqa: BLE001 - eccodes and cfgrib raise many kinds for a bad file
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SowcastError(f"cannot read {path} as GRIB: {msg}") from None
    if not datasets:
        raise SowcastError(f"{path} holds no GRIB fields that cfgrib can read")
    return datasets


def normalise_analysis(path: Path, kind: str, variables: Sequence[str]) -> xr.Dataset:
    """A netCDF/GRIB analysis file in canonical form (in memory, through the ingest's steps)."""
    from sowcast.data import ingest, sources

    opts = ingest.Options.from_config({"sources": [str(path)], "variables": list(variables)})
    src = sources.Source(str(path), kind)
    parts = []
    available: set[str] = set()
    raw = _open_file(path, kind)
    for i, ds in enumerate(raw):
        what = src.name if len(raw) == 1 else f"{src.name} (part {i + 1})"
        with ingest._reading(what):
            part = ingest._prepare(ds, src, what, opts, available)
        if part is not None:
            parts.append(part)
    missing = [v for v in variables if v not in available]
    if missing:
        raise SowcastError(f"{path} lacks variable(s) {', '.join(missing)} that the bundle needs "
                           f"(it has {', '.join(sorted(available)) or 'none'})")
    with ingest._reading(src.name):
        groups = [ingest._prepare_group(g, opts, progress=False) for g in ingest._group(parts)]
        ds = ingest._merge(groups, opts)
    steps = [g.step for g in groups if g.step is not None]
    if steps:
        ds.attrs["time_step"] = time_step_iso(steps[0])
    return ds


def read_initial_conditions(source: str | os.PathLike, bundle: Any, init_time: Any = None,
                            n_times: int | None = None) -> InitialConditions:
    """The ``n_times`` (default ``bundle.n_input_steps``) states up to ``init_time`` from ``source``.

    ``source``: a canonical store, or a netCDF/GRIB analysis file; ``init_time`` None means
    the latest time of the source (see the module doc for the checks).
    """
    from sowcast.data import sources
    from sowcast.data.store import open_store

    if source is None or str(source) in ("", "None", "null"):
        raise SowcastError("forecast.init is not set: give a canonical store or a netCDF/GRIB analysis file")
    path = Path(os.path.expanduser(str(source)))
    if not path.exists():
        raise SowcastError(f"no initial conditions at {path}")
    n_times = int(n_times or bundle.n_input_steps)
    specs = channel_specs(bundle)
    kind = sources._local_kind(path)
    what = str(path)
    if kind == sources.ZARR:
        ds = open_store(path, chunks=None)
    elif kind in (sources.NETCDF, sources.GRIB):
        ds = normalise_analysis(path, kind, list(dict.fromkeys(s.variable for s in specs)))
    else:
        raise SowcastError(f"{path} is a {kind} source; initial conditions come from a canonical store "
                           f"or a netCDF/GRIB analysis")
    try:
        return extract(ds, specs, bundle.grid, bundle.time_step, init_time, n_times, what)
    finally:
        ds.close()
