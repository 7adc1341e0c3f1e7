"""Ingest: raw archives (netCDF, GRIB, zarr, fsspec URLs, station CSV) -> one canonical store.

The steps, each in its own module:

1. expand and open the sources lazily (:mod:`sowcast.data.sources`);
2. per source: coordinates (:func:`normalize.normalise_coords`), canonical names
   (:mod:`sowcast.data.variable_names`), the ``variables`` and ``level`` selections;
3. sources with the same variables are concatenated in time (yearly files), then per
   such group: the constant time step, units (:mod:`sowcast.data.units`), the
   precipitation convention (ERA5 period-ending sums move to period-beginning), the
   ``time_range``, a value check (gaps, +-inf, implausible ranges of
   :mod:`sowcast.data.plausible`: one dask pass over all groups), resampling to
   ``time_step`` (``resample``: ``mean`` averages the states over each new step, ``instant``
   keeps their values at the new steps; see :func:`instant_samples`), regridding to
   ``grid`` (:func:`sowcast.data.regrid.regrid`) and static
   masks filled and flagged (:mod:`sowcast.data.normalize` has the conventions);
4. the groups are merged (same grid and time step, or a clear error naming both), chunked
   (``chunks``, default 8 time steps and whole fields), given CF attributes and written
   with statistics by :func:`sowcast.data.store.write_store`, atomically.

A station CSV goes to :func:`sowcast.data.stations.read_station_csv` and gives a point
store (dims ``time, station``) instead. dask runs under
:func:`sowcast.data.dask_runtime.dask_session`: threads by default, or a
``dask.distributed`` cluster (``cluster={'scheduler': 'distributed', 'address':
'local-cluster'}`` or a scheduler address).

The options are :class:`sowcast.data.ingest_options.IngestOptions` (the ``data.ingest:``
config); the entry is :func:`run` (:func:`ingest`: the same from a mapping).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.config import plain
from sowcast.data import normalize
from sowcast.data.dask_runtime import persist
from sowcast.data.ingest_options import TIME_CHUNK, IngestOptions
from sowcast.data.plausible import check_values, value_summary
from sowcast.data.schema import (
    CANONICAL_VARIABLES, PRECIPITATION_ACCUMULATION, cf_attrs, time_step_iso,
)
from sowcast.data.sources import CSV, GRIB, Source, expand_sources, open_source
from sowcast.data.store import is_remote
from sowcast.data.units import convert_units, normalise_units
from sowcast.data.variable_names import rename_variables
from sowcast.errors import SowcastError
from sowcast.output_lock import output_lock

_ACCUMULATION = "_sowcast_accumulation"  # private attr: the source's labelling convention
Options = IngestOptions  # the name sowcast.forecast.initial_conditions (and older callers) use


@dataclass
class Part:
    """One opened source (or one hypercube of a GRIB file), normalised but for units."""

    what: str
    source: Source
    ds: xr.Dataset


@contextlib.contextmanager
def _reading(what: str) -> Iterator[None]:
    """Turn a failure to read source bytes during a dask computation into a one-line error."""
    try:
        yield
    except SowcastError:
        raise
    except Exception as exc:
        module = type(exc).__module__ or ""
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, OSError) or module.startswith(("gribapi", "eccodes", "cfgrib")) or \
                "NetCDF" in text or "HDF" in text:
            raise SowcastError(f"reading {what} failed (corrupt or truncated file?): {text}") from None
        raise


# --- per source ---

def _source_convention(name: str, src_name: str, da: xr.DataArray, root: Mapping[str, Any],
                       override: str) -> str:
    """Which end of its period a precipitation value is labelled by (see normalize doc)."""
    if override != "auto":
        return override
    for attrs in (da.attrs, root):
        conv = attrs.get("precipitation_accumulation")
        if conv in (normalize.PERIOD_BEGINNING, normalize.PERIOD_ENDING):
            return str(conv)
    if "sowcast_format" in root:
        return normalize.PERIOD_BEGINNING
    units = normalise_units(da.attrs.get("units", "")) if da.attrs.get("units") is not None else ""
    if da.attrs.get("GRIB_stepType") == "accum" or units in ("m", "metre", "metres", "meter", "meters") or \
            src_name in ("tp", "total_precipitation_6hr", "total_precipitation_24hr"):
        return normalize.PERIOD_ENDING  # ERA5 and WeatherBench 2 accumulations
    return normalize.PERIOD_BEGINNING


_MAX_CHUNK_BYTES = 64 * 2**20
# Groups up to this size are read once and kept in memory (or on the dask workers) for the
# missing-value check, the statistics and the write; larger ones are read once per pass.
_PERSIST_BYTES = 512 * 2**20


def _bound_chunks(ds: xr.Dataset, kind: str, time_chunk: int) -> xr.Dataset:
    """Split source chunks along time where they are big (or GRIB, read message by message).

    ``chunks={}`` gives one chunk per stored chunk: the whole variable for a GRIB file or
    a contiguous netCDF variable. dask pushes the slicing into the read, so smaller time
    chunks bound memory and let a reduction over one step read one step.
    """
    if "time" not in ds.dims:
        return ds
    sizes = {}
    for da in ds.data_vars.values():
        if "time" not in da.dims or da.chunks is None:
            continue
        per_step = da.dtype.itemsize * int(np.prod([da.sizes[d] for d in da.dims if d != "time"]))
        stored = max(da.chunksizes["time"])
        want = time_chunk if kind == GRIB else max(1, _MAX_CHUNK_BYTES // max(per_step, 1))
        if stored > want:
            sizes[da.name] = want
    if not sizes:
        return ds
    return ds.chunk({"time": min(sizes.values())})


def _prepare(raw: xr.Dataset, source: Source, what: str, opts: IngestOptions, available: set[str]) -> Part | None:
    ds = normalize.normalise_coords(raw, what)
    ds = _bound_chunks(ds, source.kind, opts.time_chunk)
    times = ds["time"].values if "time" in ds.dims else []
    step = pd.Timedelta(times[1] - times[0]) if len(times) > 1 else None
    ds, mapping = rename_variables(ds, opts.rename, what, step)
    available.update(map(str, ds.data_vars))
    if opts.variables is not None:
        keep = [v for v in ds.data_vars if v in opts.variables]
        if not keep:
            return None
        ds = ds[keep]
    updated = {}
    for name, old in mapping.items():
        if name not in ds.data_vars:
            continue
        da = ds[name].copy(deep=False)
        da.attrs = dict(da.attrs)
        given = opts.units.get(old, opts.units.get(name))
        if given is not None:
            da.attrs["units"] = given
        if CANONICAL_VARIABLES[name].kind == "accumulation":
            da.attrs[_ACCUMULATION] = _source_convention(name, old, da, raw.attrs, opts.accumulation)
        updated[name] = da
    ds = ds.assign(updated)
    ds = normalize.canonical_dims(ds, what)
    ds = normalize.select(ds, None, opts.level, what)
    return Part(what, source, ds)


# --- grids ---

def _grid_text(ds: xr.Dataset) -> str:
    lat, lon = ds["lat"].values, ds["lon"].values
    step = f", step {abs(float(lat[1] - lat[0])):g}" if len(lat) > 1 else ""
    return f"{len(lat)} x {len(lon)} (lat {lat[0]:g}..{lat[-1]:g}, lon {lon[0]:g}..{lon[-1]:g}{step})"


def _same_grid(a: xr.Dataset, b: xr.Dataset) -> bool:
    return all(a.sizes[d] == b.sizes[d] and np.allclose(a[d].values, b[d].values, atol=1e-6)
               for d in ("lat", "lon"))


def _check_grids(items: Sequence[tuple[str, xr.Dataset]]) -> None:
    first_what, first = items[0]
    for what, ds in items[1:]:
        if not _same_grid(first, ds):
            raise SowcastError(
                f"grids do not match: {first_what} is {_grid_text(first)} but {what} is {_grid_text(ds)}; "
                f"set ingest.grid to regrid them to one grid"
            )


# --- groups of sources with the same variables ---

@dataclass
class Group:
    what: str
    sources: list[Source]
    ds: xr.Dataset
    step: pd.Timedelta | None = None
    masked: list[str] = field(default_factory=list)
    units: dict[str, str | None] = field(default_factory=dict)  # each variable's source units


def _group(parts: list[Part]) -> list[Group]:
    by_vars: dict[tuple[str, ...], list[Part]] = {}
    for p in parts:
        by_vars.setdefault(tuple(sorted(map(str, p.ds.data_vars))), []).append(p)
    groups = []
    for members in by_vars.values():
        _check_grids([(p.what, p.ds) for p in members])
        if len(members) == 1:
            p = members[0]
            groups.append(Group(p.what, [p.source], p.ds))
            continue
        timed = [p for p in members if "time" in p.ds.dims]
        what = f"{members[0].what} .. {members[-1].what} ({len(members)} sources)"
        if not timed:
            raise SowcastError(f"{what} hold the same static variables; give each once")
        timed.sort(key=lambda p: p.ds["time"].values[0])
        ref = timed[0].ds
        aligned = [p.ds.assign_coords(lat=ref["lat"], lon=ref["lon"]) for p in timed]
        try:
            ds = xr.concat(aligned, dim="time", data_vars="minimal", coords="minimal",
                           compat="override", join="exact", combine_attrs="drop_conflicts")
        except ValueError as exc:
            raise SowcastError(f"cannot join {what} in time: {str(exc).splitlines()[0]}") from None
        groups.append(Group(what, [p.source for p in timed], ds))
    return groups


def _check_last_day(g: Group, opts: IngestOptions) -> None:
    """A GRIB file cut at a message boundary reads as a shorter series of whole fields; the
    sign it leaves: a sub-daily series whose first day is whole ends in a part of a day.
    An ``ingest.time_range`` with an end says where the series is meant to stop."""
    day = pd.Timedelta(days=1)
    if g.step is None or g.step >= day or day % g.step or not any(s.kind == GRIB for s in g.sources):
        return
    if opts.time_range and opts.time_range[-1] is not None:
        return
    if any(da.attrs.get(_ACCUMULATION) == normalize.PERIOD_ENDING for da in g.ds.data_vars.values()):
        return  # labelled by the end of their period: a day's last value falls on the next day
    days = pd.DatetimeIndex(g.ds["time"].values).normalize()
    whole, first, last = int(day / g.step), int((days == days[0]).sum()), int((days == days[-1]).sum())
    if days[0] != days[-1] and first == whole and last < whole:
        raise SowcastError(
            f"{g.what}: the last day {days[-1]:%Y-%m-%d} has {last} of its {whole} {time_step_iso(g.step)} steps "
            f"but the first day is whole: a GRIB file cut short at a message boundary? If the series "
            f"does end there, give ingest.time_range with its end"
        )


def _prepare_group(g: Group, opts: IngestOptions, progress: bool = False) -> Group:
    """Time step, units, precipitation convention and time range of one group."""
    ds = g.ds
    g.step = normalize.time_step(ds, g.what)
    _check_last_day(g, opts)
    converted = {}
    for name, da in ds.data_vars.items():
        attrs = dict(da.attrs)
        conv = attrs.pop(_ACCUMULATION, None)
        g.units[str(name)] = attrs.get("units")
        out = convert_units(da, str(name), attrs.get("units"), g.step, g.what)
        out.attrs = {**attrs, "units": out.attrs["units"]}
        if conv:
            out.attrs[_ACCUMULATION] = conv
        converted[name] = out
    ds = ds.assign(converted)
    ending = [n for n, da in ds.data_vars.items() if da.attrs.get(_ACCUMULATION) == normalize.PERIOD_ENDING]
    ds = normalize.to_period_beginning(ds, ending)
    ds = normalize.select(ds, opts.time_range, None, g.what)
    if "time" in ds.dims:
        if ds.sizes["time"] < 2:
            raise SowcastError(f"{g.what} has {ds.sizes['time']} time step(s) left; at least 2 are needed")
    if ds.nbytes <= _PERSIST_BYTES:
        # Small enough to hold: read (decode) the source once, not once per pass.
        with _reading(g.what):
            ds = persist(ds, f"reading {g.what}", progress)
    g.ds = ds
    return g


def _check_values(groups: list[Group], progress: bool) -> None:
    """One dask pass over all groups: masks are fine; gaps, empty fields, +-inf and values
    outside the plausible range (:mod:`sowcast.data.plausible`) are errors."""
    lazy: list[tuple[Group, str, dict[str, xr.DataArray], dict[str, xr.DataArray]]] = []
    for g in groups:
        for name, da in g.ds.data_vars.items():
            lazy.append((g, str(name), normalize.nan_summary(da), value_summary(da)))
    arrays = [a.data for _, _, n, v in lazy for a in (*n.values(), *v.values())]
    it = iter(_compute_together(arrays, groups, "checking values", progress))
    for g, name, nans, values in lazy:
        nans = {k: a.copy(data=np.asarray(next(it))) for k, a in nans.items()}
        values = {k: a.copy(data=np.asarray(next(it))) for k, a in values.items()}
        if normalize.check_nans(name, nans, g.what):
            g.masked.append(name)
        check_values(name, values, g.units.get(name), g.what, g.step)


def _pack(*values: Any) -> tuple[Any, ...]:
    return values


def _compute_together(arrays: list[Any], groups: list[Group], label: str, progress: bool) -> Sequence[Any]:
    """Every (small, reduced) array computed in one dask pass over the groups' sources."""
    import dask

    from sowcast.data.dask_runtime import compute

    if not any(dask.is_dask_collection(a) for a in arrays):
        return arrays
    with _reading(", ".join(g.what for g in groups)):
        return compute(dask.delayed(_pack)(*arrays), label=label, progress=progress)


