"""Training windows cut from a canonical store: torch-free, fork-safe, raw zarr reads.

A window at time ``t`` (index ``i`` of the store's time axis) holds

* ``inputs``   ``[n_input_steps, C, lat, lon]``: states ``t - n_input_steps + 1 .. t``;
* ``targets``  ``[n_target_steps, C, lat, lon]``: states ``t + 1 .. t + n_target_steps``;
* ``forcings`` ``[n_input_steps + n_target_steps, F, lat, lon]``: computed forcings
  (:mod:`sowcast.data.forcings`) at every time of the window, inputs first; computed once
  per time index and kept (:mod:`sowcast.data.forcing_cache`), not once per window;
* ``static``   ``[S, lat, lon]``: static fields (``land_sea_mask``, ``orography``...);
* ``time``: ``t`` as int64 nanoseconds since 1970.

Channels are one per (variable, level) in the order of :func:`schema.channel_names`:
variables in the order asked (or stored), levels in stored order.

Where the states come from (``in_memory``):

* **held in memory**: :meth:`WindowSource.load` reads the states of every time the windows
  use, ``[T, C, lat, lon]`` float32 (:attr:`WindowSource.state_bytes`), once; a window is
  then a copy out of that array. ``"auto"`` (the default) holds them when they fit under
  ``memory_budget_mib`` (default 2048 MiB: the 20-year demo store's 7 channels on 27 x 37
  take 195 MiB); ``True`` always, ``False`` never. The training DataLoader
  (:func:`sowcast.train.dataloader.make_dataloader`) calls :meth:`load` before its workers
  start: forked workers share the parent's pages (nothing writes to them), a spawned worker
  loads its own copy. Other readers (validation, statistics, export checks) stream.
* **streamed**: reads go through :class:`sowcast.data.chunk_reader.TimeSliceReader` (chunk
  files read and decoded directly for the plain local layout, raw ``zarr`` otherwise),
  whole time chunks at a time, the decoded chunks kept in one least-recently-used cache of
  at most ``chunk_cache_mib`` (default 256 MiB) per process.

Either way the windows are the same, bit for bit (``tests/data/test_window_memory.py``).
Per process the loader holds at most: the held states (or the chunk cache), the forcing
cache (256 MiB, :mod:`sowcast.data.forcing_cache`) and the static fields.

Nothing goes through dask: the group is opened lazily in each process on first access and
reopened after a fork, so DataLoader workers are safe even when the parent ran dask
computations before forking. Only metadata, the statistics group and the (small) static
fields are read when the source is built.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sowcast.data.chunk_reader import ChunkCache, TimeSliceReader
from sowcast.data.forcing_cache import ForcingCache
from sowcast.data.forcings import FORCING_NAMES
from sowcast.data.grid import Grid
from sowcast.data.schema import channel_names, infer_time_step, parse_time_step
from sowcast.data.store import data_variables, open_store, read_statistics
from sowcast.data.time_ranges import inclusive_end, timestamp
from sowcast.errors import SowcastError

_CHANNEL_STATS = ("mean", "std", "min", "max", "diff_mean", "diff_std")
DEFAULT_MEMORY_BUDGET_MIB = 2048.0   # in_memory="auto": hold the states when they fit under this
DEFAULT_CHUNK_CACHE_MIB = 256.0      # streaming: decoded chunks kept per process


def _in_memory_mode(value: Any) -> bool | str:
    """``True``, ``False`` or ``"auto"`` from a setting (YAML gives booleans, the CLI strings)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    modes: dict[str, bool | str] = {"auto": "auto", "true": True, "false": False}
    if text not in modes:
        raise SowcastError(f"data.loader.in_memory must be auto, true or false, not {value!r}")
    return modes[text]


def _mebibytes(value: Any, setting: str) -> int:
    """Bytes of a non-negative size in MiB."""
    try:
        mib = float(value)
    except (TypeError, ValueError):
        mib = -1.0
    if not mib >= 0:
        raise SowcastError(f"{setting} must be a size in MiB (a number >= 0), not {value!r}")
    return int(mib * 2**20)


