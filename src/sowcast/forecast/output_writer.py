"""The forecast output: CF-1.8 zarr (or netCDF), written one lead time at a time.

Layout (what products code reads with ``xarray.open_dataset`` / ``open_zarr``)::

    dims      member, lead_time, [level,] lat, lon
    <variable>(member, lead_time, lat, lon)          surface channels, e.g. 2m_temperature
    <variable>(member, lead_time, level, lat, lon)   pressure-level channels, e.g. temperature
    coords    member (int, 0 = control)     lead_time (timedelta: step, 2 step, .., lead)
              init_time (scalar datetime)   valid_time(lead_time) = init_time + lead_time
              start_time(member): the analysis time the member started from (init_time,
                or earlier for lagged starts)
              level (hPa, ascending), lat (ascending), lon ([-180, 180))

Variable names, units, ``standard_name`` are the canonical store's (units and standard
names from the bundle). ``total_precipitation`` at ``valid_time`` v is the amount over
``[v, v + time_step)`` (period-beginning, as in the canonical store; ``cell_methods: time:
sum``). The analysis itself (lead 0) is not written. Global attributes carry provenance:
``bundle_sha256``, ``model_sha256`` (the ONNX file run: the bundle's id changes when files are
added to it, the model's does not), ``init_time``, ``sowcast_version``, ``onnxruntime_version``,
``forecast_config`` (the command's config as JSON), ``config_fingerprint`` and more.

Writing: the rollout writes into a zarr store whose arrays are created full size up front
(NaN until written; one chunk per lead time and member block), so each step writes only
its own chunk files and the metadata is never rewritten (a kill at any moment cannot leave
it half written). Memory holds one step. A ``.nc`` output is made from the finished zarr by
copying it lead time by lead time into a netCDF-4 file (``lead_time`` unlimited), so the
netCDF file is never written while the forecast may be killed (an HDF5 file killed mid-write
can be unreadable), and memory stays bounded by one step there too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.bundle.channel_masks import apply_channel_masks
from sowcast.cf_attributes import cf_dataset
from sowcast.data.schema import (
    CANONICAL_VARIABLES,
    COORD_ATTRS,
    PRECIPITATION_ACCUMULATION,
    cf_attrs,
)
from sowcast.errors import SowcastError

CHUNK_BYTES = 16 * 2**20  # largest chunk (one lead time, a block of members) written at once
COORDINATES = "init_time valid_time start_time"


@dataclass
class OutputVariable:
    """One output variable and the model channels it is made of."""

    name: str
    channels: list[int]               # indices into the state's channel axis
    levels: list[float] | None        # the level of each channel; None at the surface
    attrs: dict[str, Any]


def _time_unit(times: Sequence[Any], deltas: Sequence[Any]) -> str:
    """The coarsest of hours/minutes/seconds in which all times and steps are whole."""
    values = [pd.Timestamp(t).value for t in times] + [pd.Timedelta(d).value for d in deltas]
    for unit, ns in (("hours", 3600 * 10**9), ("minutes", 60 * 10**9)):
        if all(v % ns == 0 for v in values):
            return unit
    return "seconds"


@dataclass
class OutputLayout:
    """Everything about the output but its values (see the module doc)."""

    variables: list[OutputVariable]
    levels: np.ndarray | None
    lat: np.ndarray
    lon: np.ndarray
    init_time: pd.Timestamp
    lead_times: pd.TimedeltaIndex
    start_times: np.ndarray           # [M] datetime64[ns]
    attrs: dict[str, Any] = field(default_factory=dict)
    valid: np.ndarray | None = None   # [C, lat, lon] bool: False where a channel has no data (NaN written)

    @classmethod
    def build(cls, specs: Sequence[Any], channel_attrs: Mapping[str, Mapping[str, Any]], lat: np.ndarray,
              lon: np.ndarray, init_time: pd.Timestamp, lead_times: pd.TimedeltaIndex,
              start_times: np.ndarray, attrs: Mapping[str, Any], valid: np.ndarray | None = None) -> OutputLayout:
        """``specs``: the bundle's :class:`ChannelSpec` list; ``channel_attrs``: name -> units etc.;
        ``valid``: the bundle's channel masks (:func:`sowcast.bundle.channel_masks.read_channel_masks`)."""
        order: dict[str, list[int]] = {}
        for c, s in enumerate(specs):
            order.setdefault(s.variable, []).append(c)
        levels = sorted({float(s.level) for s in specs if s.level is not None})
        variables = []
        for name, chans in order.items():
            levs = [specs[c].level for c in chans]
            if any(lev is None for lev in levs) and len(chans) > 1:
                raise SowcastError(f"the bundle has {name} both at the surface and on levels")
            base = cf_attrs(name) if name in CANONICAL_VARIABLES else {}
            given = channel_attrs.get(specs[chans[0]].name, {})
            a = dict(base)
            for key in ("units", "standard_name", "long_name"):
                if given.get(key):
                    a[key] = str(given[key])
            if CANONICAL_VARIABLES.get(name) is not None and CANONICAL_VARIABLES[name].kind == "accumulation":
                a["cell_methods"] = "time: sum"
                a["comment"] = ("amount over [valid_time, valid_time + time_step) "
                                f"({PRECIPITATION_ACCUMULATION}, as in the canonical store)")
            a["coordinates"] = COORDINATES
            variables.append(OutputVariable(name, chans, None if levs[0] is None else [float(x) for x in levs], a))
        return cls(variables, np.asarray(levels, np.float64) if levels else None, np.asarray(lat, np.float64),
                   np.asarray(lon, np.float64), pd.Timestamp(init_time), pd.TimedeltaIndex(lead_times),
                   np.asarray(start_times, "datetime64[ns]"), dict(attrs), valid)

    # -- shapes --------------------------------------------------------------------------
    @property
    def n_members(self) -> int:
        return len(self.start_times)

    @property
    def n_leads(self) -> int:
        return len(self.lead_times)

    def dims(self, var: OutputVariable) -> tuple[str, ...]:
        return ("member", "lead_time", "level", "lat", "lon") if var.levels else ("member", "lead_time", "lat", "lon")

    def shape(self, var: OutputVariable) -> tuple[int, ...]:
        space = (len(self.levels), len(self.lat), len(self.lon)) if var.levels else (len(self.lat), len(self.lon))
        return (self.n_members, self.n_leads, *space)

    def chunks(self, var: OutputVariable) -> tuple[int, ...]:
        shape = self.shape(var)
        per_member = 4 * int(np.prod(shape[2:]))
        members = int(max(1, min(self.n_members, CHUNK_BYTES // max(per_member, 1))))
        return (members, 1, *shape[2:])

    def split(self, state: np.ndarray) -> dict[str, np.ndarray]:
        """One step's state ``[M, C, H, W]`` as the output variables' arrays (level vars: NaN where
        absent; NaN where a channel's mask says no data, e.g. the sea of a land-only variable)."""
        state = apply_channel_masks(state, self.valid)
        out = {}
        for var in self.variables:
            if var.levels is None:
                out[var.name] = state[:, var.channels[0]]
                continue
            block = np.full((state.shape[0], len(self.levels), *state.shape[2:]), np.nan, np.float32)
            for c, lev in zip(var.channels, var.levels):
                block[:, int(np.flatnonzero(np.isclose(self.levels, lev))[0])] = state[:, c]
            out[var.name] = block
        return out

    # -- coordinates ---------------------------------------------------------------------
    def coords_dataset(self) -> tuple[xr.Dataset, dict[str, dict[str, Any]]]:
        """The coordinates (no data) with CF attributes, and their encoding."""
        valid = self.init_time + self.lead_times
        unit = _time_unit([self.init_time, *self.start_times], list(self.lead_times))
        since = f"{unit} since {self.init_time:%Y-%m-%d %H:%M:%S}"
        coords: dict[str, Any] = {
            "member": ("member", np.arange(self.n_members, dtype=np.int32),
                       {**COORD_ATTRS["member"], "comment": "0 is the control (unperturbed) member"}),
            "lead_time": ("lead_time", self.lead_times.values.astype("timedelta64[ns]"),
                          {"standard_name": "forecast_period", "long_name": "time since init_time"}),
            "init_time": ((), np.datetime64(self.init_time.to_datetime64(), "ns"),
                          {"standard_name": "forecast_reference_time",
                           "long_name": "time of the latest analysis the forecast starts from"}),
            "valid_time": ("lead_time", valid.values.astype("datetime64[ns]"),
                           {"standard_name": "time", "long_name": "valid time (init_time + lead_time)",
                            "axis": "T"}),
            "start_time": ("member", self.start_times,
                           {"long_name": "analysis time the member started from (earlier for lagged starts)"}),
            "lat": ("lat", self.lat, dict(COORD_ATTRS["lat"])),
            "lon": ("lon", self.lon, dict(COORD_ATTRS["lon"])),
        }
        if self.levels is not None:
            coords["level"] = ("level", self.levels, dict(COORD_ATTRS["level"]))
        ds = xr.Dataset(coords={k: xr.Variable(*v) if isinstance(v, tuple) else v for k, v in coords.items()},
                        attrs=self.attrs)
        ds["lead_time"].encoding["units"] = unit
        for name in ("init_time", "valid_time", "start_time"):
            ds[name].encoding.update(units=since, calendar="proleptic_gregorian")
        # CF-1.8 (sowcast.cf_attributes): int times in these units, no fill values on coordinates
        return cf_dataset(ds, "sowcast ensemble forecast")


def _clean_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in attrs.items() if v is not None}


class ZarrStepWriter:
    """Write lead times one by one into a zarr store created full size (module doc)."""

    def __init__(self, path: str | os.PathLike, layout: OutputLayout, create: bool = False):
        import zarr

        self.path = Path(path)
        self.layout = layout
        if create:
            self._create()
        try:
            self.group = zarr.open_group(str(self.path), mode="r+", zarr_format=3, use_consolidated=False)
            self.arrays = {v.name: self.group[v.name] for v in layout.variables}
        except Exception as exc:  # noqa: BLE001 - a missing or damaged partial output
            raise SowcastError(f"cannot open the partial output {self.path}: {type(exc).__name__}: {exc}") from None
        for v in layout.variables:
            if tuple(self.arrays[v.name].shape) != layout.shape(v):
                raise SowcastError(f"the partial output {self.path} has {v.name} of shape "
                                   f"{self.arrays[v.name].shape}, expected {layout.shape(v)}")
        self._synced: set[str] = set()
        self.steps_written = 0

    def _create(self) -> None:
        import zarr

        ds, encoding = self.layout.coords_dataset()
        ds.to_zarr(self.path, mode="w-", zarr_format=3, consolidated=False, encoding=encoding)
        group = zarr.open_group(str(self.path), mode="r+", zarr_format=3, use_consolidated=False)
        for v in self.layout.variables:
            group.create_array(v.name, shape=self.layout.shape(v), chunks=self.layout.chunks(v), dtype="float32",
                               fill_value=np.float32(np.nan), dimension_names=self.layout.dims(v),
                               attributes=_clean_attrs(v.attrs))
        attrs = dict(group.attrs)
        attrs.pop("coordinates", None)  # the variables name their coordinates themselves
        group.attrs.clear()
        group.attrs.update(attrs)

    def write_step(self, index: int, state: np.ndarray) -> None:
        """Write lead time ``index`` from one step's state ``[M, C, H, W]``."""
        if state.ndim != 4 or state.shape[0] != self.layout.n_members:
            raise ValueError(f"a step's state must be [members, C, H, W], not {state.shape}")
        for name, values in self.layout.split(state).items():
            self.arrays[name][:, index] = values
        self.steps_written += 1

    def flush(self) -> None:
        """fsync every file and folder written since the last flush (for a power cut)."""
        for root, dirs, files in os.walk(self.path):
            for name in files:
                p = os.path.join(root, name)
                if p not in self._synced:
                    with open(p, "rb") as f:
                        os.fsync(f.fileno())
                    self._synced.add(p)
            if root not in self._synced or files:
                fd = os.open(root, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
                self._synced.add(root)


def read_fingerprint(path: str | os.PathLike) -> str | None:
    """The ``config_fingerprint`` attribute of a finished output (zarr or netCDF), or None."""
    path = Path(path)
    try:
        if path.is_dir():
            import zarr

            return zarr.open_group(str(path), mode="r", use_consolidated=False).attrs.get("config_fingerprint")
        import netCDF4

        with netCDF4.Dataset(path, "r") as nc:
            return getattr(nc, "config_fingerprint", None)
    except Exception:  # noqa: BLE001 - not ours, or damaged: it is simply not the same forecast
        return None


def write_netcdf(zarr_path: str | os.PathLike, nc_path: str | os.PathLike, layout: OutputLayout) -> None:
    """Copy a finished zarr output into a netCDF-4 file, one lead time at a time."""
    import netCDF4
    import zarr

    ds, encoding = layout.coords_dataset()
    ds.to_netcdf(nc_path, engine="netcdf4", format="NETCDF4", encoding=encoding, unlimited_dims=["lead_time"])
    src = zarr.open_group(str(zarr_path), mode="r", use_consolidated=False)
    with netCDF4.Dataset(nc_path, "a") as nc:
        if "coordinates" in nc.ncattrs():
            nc.delncattr("coordinates")
        out = {}
        for v in layout.variables:
            var = nc.createVariable(v.name, "f4", layout.dims(v), zlib=True, complevel=1, shuffle=True,
                                    chunksizes=layout.chunks(v), fill_value=np.float32(np.nan))
            var.setncatts(_clean_attrs(v.attrs))
            out[v.name] = var
        for i in range(layout.n_leads):
            for v in layout.variables:
                out[v.name][:, i] = src[v.name][:, i]