def instant_samples(ds: xr.Dataset, resampled: xr.Dataset) -> xr.Dataset:
    """``ingest.resample: instant``: each state variable's value at the new step's time ``t``
    (the source's sample at 00, 06, 12, 18 UTC for ``time_step: 6h``: ERA5's instantaneous
    fields as WeatherBench 2 and GraphCast sample them, Rasp et al. 2024, Lam et al. 2023),
    not the mean over ``[t, t + step)``. Accumulations stay summed and ``maximum_``/``minimum_``
    variables stay the extremes over the step (:func:`normalize.resample`): a sample of them
    would lose what fell between samples. ``resampled``: ``normalize.resample(ds, ...)``, whose
    times are the starts of the complete new steps, each one a time of ``ds``."""
    states = [n for n, da in resampled.data_vars.items()
              if "time" in da.dims
              and (CANONICAL_VARIABLES[str(n)].kind if n in CANONICAL_VARIABLES else "state") == "state"
              and not str(n).startswith(("maximum_", "minimum_"))]
    if not states:
        return resampled
    picked = ds[states].sel(time=resampled["time"].values)
    return resampled.assign({n: picked[n].assign_attrs(resampled[n].attrs) for n in states})


def _transform_group(g: Group, opts: IngestOptions) -> Group:
    """Resample to ``time_step`` and regrid to ``grid``."""
    ds = g.ds
    if opts.time_step is not None and g.step is not None and opts.time_step != g.step:
        resampled = normalize.resample(ds, opts.time_step, g.step, g.what)
        ds = instant_samples(ds, resampled) if opts.resample == "instant" else resampled
        g.step = opts.time_step
    grid = opts.target_grid
    if grid is not None:
        from sowcast.data.regrid import regrid

        ds = regrid(ds, grid, opts.regrid_method)
    g.ds = ds
    return g


