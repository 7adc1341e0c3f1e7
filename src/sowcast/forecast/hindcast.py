"""Hindcasts: the model run from many past start dates of a dataset (``sowcast hindcast``).

They give the lead-dependent **model climatology** (the same model's distribution of weekly
rain and temperature at each lead, for start dates around the forecast's date; ECMWF's
extended-range practice, Vitart et al. 2017) from which sub-seasonal anomalies and tercile
probabilities are taken, and they are the reforecasts that :mod:`sowcast.verify` scores.

Start dates are the same calendar days every year (``first``, ``first + every_days``, ...
up to ``last``), so the climatology's start days line up across years. Each start runs
``members`` members (member 0 unperturbed, the others perturbed as in the forecast engine,
with noise seeded by the start date so that a start's members do not depend on how starts
were grouped) for ``lead``; several starts go through onnxruntime in one call (``batch``
members per call), each with its own forcings. A stochastic bundle's noise is drawn per
(start, member, step) from ``noise_seed`` as in the forecast engine
(:mod:`sowcast.forecast.model_noise`), so a start's members do not depend on the grouping
either, and a start equals the forecast from it with the same perturbation and noise seeds.
What is kept per start:

    <output>/hindcast.json            the options, the model file's sha256, the fingerprint
    <output>/daily/<YYYY-MM-DD>.nc    daily series (member, time, lat, lon) when keep_daily
    <output>/periods/<YYYY-MM-DD>.nc  lead-period aggregates (member, period, lat, lon)

Each file is written atomically and the period file last, so a killed run (a batch job at
its wall-time limit, a power cut) goes on with the starts not yet done; a folder from other
options is an error unless ``overwrite``; the run holds ``<output>.lock``
(:mod:`sowcast.output_lock`), so a second hindcast into the same folder is a one-line error. The model is identified by its ONNX file's sha256,
not the bundle's, since adding ``climatology.nc`` to the bundle re-signs its manifest.
With ``threads`` of 2 or more, groups of starts (``batch`` members each) run side by side,
one single-threaded onnxruntime call per thread (:mod:`sowcast.forecast.member_threads`);
``shard=i/n`` runs every ``n``-th start into a folder of its own and ``merge=true``
gathers the shards (:mod:`sowcast.forecast.hindcast_shards`). Torch-free: runs on the edge as on HPC.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.atomic import atomic_path, atomic_write_text
from sowcast.data.schema import time_step_iso
from sowcast.errors import SowcastError
from sowcast.log import reporter
from sowcast.output_lock import output_lock
from sowcast.forecast.engine import Stepper, static_fields
from sowcast.forecast.ensemble import (
    Perturbation,
    PerturbationGenerator,
    nonnegative_channels,
    start_ensemble,
)
from sowcast.forecast.initial_conditions import channel_specs, extract
from sowcast.forecast.hindcast_options import HindcastOptions, month_day
from sowcast.forecast.hindcast_shards import check_shards, place_file, shard_folder, shard_starts
from sowcast.forecast.member_threads import CallRunner, member_split
from sowcast.forecast.model_noise import bundle_noise, noise_correlation, start_key, step_keys

OPTIONS_FILE = "hindcast.json"


def start_dates(years: tuple[int, int], first: str, last: str, every_days: int) -> pd.DatetimeIndex:
    """Every year of ``years``: ``first``, ``first + every_days``, ... up to ``last`` (MM-DD).

    ``last`` before ``first`` wraps over the year end (e.g. 11-01 .. 02-28), the starts then
    running into the next year.
    """
    (m0, d0), (m1, d1) = month_day(first, "hindcast.first"), month_day(last, "hindcast.last")
    out = []
    for year in range(years[0], years[1] + 1):
        t0 = pd.Timestamp(year=year, month=m0, day=min(d0, 28) if (m0, d0) == (2, 29) else d0)
        t1 = pd.Timestamp(year=year + (1 if (m1, d1) < (m0, d0) else 0), month=m1,
                          day=min(d1, 28) if (m1, d1) == (2, 29) else d1)
        out.extend(pd.date_range(t0, t1, freq=f"{every_days}D"))
    return pd.DatetimeIndex(out)


def bundle_training_years(bundle: Any) -> tuple[int, int]:
    """The bundle's training years ``(first, last)``, from its provenance's ``train_range``."""
    prov = bundle.typed_manifest.provenance or {}
    rng = prov.get("train_range")
    if not rng:
        raise SowcastError("the bundle does not record its training period; set hindcast.years=[first,last]")
    return pd.Timestamp(rng[0]).year, pd.Timestamp(rng[1]).year


def model_period_attrs(provenance: Mapping[str, Any] | None) -> dict[str, str]:
    """The periods the model saw, for the files' attributes, so that ``sowcast verify`` can tell
    held-out years from in-sample ones (:mod:`sowcast.verify.held_out`): ``model_train_range``
    and ``model_validation_range`` (``"first last"`` dates, where the bundle's provenance has
    them), and ``model_checkpoint`` (``best``: the checkpoint of the lowest validation loss, so
    chosen on the validation period; ``chosen by step``: any other)."""
    prov = provenance or {}
    out = {}
    for key in ("train_range", "validation_range"):
        rng = prov.get(key)
        if isinstance(rng, (list, tuple)) and len(rng) == 2 and None not in rng:
            out[f"model_{key}"] = " ".join(f"{pd.Timestamp(v):%Y-%m-%d}" for v in rng)
    if prov.get("checkpoint"):
        out["model_checkpoint"] = "best" if Path(str(prov["checkpoint"])).name == "best" else "chosen by step"
    return out


def start_perturbation(base: Perturbation, start: pd.Timestamp) -> Perturbation:
    """The perturbation seeds of one start: ``[seed, days since 1970]`` (independent of grouping)."""
    days = int((pd.Timestamp(start).normalize() - pd.Timestamp("1970-01-01")).days)
    return replace(base, seed=int(base.seed) * 100_000 + days + 50_000)


def start_file(folder: Path, kind: str, start: pd.Timestamp) -> Path:
    return folder / kind / f"{pd.Timestamp(start):%Y-%m-%dT%H%M}.nc"


@dataclass
class HindcastResult:
    output: Path
    starts: pd.DatetimeIndex
    computed: int
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    member_days: float = 0.0

    @property
    def member_days_per_cpu_second(self) -> float:
        return self.member_days / self.cpu_seconds if self.cpu_seconds > 0 else float("nan")


def _fingerprint(config: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def _prepare_folder(options: HindcastOptions, config: dict[str, Any], overwrite: bool, out: Path,
                    shard: tuple[int, int] | None = None) -> None:
    """``out`` ready for these hindcasts (a shard's folder records its ``shard``, outside the
    fingerprint, so every shard and the merged folder share one fingerprint)."""
    meta = out / OPTIONS_FILE
    fingerprint = _fingerprint(config)
    if out.exists():
        if not out.is_dir():
            raise SowcastError(f"hindcast.output {out} exists and is not a folder")
        old = None
        if meta.is_file():
            try:
                old = json.loads(meta.read_text()).get("fingerprint")
            except (OSError, ValueError):
                old = None
        if old != fingerprint:
            if any(out.iterdir()) and not overwrite:
                raise SowcastError(f"{out} holds other hindcasts (other bundle or options); "
                                   f"set overwrite=true to replace them, or choose another hindcast.output")
            shutil.rmtree(out)
    (out / "periods").mkdir(parents=True, exist_ok=True)
    if options.keep_daily:
        (out / "daily").mkdir(parents=True, exist_ok=True)
    extra = {"shard": f"{shard[0]}/{shard[1]}"} if shard is not None else {}
    atomic_write_text(meta, json.dumps({"fingerprint": fingerprint, **config, **extra}, indent=2, sort_keys=True) + "\n")


def _raw_dataset(states: np.ndarray, start: pd.Timestamp, step: pd.Timedelta, specs: Sequence[Any],
                 variables: Sequence[str], grid: Any, attrs: Mapping[str, Any]) -> xr.Dataset:
    """One start's rollout ``[M, K, C, H, W]`` in the forecast output layout (surface variables)."""
    from sowcast.data.schema import CANONICAL_VARIABLES, cf_attrs

    k = states.shape[1]
    lead = pd.TimedeltaIndex([step * (i + 1) for i in range(k)])
    data = {}
    for name in variables:
        chans = [c for c, s in enumerate(specs) if s.variable == name and s.level is None]
        a = cf_attrs(name) if name in CANONICAL_VARIABLES else {}
        data[name] = (("member", "lead_time", "lat", "lon"), states[:, :, chans[0]], a)
    return xr.Dataset(
        data,
        coords={"member": np.arange(states.shape[0]), "lead_time": lead, "lat": grid.lat, "lon": grid.lon,
                "init_time": pd.Timestamp(start), "valid_time": ("lead_time", pd.Timestamp(start) + lead)},
        attrs=dict(attrs),
    )