class WindowSource:
    """Windows of a canonical store, indexable ``0 .. len - 1`` (see the module docstring).

    ``prognostic``: time-varying variables used as inputs and targets (default: all of them,
    stored order); ``static``: static variables (default: all, stored order);
    ``time_range``: ``[start, end]`` (inclusive; either may be None) that *every* time of a
    window must lie in, so that training and validation ranges never share a state; an end
    without a time of day is the end of that day (:mod:`sowcast.data.time_ranges`).
    ``range_setting`` / ``targets_setting``: the settings an error about a short range names.
    ``in_memory``, ``memory_budget_mib``, ``chunk_cache_mib``: where the states come from
    (the module docstring).
    """

    def __init__(self, store_path: str | os.PathLike, n_input_steps: int = 2, n_target_steps: int = 1,
                 prognostic: Sequence[str] | None = None, static: Sequence[str] | None = None,
                 time_range: Sequence[Any] | None = None, range_setting: str = "time_range",
                 targets_setting: str | None = None, in_memory: bool | str = "auto",
                 memory_budget_mib: float = DEFAULT_MEMORY_BUDGET_MIB,
                 chunk_cache_mib: float = DEFAULT_CHUNK_CACHE_MIB):
        if int(n_input_steps) < 1:
            raise SowcastError(f"n_input_steps must be at least 1, not {n_input_steps}")
        if int(n_target_steps) < 1:
            raise SowcastError(f"n_target_steps must be at least 1, not {n_target_steps}")
        self.store_path = Path(store_path)
        self.n_input_steps = int(n_input_steps)
        self.n_target_steps = int(n_target_steps)
        mode = _in_memory_mode(in_memory)
        budget = _mebibytes(memory_budget_mib, "data.loader.memory_budget_mib")
        self.chunk_cache_bytes = _mebibytes(chunk_cache_mib, "data.loader.chunk_cache_mib")

        ds = open_store(self.store_path, chunks=None)  # lazy, no dask
        try:
            names = data_variables(ds)
            for name in names:
                if "member" in ds[name].dims:
                    raise SowcastError(f"{self.store_path}: ensemble stores ({name!r} has a member dim) cannot be windowed")
            timed = [n for n in names if "time" in ds[n].dims]
            fixed = [n for n in names if "time" not in ds[n].dims]
            self.prognostic = self._pick(prognostic, timed, fixed, "prognostic", "static")
            self.static_names = self._pick(static, fixed, timed, "static", "time-varying")
            if not self.prognostic:
                raise SowcastError(f"{self.store_path} has no time-varying variable to window")
            self.channels = channel_names(ds, self.prognostic)
            self._var_channels = [(n, ds[n].sizes.get("level", 0)) for n in self.prognostic]
            self.times = ds["time"].values.astype("datetime64[ns]")
            step = ds.attrs.get("time_step")
            self.time_step = parse_time_step(step) if step else infer_time_step(self.times, str(self.store_path))
            self.grid = Grid(lat=ds["lat"].values.astype(np.float64), lon=ds["lon"].values.astype(np.float64))
            levels = {n: ds[n]["level"].values for n in self.prognostic if "level" in ds[n].dims}
            static_fields = [ds[n].values.astype(np.float32) for n in self.static_names]
            self.valid = self._valid_points(ds)
        finally:
            ds.close()
        shape = (len(self.static_names), *self.grid.shape)
        self._static = np.stack(static_fields) if static_fields else np.zeros(shape, np.float32)
        self.forcing_names: tuple[str, ...] = FORCING_NAMES
        stats = read_statistics(self.store_path)
        self.statistics = self._channel_statistics(stats, levels)
        self.static_statistics = self._static_statistics(stats)
        self._first, self._count = self._window_range(time_range, range_setting, targets_setting)
        # store times the windows use: lo .. hi - 1
        self._lo = self._first - self.n_input_steps + 1
        self._hi = self._first + self._count + self.n_target_steps
        self.state_bytes = (self._hi - self._lo) * len(self.channels) * self.grid.shape[0] * self.grid.shape[1] * 4
        self.holds_in_memory = mode is True or (mode == "auto" and self.state_bytes <= budget)
        self._held: np.ndarray | None = None
        self._group: Any = None
        self._arrays: dict[str, Any] | None = None
        self._pid: int | None = None
        self._forcing_cache: ForcingCache | None = None

    # -- construction helpers -------------------------------------------------------------
    def _pick(self, wanted: Sequence[str] | None, allowed: list[str], other: list[str],
              role: str, other_role: str) -> list[str]:
        if wanted is None:
            return list(allowed)
        wanted = [wanted] if isinstance(wanted, str) else list(wanted)
        for name in wanted:
            if name in other:
                raise SowcastError(f"{name!r} in {self.store_path} is {other_role}, it cannot be a {role} variable")
            if name not in allowed:
                raise SowcastError(f"{self.store_path} has no {role} variable {name!r}; it has {', '.join(allowed) or 'none'}")
        return wanted

    def _valid_points(self, ds: Any) -> np.ndarray:
        """Bool ``[C, lat, lon]``: False where a channel has no source data (its ``<name>_valid``
        mask, e.g. the sea of a land-only product; the stored values there are only a fill)."""
        out = []
        for name, n_levels in self._var_channels:
            shape = (max(n_levels, 1), ds.sizes["lat"], ds.sizes["lon"])
            mask = ds.get(f"{name}_valid")
            if mask is None:
                out.append(np.ones(shape, bool))
                continue
            m = mask.transpose(*[d for d in ("level", "lat", "lon") if d in mask.dims]).values.astype(bool)
            out.append(np.broadcast_to(m if m.ndim == 3 else m[None], shape))
        return np.concatenate(out, axis=0)

    def _channel_statistics(self, stats: Any, levels: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per-channel mean, std, min, max, diff_mean, diff_std (float32 ``[C]``) from the store."""
        present = [str(k) for k in stats["stat"].values] if "stat" in stats.coords else []
        out: dict[str, list[float]] = {k: [] for k in _CHANNEL_STATS if k in present}
        if "mean" not in out or "std" not in out:
            raise SowcastError(f"{self.store_path}: statistics lack mean/std; re-run 'sowcast data ingest'")
        for name in self.prognostic:
            if name not in stats:
                raise SowcastError(f"{self.store_path}: statistics lack {name!r}; re-run 'sowcast data ingest'")
            s = stats[name]
            if name in levels:
                try:
                    s = s.sel(level=levels[name])
                except KeyError:
                    raise SowcastError(f"{self.store_path}: statistics of {name!r} lack some stored levels") from None
            for key in out:
                out[key] += list(np.atleast_1d(s.sel(stat=key).values).astype(np.float64))
        return {k: np.asarray(v, np.float32) for k, v in out.items()}

    def _static_statistics(self, stats: Any) -> dict[str, np.ndarray]:
        """Mean and std per static field (float32 ``[S]``): from the store, else from the field."""
        out = {}
        for key in ("mean", "std"):
            values = []
            for i, name in enumerate(self.static_names):
                if name in stats and "stat" in stats[name].dims:
                    values.append(float(stats[name].sel(stat=key)))
                else:
                    values.append(float(getattr(self._static[i], key)()))
            out[key] = np.asarray(values, np.float32)
        return out

    def _window_range(self, time_range: Sequence[Any] | None, setting: str,
                      targets_setting: str | None) -> tuple[int, int]:
        """Index of the first window time ``t`` and the number of windows."""
        lo, hi = 0, len(self.times) - 1
        label = "the store"
        if time_range is not None:
            if len(time_range) != 2:
                raise SowcastError(f"{setting} must be [start, end], not {list(time_range)}")
            start, end = time_range
            t = pd.DatetimeIndex(self.times)
            if start is not None:
                lo = int(t.searchsorted(timestamp(start, f"{setting} start"), side="left"))
            if end is not None:
                hi = int(t.searchsorted(inclusive_end(end, f"{setting} end"), side="right")) - 1
            label = f"{setting} {start}..{end}"
        n_times = max(hi - lo + 1, 0)
        count = n_times - (self.n_input_steps - 1) - self.n_target_steps
        if count < 1:
            need = self.n_input_steps + self.n_target_steps
            span = (f"{pd.Timestamp(self.times[0]):%Y-%m-%d %H:%M} .. {pd.Timestamp(self.times[-1]):%Y-%m-%d %H:%M}"
                    if len(self.times) else "none")
            targets = f" ({targets_setting})" if targets_setting else ""
            raise SowcastError(f"{self.store_path}: {label} holds {n_times} time(s) of the store's {span}; "
                               f"one window needs {need}: {self.n_input_steps} input and {self.n_target_steps} "
                               f"target step(s){targets}; lengthen {setting}" + (f" or shorten {targets_setting}" if targets_setting else ""))
        return lo + self.n_input_steps - 1, count

    # -- process-local zarr access -------------------------------------------------------
    def reopen(self) -> None:
        """Open the zarr group afresh in this process (DataLoader workers call this), with an
        empty chunk cache of ``chunk_cache_mib``."""
        self._arrays, self._group = self._open_readers(ChunkCache(self.chunk_cache_bytes))
        self._pid = os.getpid()

    def _open_readers(self, cache: ChunkCache) -> tuple[dict[str, TimeSliceReader], Any]:
        import zarr

        group = zarr.open_group(str(self.store_path), mode="r", use_consolidated=False)
        readers = {name: TimeSliceReader(group[name], self.store_path / name, cache) for name in self.prognostic}
        return readers, group

    def _zarr_arrays(self) -> dict[str, Any]:
        if self._arrays is None or self._pid != os.getpid():
            self.reopen()
        assert self._arrays is not None
        return self._arrays

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_group=None, _arrays=None, _pid=None, _forcing_cache=None, _held=None)
        return state

    # -- holding the states in memory ------------------------------------------------------
    def load(self) -> bool:
        """Read the states of every time the windows use into memory, once per process (if
        this source holds them, see ``in_memory``); True when they are held."""
        if not self.holds_in_memory:
            return False
        if self._held is None:
            # a one-chunk cache: a sequential read decodes each chunk once and keeps none
            readers, _ = self._open_readers(ChunkCache(0))
            held = self._read_store(self._lo, self._hi, readers)
            held.flags.writeable = False  # forked DataLoader workers share these pages
            self._held = held
        return True

    @property
    def is_loaded(self) -> bool:
        """Whether this process holds the states in memory now."""
        return self._held is not None

    # -- reading --------------------------------------------------------------------------
    def _read_states(self, t0: int, t1: int) -> np.ndarray:
        """States of store times ``t0 .. t1 - 1`` as float32 ``[t1 - t0, C, lat, lon]`` (a new
        array): a copy out of the held states when they cover it, else read from the store."""
        held = self._held
        if held is not None and self._lo <= t0 <= t1 <= self._hi:
            return held[t0 - self._lo:t1 - self._lo].copy()
        return self._read_store(t0, t1)

    def _read_store(self, t0: int, t1: int, readers: dict[str, TimeSliceReader] | None = None) -> np.ndarray:
        """States of store times ``t0 .. t1 - 1`` read from the store (through the chunk cache)."""
        arrays = self._zarr_arrays() if readers is None else readers
        out = np.empty((t1 - t0, len(self.channels), *self.grid.shape), np.float32)
        c = 0
        for name, n_levels in self._var_channels:
            # one contiguous slice, whole fields, straight into its channels
            arrays[name].read(t0, t1, out=out[:, c:c + n_levels] if n_levels else out[:, c])
            c += max(n_levels, 1)
        return out

    def forcings(self, t0: int, t1: int) -> np.ndarray:
        """Forcings ``[t1 - t0, F, lat, lon]`` of store times ``t0 .. t1 - 1``, computed once
        per time index in this process (:mod:`sowcast.data.forcing_cache`)."""
        if self._forcing_cache is None:
            self._forcing_cache = ForcingCache(self.times, self.grid.lat, self.grid.lon, self.time_step,
                                               self.forcing_names)
        return self._forcing_cache(t0, t1)

    def window_times(self, i: int) -> np.ndarray:
        """The ``n_input_steps + n_target_steps`` times of window ``i`` (datetime64[ns])."""
        t = self._index(i)
        return self.times[t - self.n_input_steps + 1:t + self.n_target_steps + 1]

    def _index(self, i: int) -> int:
        i = int(i)
        if i < 0:
            i += self._count
        if not 0 <= i < self._count:
            raise IndexError(f"window {i} out of range 0..{self._count - 1}")
        return self._first + i

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        t = self._index(i)
        t0, t1 = t - self.n_input_steps + 1, t + self.n_target_steps + 1
        states = self._read_states(t0, t1)
        return {
            "inputs": states[:self.n_input_steps],
            "targets": states[self.n_input_steps:],
            "forcings": self.forcings(t0, t1),
            "static": self._static.copy(),
            "time": np.int64(self.times[t].astype(np.int64)),
        }

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({str(self.store_path)!r}, windows={self._count}, "
                f"channels={len(self.channels)}, grid={self.grid.shape}, step={self.time_step})")


class InMemoryWindows(WindowSource):
    """The same windows as ``source``, served from one numpy array loaded up front.

    The reference of the loader benchmark (real store vs memory): holds every state in the
    window range, ``[T, C, lat, lon]`` float32, in memory, read up front, whatever
    ``in_memory`` says.
    """

    def __init__(self, source: WindowSource):
        self.__dict__.update(source.__getstate__())
        readers, _ = source._open_readers(ChunkCache(0))  # leaves the source's chunk cache alone
        self._data = source._read_store(self._lo, self._hi, readers)

    def _read_states(self, t0: int, t1: int) -> np.ndarray:
        return self._data[t0 - self._lo:t1 - self._lo].copy()

    def reopen(self) -> None:  # nothing to open
        return None

    def load(self) -> bool:  # held since construction
        return True