def _fill_masks(groups: list[Group], progress: bool, period: Any = None) -> None:
    todo = [(g, name, normalize.mask_summary(g.ds[name], period)) for g in groups for name in g.masked]
    if not todo:
        return
    arrays = [a.data for _, _, s in todo for a in s.values()]
    it = iter(_compute_together(arrays, groups, "filling masked points", progress))
    for g, name, summary in todo:
        valid = summary["valid"].copy(data=np.asarray(next(it)))
        mean = summary["mean"].copy(data=np.asarray(next(it)))
        if bool(valid.all()):
            continue
        g.ds = normalize.apply_mask(g.ds, name, valid, mean)


def _merge(groups: list[Group], opts: IngestOptions) -> xr.Dataset:
    if len(groups) == 1:
        return groups[0].ds
    _check_grids([(g.what, g.ds) for g in groups])
    timed = [g for g in groups if g.step is not None]
    for g in timed[1:]:
        if g.step != timed[0].step:
            raise SowcastError(
                f"time steps do not match: {timed[0].what} has {time_step_iso(timed[0].step)} but "
                f"{g.what} has {time_step_iso(g.step)}; set ingest.time_step to resample them"
            )
    seen: dict[str, str] = {}
    for g in groups:
        for name in g.ds.data_vars:
            if name in seen:
                raise SowcastError(f"variable {name!r} comes from both {seen[name]} and {g.what}; give it once")
            seen[str(name)] = g.what
    for dim, unit in (("level", " hPa"), ("member", "")):
        having = [g for g in groups if dim in g.ds.dims]
        for g in having[1:]:
            a, b = having[0].ds[dim].values, g.ds[dim].values
            if len(a) != len(b) or not np.allclose(a, b):
                raise SowcastError(
                    f"{dim}s do not match: {having[0].what} has {', '.join(f'{x:g}' for x in a)}{unit} but "
                    f"{g.what} has {', '.join(f'{x:g}' for x in b)}{unit}"
                    + ("; choose common ones with ingest.level" if dim == "level" else "")
                )
    ref = groups[0].ds
    datasets = [g.ds.assign_coords(lat=ref["lat"], lon=ref["lon"]) for g in groups]
    if timed:
        common = timed[0].ds["time"].values
        for g in timed[1:]:
            common = np.intersect1d(common, g.ds["time"].values)
        if len(common) < 2:
            raise SowcastError(
                f"the sources do not overlap in time ({'; '.join(_span(g) for g in timed)})"
            )
        datasets = [d.sel(time=common) if "time" in d.dims else d for d in datasets]
    try:
        return xr.merge(datasets, join="exact", compat="override", combine_attrs="drop")
    except ValueError as exc:  # coordinates that still disagree
        raise SowcastError(f"cannot merge {', '.join(g.what for g in groups)}: {str(exc).splitlines()[0]}") from None