def run_hindcast(options: HindcastOptions, overwrite: bool = False, progress: bool = False,
                 log: Callable[[str], None] | None = None) -> HindcastResult:
    """Run (or go on with) the hindcasts ``options`` describe; see the module doc. Progress lines
    go to the ``sowcast hindcast`` logger, or to ``log`` (:func:`sowcast.log.reporter`)."""
    from sowcast.bundle.reader import load_bundle
    from sowcast.data.store import open_store

    say = reporter("hindcast", log)
    bundle = options.bundle if not isinstance(options.bundle, (str, os.PathLike)) else \
        load_bundle(options.bundle, trusted_keys=options.trusted_keys)
    step = pd.Timedelta(bundle.time_step)
    if options.lead_time % step != pd.Timedelta(0):
        raise SowcastError(f"hindcast.lead {time_step_iso(options.lead_time)} is not a whole multiple of the bundle's "
                           f"time step {time_step_iso(step)}")
    n_steps = int(options.lead_time // step)
    t_in = int(bundle.n_input_steps)
    store_path = Path(os.path.expanduser(options.store))
    if not store_path.exists():
        raise SowcastError(f"no store at {store_path}")
    ds = open_store(store_path, chunks=None)
    specs = channel_specs(bundle)
    years = options.years or bundle_training_years(bundle)
    starts = start_dates(years, options.first, options.last, options.every_days)
    times = pd.DatetimeIndex(ds["time"].values)
    first_ok = times[0] + step * (t_in - 1)
    usable = starts[(starts >= first_ok) & (starts <= times[-1]) & starts.isin(times)]
    if len(usable) == 0:
        raise SowcastError(f"no hindcast start in {years[0]}..{years[1]} ({options.first} to {options.last} every "
                           f"{options.every_days} days) lies in {store_path} ({times[0]:%Y-%m-%d} .. {times[-1]:%Y-%m-%d})")
    if len(usable) < len(starts):
        say(f"{len(starts) - len(usable)} of {len(starts)} start dates are outside the store and are skipped",
            logging.WARNING)

    model_file = bundle.model_path(options.precision).name
    surface = sorted({s.variable for s in specs if s.level is None})
    for name in options.variables:
        if name not in surface:
            raise SowcastError(f"the bundle has no surface channel {name}; hindcast.variables can be "
                               f"{', '.join(surface)}")
    stochastic = bundle.noise is not None
    config = options.as_config(bundle.typed_manifest.files[model_file].sha256, years, stochastic)
    if options.merge:
        ds.close()
        return _merge_shards(options, config, usable, overwrite)
    out = options.output if options.shard is None else shard_folder(options.output, options.shard)
    if options.shard is not None:
        usable = shard_starts(usable, options.shard)
        say(f"shard {options.shard[0]}/{options.shard[1]}: {len(usable)} starts, into {out}")
    with output_lock(out):                       # one writer per hindcast folder
        _prepare_folder(options, config, overwrite, out, options.shard)
        todo = [s for s in usable if not start_file(out, "periods", s).is_file()]
        result = HindcastResult(out, usable, len(todo))
        if not todo:
            ds.close()
            return result
        if len(todo) < len(usable):
            say(f"going on: {len(usable) - len(todo)} of {len(usable)} starts are done")
        hindcaster = _Hindcaster.build(options, bundle, ds, store_path, specs, step, n_steps, config, model_file, out,
                                       n_groups=len(_Hindcaster.groups_of(options, todo)))
        result.seconds, result.cpu_seconds = hindcaster.run(todo, progress)
        ds.close()
        result.member_days = len(todo) * options.members * n_steps * step / pd.Timedelta(days=1)
        return result


@dataclass
class _Hindcaster:
    """The hindcasts of the starts still to do: groups of starts side by side, one
    single-threaded call each (member_threads.py); each group's initial windows read from the
    store on the main thread, its rollout on a worker thread (onnxruntime and numpy only), then
    its start files written."""

    options: HindcastOptions
    bundle: Any
    ds: Any                             # the canonical store, open
    store_path: Path
    specs: list
    step: pd.Timedelta
    n_steps: int
    stats: dict[str, np.ndarray]
    nonnegative: Any
    stepper: Stepper
    noise: Any                          # ModelNoise of a stochastic model, else None
    valid: Any                          # channel masks: NaN where a channel has no data
    attrs: dict[str, Any]
    out: Path
    workers: int
    generator: PerturbationGenerator | None     # reseeded per start (start_perturbation); None: no perturbation

    @classmethod
    def build(cls, options: HindcastOptions, bundle: Any, ds: Any, store_path: Path, specs: list,
              step: pd.Timedelta, n_steps: int, config: Mapping[str, Any], model_file: str, out: Path,
              n_groups: int) -> _Hindcaster:
        """The model session, its noise and the stepper, for ``n_groups`` groups of starts."""
        from sowcast.bundle.channel_masks import read_channel_masks
        from sowcast.forecast.session import StepModel

        stats = {k: np.asarray(v) for k, v in dict(bundle.statistics).items()}
        nonnegative = nonnegative_channels(stats, len(specs))
        workers, intra_op = member_split(options.threads, n_groups, options.parallel)
        model = StepModel(bundle.model_path(options.precision), intra_op, 1, False)
        noise = bundle_noise(bundle.manifest, model.noise_shape, options.noise_seed, model_file, options.noise_scale,
                             noise_correlation(options.noise_memory_days, step))
        static = static_fields(bundle)
        # NaN where a channel has no data (a land-only variable's sea: sowcast.bundle.channel_masks)
        valid = read_channel_masks(getattr(bundle, "static_dataset", None), [s.name for s in specs], bundle.grid.shape)
        stepper = Stepper(model, static, bundle.grid, step, list(bundle.forcing_names), nonnegative, options.batch, noise)
        attrs = {"title": "sowcast hindcast", "bundle_sha256": str(bundle.sha256), "hindcast_fingerprint": _fingerprint(config),
                 "time_step": time_step_iso(step), "lead": time_step_iso(options.lead_time)}
        if noise is not None:  # the products compare it with the forecast's (climatology.nc keeps it)
            attrs["noise_scale"] = noise.scale
            attrs["noise_memory_days"] = options.noise_memory_days
        attrs.update(model_period_attrs(bundle.typed_manifest.provenance))
        generator = None
        if options.perturbation.active() and options.members > 1:
            generator = PerturbationGenerator(bundle.grid, stats["diff_std"], options.perturbation,
                                              [c["variable"] for c in bundle.channel_info])
        return cls(options=options, bundle=bundle, ds=ds, store_path=store_path, specs=specs, step=step,
                   n_steps=n_steps, stats=stats, nonnegative=nonnegative, stepper=stepper, noise=noise, valid=valid,
                   attrs=attrs, out=out, workers=workers, generator=generator)

    def initial(self, group: Sequence[pd.Timestamp]) -> tuple[np.ndarray, np.ndarray]:
        """The group's initial windows ``[G*M, T, C, H, W]`` and times ``[G, T]`` (main thread: reads the store)."""
        options, t_in = self.options, int(self.bundle.n_input_steps)
        windows, window_times = [], []
        for s in group:
            ic = extract(self.ds, self.specs, self.bundle.grid, self.step, s, t_in, str(self.store_path))
            gen = None if self.generator is None else self.generator.reseeded(start_perturbation(options.perturbation, s).seed)
            windows.append(start_ensemble(ic.window(-1, t_in), 0, options.members, gen, self.nonnegative))
            window_times.append(ic.times)
        return np.concatenate(windows), np.stack(window_times)

    def rollout(self, job: tuple[Sequence[pd.Timestamp], np.ndarray, np.ndarray]) -> np.ndarray:
        """The group's states ``[G, M, K, C, H, W]`` (a worker thread: onnxruntime and numpy only)."""
        group, window, wtimes = job
        members = self.options.members
        key_starts = np.repeat([start_key(s) for s in group], members)
        key_members = np.tile(np.arange(members), len(group))
        states = np.empty((len(group), members, self.n_steps, len(self.specs), *self.bundle.grid.shape), np.float32)
        for k in range(self.n_steps):
            keys = step_keys(key_starts, key_members, k + 1) if self.noise is not None else None
            nxt = _step_starts(self.stepper, window, wtimes, members, keys)
            states[:, :, k] = nxt.reshape(len(group), members, *nxt.shape[1:])
            window[:, :-1] = window[:, 1:]
            window[:, -1] = nxt
            wtimes = np.concatenate([wtimes[:, 1:], wtimes[:, -1:] + np.timedelta64(self.step.value, "ns")], axis=1)
        return states

    def write(self, group: Sequence[pd.Timestamp], states: np.ndarray) -> None:
        """Each start's daily series (with keep_daily) and period file; the period file last: it
        marks the start done."""
        from sowcast.bundle.channel_masks import apply_channel_masks
        from sowcast.products.daily import forecast_daily
        from sowcast.products.periods import period_aggregates

        for i, s in enumerate(group):
            raw = _raw_dataset(apply_channel_masks(states[i], self.valid), s, self.step, self.specs,
                               self.options.variables, self.bundle.grid, self.attrs)
            daily = forecast_daily(raw)
            if self.options.keep_daily:
                _write(daily, start_file(self.out, "daily", s))
            _write(period_aggregates(daily), start_file(self.out, "periods", s))

    def run(self, todo: Sequence[pd.Timestamp], progress: bool) -> tuple[float, float]:
        """Hindcast ``todo``, ``workers`` groups at a time; returns (wall, CPU) seconds."""
        from tqdm import tqdm

        groups = self.groups_of(self.options, todo)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        with CallRunner(self.workers) as runner, tqdm(total=len(todo), disable=not progress, unit="start",
                                                      file=sys.stderr,
                                                      desc=f"hindcast {self.options.members} members") as bar:
            for c0 in range(0, len(groups), self.workers):
                chunk = groups[c0:c0 + self.workers]
                jobs = [(group, *self.initial(group)) for group in chunk]
                for group, states in zip(chunk, runner.map(self.rollout, jobs)):
                    self.write(group, states)
                    bar.update(len(group))
        return time.perf_counter() - wall0, time.process_time() - cpu0

    @staticmethod
    def groups_of(options: HindcastOptions, todo: Sequence[pd.Timestamp]) -> list[Sequence[pd.Timestamp]]:
        """``todo`` in groups of ``batch // members`` starts (at least one), one model call each."""
        per_call = max(1, options.batch // options.members)
        return [todo[g0:g0 + per_call] for g0 in range(0, len(todo), per_call)]


def _merge_shards(options: HindcastOptions, config: dict[str, Any], usable: pd.DatetimeIndex,
                  overwrite: bool) -> HindcastResult:
    """``hindcast.merge=true``: every complete shard's start files into ``options.output``
    (:mod:`sowcast.forecast.hindcast_shards`); one line naming a shard missing or unfinished."""
    shards = check_shards(options.output, _fingerprint(config), usable, start_file)
    with output_lock(options.output):
        _prepare_folder(options, config, overwrite, options.output)
        kinds = ("daily", "periods") if options.keep_daily else ("periods",)   # periods last, as a run writes
        for kind in kinds:
            for folder in shards:
                for f in sorted((folder / kind).glob("*.nc")):
                    place_file(f, options.output / kind / f.name)
    return HindcastResult(options.output, usable, 0)


def _step_starts(stepper: Stepper, window: np.ndarray, wtimes: np.ndarray, members: int,
                 noise_keys: np.ndarray | None = None) -> np.ndarray:
    """The next state of every member of every start: each start with its own forcings (and
    each member with its own noise, for a stochastic model)."""
    forcings = np.repeat(np.stack([stepper.forcings(t) for t in wtimes]), members, axis=0)  # [G*M, T+1, F, H, W]
    return stepper.run(window, forcings, "a hindcast step", noise_keys)


def _write(ds: xr.Dataset, path: Path) -> None:
    from sowcast.cf_attributes import cf_dataset

    path.parent.mkdir(parents=True, exist_ok=True)
    kind = "daily series" if path.parent.name == "daily" else "lead-period aggregates"
    ds, encoding = cf_dataset(ds, f"sowcast hindcast: {kind} of one start", "sowcast hindcast")
    with atomic_path(path, overwrite=True) as tmp:
        ds.to_netcdf(tmp, encoding=encoding)


def open_hindcast(folder: str | os.PathLike, kind: str = "periods") -> xr.Dataset:
    """All starts of a hindcast folder as one Dataset with a ``start`` dimension (``kind``:
    ``periods`` or ``daily``; daily series are aligned on ``lead_day``)."""
    folder = Path(folder)
    if not (folder / OPTIONS_FILE).is_file():
        raise SowcastError(f"{folder} is not a hindcast folder (no {OPTIONS_FILE}); run 'sowcast hindcast' first")
    files = sorted((folder / kind).glob("*.nc")) if (folder / kind).is_dir() else []
    if not files:
        hint = " (the hindcast ran without keep_daily=true)" if kind == "daily" else ""
        raise SowcastError(f"{folder} holds no {kind} hindcast files{hint}")
    parts = []
    for f in files:
        with xr.open_dataset(f) as one:
            one = one.load()
        start = pd.Timestamp(one["init_time"].values)
        if kind == "daily":
            one = one.swap_dims({"time": "lead_day"}).drop_vars("time")
        parts.append(one.drop_vars([c for c in ("init_time",) if c in one.coords]).expand_dims(start=[start]))
    return xr.concat(parts, dim="start", join="outer", coords="minimal", compat="override")