def _span(g: Group) -> str:
    t = pd.DatetimeIndex(g.ds["time"].values)
    return f"{g.what}: {t[0]:%Y-%m-%d %H:%M}..{t[-1]:%Y-%m-%d %H:%M}"


def _dask_chunks(ds: xr.Dataset, stored: Mapping[str, int]) -> dict[str, int]:
    """dask chunks: whole multiples of the stored zarr chunks, up to about 64 MB per variable.

    The zarr chunks (``ingest.chunks``, default 8 time steps) suit the training reader; the
    computation runs on fewer, larger pieces (a write of whole zarr chunks stays safe).
    """
    chunks = {d: int(stored.get(d, TIME_CHUNK if d == "time" else -1)) for d in ds.dims}
    if "time" in ds.dims and chunks["time"] > 0:
        per_step = max(
            (da.dtype.itemsize * int(np.prod([n if chunks.get(d, -1) < 0 else min(n, chunks[d])
                                              for d, n in da.sizes.items() if d != "time"]))
             for da in ds.data_vars.values() if "time" in da.dims),
            default=1,
        )
        factor = max(1, _MAX_CHUNK_BYTES // max(per_step * chunks["time"], 1))
        chunks["time"] = chunks["time"] * factor
    return chunks


def _finalise(ds: xr.Dataset, sources: list[Source], step: pd.Timedelta | None, opts: IngestOptions) -> xr.Dataset:
    """float32, CF attributes, chunks and root attributes."""
    import sowcast

    out = {}
    order = list(CANONICAL_VARIABLES)
    names = sorted((n for n in ds.data_vars if not str(n).endswith("_valid")), key=lambda n: order.index(str(n)))
    for name in names:
        da = ds[name]
        mask = f"{name}_valid"
        attrs = cf_attrs(str(name))
        if "ancillary_variables" in da.attrs:
            attrs["ancillary_variables"] = da.attrs["ancillary_variables"]
        out[name] = da.astype(np.float32).assign_attrs(attrs)
        out[name].attrs = attrs
        if mask in ds.data_vars:
            out[mask] = ds[mask].astype(bool)
    res = xr.Dataset(out, coords={c: ds[c] for c in ds.coords})
    res = res.chunk(_dask_chunks(res, opts.chunks))
    res.attrs = {
        "Conventions": "CF-1.8",
        "time_step": time_step_iso(step) if step is not None else "",
        "precipitation_accumulation": PRECIPITATION_ACCUMULATION,
        "source": [s.uri for s in sources],
        "history": f"{pd.Timestamp.now('UTC'):%Y-%m-%dT%H:%M:%SZ} sowcast {sowcast.__version__} ingest "
                   f"of {len(sources)} source(s)",
    }
    return res


# --- entry points ---

def _ingest_stations(sources: list[Source], opts: IngestOptions, store: Path, overwrite: bool,
                     progress: bool) -> Path:
    from sowcast.data.stations import read_station_csv, validate_points
    from sowcast.data.statistics import compute_statistics
    from sowcast.data.store import write_store

    if opts.grid is not None:
        raise SowcastError("station CSVs are point data; ingest.grid does not apply to them")
    parts = [read_station_csv(s.uri, stations=opts.stations,
                              variables=list(opts.variables) if opts.variables is not None else None,
                              time_range=tuple(opts.time_range) if opts.time_range else None)
             for s in sources]
    ds = parts[0] if len(parts) == 1 else xr.concat(parts, dim="station", join="outer",
                                                     combine_attrs="drop_conflicts")
    step = normalize.time_step(ds, "station data") if ds.sizes.get("time", 0) >= 2 else None
    if opts.time_step is not None and step is not None and opts.time_step != step:
        raise SowcastError(f"station data has a {time_step_iso(step)} step; resampling it to "
                           f"{time_step_iso(opts.time_step)} is not supported")
    validate_points(ds, "station data")
    ds.attrs.update({"source": [s.uri for s in sources]})
    stats = compute_statistics(ds, opts.statistics_period, progress=progress)
    # Station series are read whole (products, verification): decade-long chunks, not the
    # gridded default, which would write thousands of tiny chunk files.
    chunks = {**opts.chunks, "time": max(opts.time_chunk, 3660)}
    return write_store(ds, store, statistics=stats, chunks=chunks, overwrite=overwrite,
                       progress=progress, validate=False)


@dataclass(frozen=True)
class IngestResult:
    """What :func:`run` wrote: the canonical store (statistics beside it) from how many sources."""

    store: Path
    sources: int
    points: bool  # a station (point) store, dims time, station

    def summary(self) -> str:
        return f"wrote canonical store {self.store}"


def ingest(cfg_ingest: Mapping, store: str | Path, cluster: Mapping | None = None,
           overwrite: bool = False, progress: bool = True) -> Path:
    """:func:`run` with the ``ingest:`` config as a mapping (parsed by
    :meth:`IngestOptions.from_config`); the store's path."""
    return run(IngestOptions.from_config(cfg_ingest), store, cluster=cluster, overwrite=overwrite,
               progress=progress).store


def run(opts: IngestOptions, store: str | Path, *, cluster: Mapping | None = None, overwrite: bool = False,
        progress: bool = True) -> IngestResult:
    """Read ``opts.sources`` into the canonical store ``store``; see module doc. ``cluster``: the
    ``cluster:`` config (:func:`sowcast.data.dask_runtime.dask_session`; None: threads).

    Nothing appears at ``store`` unless the whole store and its statistics were written.
    """
    from sowcast.data.dask_runtime import dask_session

    try:
        import dask  # noqa: F401
    except ImportError:
        raise SowcastError("ingest needs dask: pip install 'sowcast[ingest]'") from None
    if is_remote(str(store)):
        raise SowcastError(f"canonical stores are written to a local path, not {store}")
    store = Path(store)
    with output_lock(store):                     # one writer per store (sowcast.output_lock)
        if store.exists() and not overwrite:
            raise SowcastError(f"{store} exists already; set overwrite=true to replace it")
        sources = expand_sources(opts.sources, opts.storage_options)
        csvs = [s for s in sources if s.kind == CSV]
        with dask_session(plain(cluster) if cluster else None):
            if csvs:
                if len(csvs) != len(sources):
                    raise SowcastError("station CSVs and gridded sources go to separate stores; ingest them separately")
                path = _ingest_stations(sources, opts, store, overwrite, progress)
            else:
                path = _ingest_grids(sources, opts, store, overwrite, progress)
    return IngestResult(store=path, sources=len(sources), points=bool(csvs))


def _ingest_grids(sources: list[Source], opts: IngestOptions, store: Path, overwrite: bool,
                  progress: bool) -> Path:
    """Gridded sources: steps 2-4 of the module doc."""
    from sowcast.data.statistics import compute_statistics
    from sowcast.data.store import write_store

    parts: list[Part] = []
    available: set[str] = set()
    for src in sources:
        opened = open_source(src, opts.storage_options)
        for i, raw in enumerate(opened):
            what = src.name if len(opened) == 1 else f"{src.name} (part {i + 1})"
            part = _prepare(raw, src, what, opts, available)
            if part is not None:
                parts.append(part)
    missing = [v for v in (opts.variables or []) if v not in available]
    if missing:
        raise SowcastError(
            f"requested variable(s) {', '.join(missing)} not found in the sources "
            f"(found: {', '.join(sorted(available)) or 'none'})"
        )
    groups = [_prepare_group(g, opts, progress) for g in _group(parts)]
    _check_values(groups, progress)
    groups = [_transform_group(g, opts) for g in groups]
    _fill_masks(groups, progress, opts.statistics_period)
    ds = _merge(groups, opts)
    steps = [g.step for g in groups if g.step is not None]
    ds = _finalise(ds, sources, steps[0] if steps else None, opts)
    with _reading("the sources"):
        stats = compute_statistics(ds, opts.statistics_period, progress=progress)
        return write_store(ds, store, statistics=stats, chunks=opts.chunks, overwrite=overwrite,
                           progress=progress)
