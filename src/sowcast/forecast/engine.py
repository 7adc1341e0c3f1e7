"""The edge forecast engine: bundle + analysis -> ensemble forecast on disk, resumable.

``run_forecast`` (``sowcast forecast``) does:

1. load and verify the bundle (:func:`sowcast.bundle.reader.load_bundle`); read the
   initial conditions and check them against it
   (:mod:`sowcast.forecast.initial_conditions`);
2. build the ensemble (:mod:`sowcast.forecast.ensemble`): per start, a control and
   perturbed members (``perturbation.scale`` 0: no initial perturbation); lagged starts
   (``lagged.n`` analyses ``lagged.spacing`` steps apart before ``init_time``) are first
   run on their own up to ``init_time`` ("pre-roll"), so all members are aligned in valid
   time and the output has one ``lead_time`` axis;
3. roll out with onnxruntime (:mod:`sowcast.forecast.session`), the members as the batch
   (``batch`` members per call; with ``threads`` >= 2 and ``parallel: members`` the calls of
   one step run side by side, one core each, :mod:`sowcast.forecast.member_threads`): each step computes the forcings at the input times and the
   target time (:func:`sowcast.data.forcings.compute_forcings`, in the bundle's
   ``forcing_names`` order), runs the model, keeps channels that are never negative in the
   training data (statistics ``min >= 0``, e.g. precipitation) at >= 0, writes the new
   state and slides the window. A stochastic bundle (manifest ``model.noise``) also gets
   fresh standard normal noise for every member at every step, drawn statelessly from
   ``noise_seed``, the member's start and number and the step
   (:mod:`sowcast.forecast.model_noise`), so its members differ by the model's own spread
   and batching, resuming and lagged starts do not change them;
4. write each lead time to disk as it is made (:mod:`sowcast.forecast.output_writer`);
5. every ``checkpoint_every`` steps fsync what was written and save the rollout state
   (:mod:`sowcast.forecast.rollout_state`); the same command after a kill goes on from the
   last saved state and gives the same output bit for bit; the finished output is renamed
   (zarr) or copied (netCDF) into place atomically.

A finished output whose ``config_fingerprint`` (bundle sha256, the initial conditions'
sha256, init time, lead, members, perturbation, lagged starts, batch, precision, and for a
stochastic bundle ``noise_seed``) equals this run's is not recomputed; another existing
output is an error unless ``overwrite``. The run holds ``<output>.lock``
(:mod:`sowcast.output_lock`) from before it looks at the output: a second forecast on the
same output is a one-line error naming the first one's pid, never a second writer.
The thread settings are not part of the fingerprint: a run resumed with fewer threads (a
tighter power budget) goes on, though its last bits may then differ from an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.bundle.channel_masks import read_channel_masks
from sowcast.data.forcings import compute_forcings
from sowcast.data.schema import PRECIPITATION_ACCUMULATION, time_step_iso
from sowcast.errors import SowcastError
from sowcast.log import reporter
from sowcast.output_lock import output_lock
from sowcast.forecast.ensemble import (
    PerturbationGenerator,
    clip_nonnegative,
    nonnegative_channels,
    start_ensemble,
)
from sowcast.forecast.initial_conditions import (
    InitialConditions,
    channel_specs,
    read_initial_conditions,
)
from sowcast.forecast.member_threads import CallRunner, member_split
from sowcast.forecast.options import ForecastOptions
from sowcast.forecast.model_noise import (NOISE_STREAM, ModelNoise, bundle_noise, noise_correlation, start_key,
                                         step_keys)
from sowcast.forecast.output_writer import (
    OutputLayout,
    ZarrStepWriter,
    read_fingerprint,
    write_netcdf,
)
from sowcast.forecast.rollout_state import (
    OUTPUT_NAME,
    RolloutState,
    load_state,
    partial_dir,
    save_state,
)
from sowcast.forecast.write_behind import WriteBehind

@dataclass
class ForecastResult:
    output: Path
    status: str                # "computed", "resumed" or "up to date"
    members: int
    n_steps: int
    steps_run: int = 0         # steps computed by this call (lagged pre-roll excluded)
    seconds: float = 0.0       # wall time of the rollout
    cpu_seconds: float = 0.0   # process CPU time of the rollout (onnxruntime threads included)
    member_days: float = 0.0   # member x forecast days computed by this call

    @property
    def member_days_per_cpu_second(self) -> float:
        return self.member_days / self.cpu_seconds if self.cpu_seconds > 0 else float("nan")

    def summary(self) -> str:
        """What ``sowcast forecast`` prints: up to date, or what was written (and how fast)."""
        if self.status == "up to date":
            return (f"{self.output} is up to date (same bundle, initial conditions and config); "
                    f"set overwrite=true to recompute it")
        rate = self.member_days_per_cpu_second
        speed = f", {rate:.3g} member-days per CPU-second" if not math.isnan(rate) else ""
        verb = "resumed and finished" if self.status == "resumed" else "wrote"
        return (f"{verb} {self.output}: {self.members} members x {self.n_steps} steps "
                f"({self.steps_run} computed now in {self.seconds:.1f} s{speed})")


# --- model inputs --------------------------------------------------------------------------

def static_fields(bundle: Any) -> np.ndarray:
    """The bundle's static fields ``[S, H, W]`` float32 in ``static_names`` order."""
    names = list(bundle.static_names)
    shape = tuple(bundle.grid.shape)
    st = bundle.static
    if st is None or (isinstance(st, xr.Dataset) and not names):
        arr = np.zeros((0, *shape), np.float32)
    elif isinstance(st, xr.Dataset):
        missing = [n for n in names if n not in st]
        if missing:
            raise SowcastError(f"the bundle's static fields lack {', '.join(missing)}")
        arr = np.stack([np.asarray(st[n].values, np.float32) for n in names])
    else:
        arr = np.asarray(st, np.float32)
    if arr.shape != (len(names), *shape):
        raise SowcastError(f"the bundle's static fields have shape {arr.shape}, expected {(len(names), *shape)}")
    return np.ascontiguousarray(arr)


def forcing_block(times: np.ndarray, grid: Any, step: pd.Timedelta, names: list[str]) -> np.ndarray:
    """Forcings ``[len(times), F, H, W]`` float32 in ``names`` order (data.forcings)."""
    f = compute_forcings(np.asarray(times, "datetime64[ns]"), grid.lat, grid.lon, step)
    unknown = [n for n in names if n not in f]
    if unknown:
        raise SowcastError(f"the bundle needs forcing(s) {', '.join(unknown)} that this sowcast cannot compute "
                           f"(it computes {', '.join(f)})")
    if not names:
        return np.zeros((len(times), 0, *grid.shape), np.float32)
    return np.stack([f[n] for n in names], axis=1)


class Stepper:
    """One step of every member: forcings, (a stochastic model's noise,) onnxruntime in
    batches, non-negative channels kept >= 0.

    ``noise`` (a stochastic model): each call then needs ``noise_keys [M, 3]``, the
    ``(start, member, step)`` of every member (:mod:`sowcast.forecast.model_noise`); the
    model is called as ``model(inputs, forcings, static, noise)``. ``runner``
    (:mod:`sowcast.forecast.member_threads`): the batches of one step run side by side on its
    threads; each member's result is the same whichever thread runs its batch."""

    def __init__(self, model: Callable[..., np.ndarray], static: np.ndarray,
                 grid: Any, time_step: pd.Timedelta, forcing_names: list[str], nonnegative: np.ndarray,
                 batch: int | None, noise: ModelNoise | None = None, runner: CallRunner | None = None):
        self.model = model
        self.runner = runner or CallRunner(1)
        self.noise = noise
        self.static = static
        self.grid = grid
        self.time_step = pd.Timedelta(time_step)
        self.forcing_names = list(forcing_names)
        self.nonnegative = nonnegative
        self.batch = batch
        self._static_batches: dict[int, np.ndarray] = {}

    def static_batch(self, n: int) -> np.ndarray:
        """The static fields repeated for a batch of ``n`` (cached per ``n``)."""
        if n not in self._static_batches:
            self._static_batches[n] = np.ascontiguousarray(np.broadcast_to(self.static, (n, *self.static.shape)))
        return self._static_batches[n]

    def target_time(self, window_times: np.ndarray) -> np.datetime64:
        return np.datetime64(window_times[-1], "ns") + np.timedelta64(self.time_step.value, "ns")

    def forcings(self, window_times: np.ndarray) -> np.ndarray:
        """``[T + 1, F, H, W]``: at the input times and the target time."""
        times = np.append(np.asarray(window_times, "datetime64[ns]"), self.target_time(window_times))
        return forcing_block(times, self.grid, self.time_step, self.forcing_names)

    def __call__(self, window: np.ndarray, window_times: np.ndarray,
                 noise_keys: np.ndarray | None = None) -> np.ndarray:
        """The next state ``[M, C, H, W]`` of every member of ``window [M, T, C, H, W]``."""
        return self.run(window, self.forcings(window_times), pd.Timestamp(self.target_time(window_times)), noise_keys)

    def run(self, window: np.ndarray, forcings: np.ndarray, when: Any,
            noise_keys: np.ndarray | None = None) -> np.ndarray:
        """The model on ``window [M, T, C, H, W]`` in batches; ``forcings`` are ``[T + 1, F, H, W]``
        for every member, or ``[M, T + 1, F, H, W]`` one per member (hindcasts from several
        starts); a stochastic model's noise drawn per member from ``noise_keys [M, 3]``, so a
        member's draw does not depend on the batch; non-negative channels kept >= 0. ``when``
        names the step in an error."""
        m = window.shape[0]
        batch = self.batch or m
        per_member = forcings.ndim == window.ndim
        if self.noise is not None and (noise_keys is None or np.shape(noise_keys) != (m, 3)):
            raise SowcastError(f"the stochastic model needs a noise key (start, member, step) for each of {m} members")
        out = np.empty((m, *window.shape[2:]), np.float32)
        for n in {min(batch, m - b0) for b0 in range(0, m, batch)}:
            self.static_batch(n)  # filled here, not from the threads

        def one_batch(b0: int) -> None:
            n = min(batch, m - b0)
            f = forcings[b0:b0 + n] if per_member else np.broadcast_to(forcings, (n, *forcings.shape))
            args = (window[b0:b0 + n], np.ascontiguousarray(f), self.static_batch(n))
            if self.noise is not None:
                args += (self.noise.batch(noise_keys[b0:b0 + n]),)
            res = self.model(*args)
            if res.shape != (n, *window.shape[2:]):
                raise SowcastError(f"the model returned shape {res.shape}, expected {(n, *window.shape[2:])}")
            out[b0:b0 + n] = res

        self.runner.map(one_batch, range(0, m, batch))
        if not np.isfinite(out).all():
            raise SowcastError(f"the model produced NaN or infinite values for {when}")
        return clip_nonnegative(out, self.nonnegative, channel_axis=1)

    def advance(self, window: np.ndarray, window_times: np.ndarray,
                noise_keys: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """One step: the next state, and the window and its times slid by one (in place)."""
        nxt = self(window, window_times, noise_keys)
        window[:, :-1] = window[:, 1:]
        window[:, -1] = nxt
        times = np.append(window_times[1:], self.target_time(window_times))
        return nxt, times


# --- the run ---------------------------------------------------------------------------------

def _load_bundle(spec: Any, trusted_keys: tuple[str, ...] = ()) -> Any:
    """A bundle path loaded (signed by one of ``trusted_keys`` when any); a loaded one as it is."""
    if not isinstance(spec, (str, os.PathLike)):
        return spec  # already loaded (tests, library use)
    from sowcast.bundle.reader import load_bundle

    return load_bundle(spec, trusted_keys=trusted_keys)


def _fingerprint(options: ForecastOptions, bundle: Any, ic: InitialConditions, n_members: int,
                 batch: int, stochastic: bool) -> str:
    key = {
        "bundle_sha256": str(bundle.sha256),
        "initial_conditions_sha256": ic.digest(),
        "init_time": f"{ic.init_time:%Y-%m-%dT%H:%M:%S}",
        "lead": time_step_iso(options.lead_time),
        "members": options.members,
        "n_members": n_members,
        "perturbation": options.perturbation.as_config(),
        "lagged": [options.lagged.n, options.lagged.spacing],
        "batch": batch,
        "precision": options.precision,
    }
    if stochastic:  # a deterministic bundle's fingerprint is as before this option existed
        key["noise_seed"] = options.noise_seed
        if options.noise_scale != 1.0:  # nor a stochastic one's at the scale it had before the option
            key["noise_scale"] = options.noise_scale
        if options.noise_memory_days != 0:  # nor one of white noise, as before that option
            key["noise_memory_days"] = options.noise_memory_days
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _red_noise(memory_days: float, correlation: float) -> str:
    """The provenance's words for red noise ('' for white)."""
    if memory_days == 0:
        return ""
    return (f"; its mesh rows red in time: z_k = {correlation:.4f} z_k-1 + sqrt(1 - {correlation:.4f}^2) x the "
            f"step's draw (noise_memory_days {memory_days:g})")


def _provenance(options: ForecastOptions, bundle: Any, ic: InitialConditions, fingerprint: str,
                n_members: int, noise: ModelNoise | None) -> dict[str, Any]:
    import onnxruntime

    import sowcast

    p = options.perturbation
    now = pd.Timestamp.now("UTC")
    attrs = {
        "Conventions": "CF-1.8",
        "title": "sowcast ensemble forecast",
        "source": f"sowcast {sowcast.__version__} graph network forecast run with onnxruntime {onnxruntime.__version__}",
        "history": f"{now:%Y-%m-%dT%H:%M:%SZ} sowcast forecast from {ic.source}",
        "bundle_sha256": str(bundle.sha256),
        "bundle_created": bundle.typed_manifest.created,
        "init_time": f"{ic.init_time:%Y-%m-%dT%H:%M:%S}",
        "initial_conditions": str(ic.source),
        "initial_conditions_sha256": ic.digest(),
        "time_step": time_step_iso(bundle.time_step),
        "lead": time_step_iso(options.lead_time),
        "sowcast_version": sowcast.__version__,
        "onnxruntime_version": onnxruntime.__version__,
        "model_precision": options.precision,
        "model_sha256": str(bundle.manifest["files"][bundle.model_path(options.precision).name]["sha256"]),
        "precipitation_accumulation": PRECIPITATION_ACCUMULATION,
        "ensemble_members": n_members,
        "members_per_start": options.members,
        "lagged_starts": options.lagged.n,
        "lagged_spacing_steps": options.lagged.spacing,
        "perturbation": (f"member 0 of each start unperturbed; others: Gaussian-smoothed white noise "
                         f"(length scale {p.length_scale:g} grid cells) x {p.scale:g} x diff_std per channel"
                         f"{''.join(f'; {k} x {v:g}' for k, v in p.variable_scale.items() if k not in p.relative_scale)}"
                         f"{''.join(f'; {k} x exp({v:g} noise - {v:g}^2/2)' for k, v in p.relative_scale.items())}, "
                         f"numpy default_rng([seed={p.seed}, member])"),
        "forecast_config": json.dumps(options.as_config(), sort_keys=True),
        "config_fingerprint": fingerprint,
    }
    if not p.active():
        attrs["perturbation"] = "none (perturbation.scale 0): every member starts from the analysis"
    if getattr(bundle, "signed_by", None):  # manifest.sig verified (sowcast.bundle.signature)
        attrs["bundle_signed_by"] = f"ed25519 key sha256 {bundle.signed_by}"
    if noise is not None:
        attrs["model_noise"] = (f"stochastic model: standard normal noise [{noise.nodes} mesh nodes, {noise.channels} "
                                f"channels] per member and step, numpy default_rng([noise_seed, start YYYYMMDDhhmm, "
                                f"member of its start, step since its start, {NOISE_STREAM:#x}])"
                                f"{'' if noise.scale == 1.0 else f' x noise_scale {noise.scale:g}'}"
                                f"{_red_noise(options.noise_memory_days, noise.correlation)}")
        attrs["noise_seed"] = noise.seed
        attrs["noise_scale"] = noise.scale
        attrs["noise_memory_days"] = options.noise_memory_days
    return attrs


def _publish_zarr(src: Path, dest: Path) -> None:
    """Rename the finished zarr into place (an old output moved aside first)."""
    import tempfile

    parent = dest.parent
    if dest.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=parent))
        old.rmdir()
        os.replace(dest, old)
        os.replace(src, dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, dest)
    fd = os.open(parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _initial_window(ic: InitialConditions, options: ForecastOptions, bundle: Any, stepper: Stepper,
                    generator: PerturbationGenerator | None, nonnegative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All members' windows at init_time ``[M, T, C, H, W]`` (lagged starts pre-rolled, with
    their steps' noise when stochastic) and times."""
    t_in = int(bundle.n_input_steps)
    windows = []
    times = None
    members = np.arange(options.members)
    for start in range(options.lagged.n + 1):
        lag = start * options.lagged.spacing
        end = len(ic.times) - 1 - lag
        ens = start_ensemble(ic.window(end, t_in), start, options.members, generator, nonnegative)
        t = ic.times[end - t_in + 1:end + 1].copy()
        key = start_key(ic.times[end])
        for j in range(1, lag + 1):
            keys = step_keys(np.full(options.members, key), members, j) if stepper.noise is not None else None
            _, t = stepper.advance(ens, t, keys)
        if times is not None and not (t == times).all():
            raise AssertionError("lagged starts did not align in valid time")
        times = t
        windows.append(ens)
    return np.concatenate(windows, axis=0), times


def run_forecast(options: ForecastOptions, overwrite: bool = False, progress: bool = False,
                 log: Callable[[str], None] | None = None) -> ForecastResult:
    """Run (or resume, or skip) the forecast ``options`` describe; see the module doc. Progress
    lines go to the ``sowcast forecast`` logger, or to ``log`` (:func:`sowcast.log.reporter`)."""
    say = reporter("forecast", log)
    bundle = _load_bundle(options.bundle, options.trusted_keys)
    step = pd.Timedelta(bundle.time_step)
    if options.lead_time % step != pd.Timedelta(0):
        raise SowcastError(f"forecast.lead {time_step_iso(options.lead_time)} is not a whole multiple of the bundle's "
                           f"time step {time_step_iso(step)}")
    n_steps = int(options.lead_time // step)
    t_in = int(bundle.n_input_steps)
    n_starts = options.lagged.n + 1
    n_members = options.members * n_starts
    batch = min(options.batch or n_members, n_members)
    ic = read_initial_conditions(options.init, bundle, options.init_time,
                                 n_times=t_in + options.lagged.n * options.lagged.spacing)
    manifest = bundle.manifest
    stochastic = bundle.typed_manifest.model.noise is not None
    fingerprint = _fingerprint(options, bundle, ic, n_members, batch, stochastic)
    output = options.output
    # One writer per output: a second forecast on it stops here, before it reads or
    # touches the output or its .partial (sowcast.output_lock).
    with output_lock(output):
        pdir = partial_dir(output)
        if output.exists() and not overwrite:
            if read_fingerprint(output) == fingerprint:
                if pdir.exists():
                    shutil.rmtree(pdir, ignore_errors=True)
                return ForecastResult(output, "up to date", n_members, n_steps)
            raise SowcastError(f"{output} exists already (another forecast); set overwrite=true to replace it")

        specs = channel_specs(bundle)
        stepper, runner, noise, generator, nonnegative = _stepper(options, bundle, manifest, len(specs), step,
                                                                  n_members, batch, say)
        start_times = ic.times[len(ic.times) - 1 - options.lagged.spacing * np.arange(n_starts)]
        keys = _MemberKeys.of(start_times, options.members, options.lagged.spacing)
        channel_attrs = {c.name: c.to_json() for c in bundle.typed_manifest.channels}
        layout = OutputLayout.build(specs, channel_attrs, bundle.grid.lat, bundle.grid.lon, ic.init_time,
                                    pd.TimedeltaIndex([step * (k + 1) for k in range(n_steps)]),
                                    np.repeat(start_times, options.members),
                                    _provenance(options, bundle, ic, fingerprint, n_members, noise),
                                    read_channel_masks(getattr(bundle, "static_dataset", None),
                                                       [s.name for s in specs], bundle.grid.shape))
        expected = (n_members, t_in, len(specs), *bundle.grid.shape)
        rollout = _resume_or_start(pdir, layout, expected, fingerprint, n_steps, output, say,
                                   lambda: _initial_window(ic, options, bundle, stepper, generator, nonnegative))
        writer, window, times, done, status = rollout
        with runner:
            seconds, cpu = _roll(stepper, writer, window, times, done, n_steps, keys if noise is not None else None,
                                 options.checkpoint_every, pdir, fingerprint, progress, n_members)
        steps_run = n_steps - done
        _publish(pdir / OUTPUT_NAME, output, layout, options.is_netcdf)
        shutil.rmtree(pdir, ignore_errors=True)
    days = step / pd.Timedelta(days=1)
    return ForecastResult(output, status, n_members, n_steps, steps_run, seconds, cpu,
                          member_days=n_members * steps_run * days)


def _stepper(options: ForecastOptions, bundle: Any, manifest: Mapping[str, Any], n_channels: int,
             step: pd.Timedelta, n_members: int, batch: int, say: Callable[..., None]) -> tuple:
    """The members' stepper on the bundle's model (threads split between members and inside
    each run, :func:`member_split`), the runner of its calls, the model's noise (None:
    deterministic), the perturbation generator (None: members start alike) and the channels
    kept nonnegative. Returns ``(stepper, runner, noise, generator, nonnegative)``."""
    from sowcast.forecast.session import StepModel

    stats = {k: np.asarray(v) for k, v in dict(bundle.statistics).items()}
    nonnegative = nonnegative_channels(stats, n_channels)
    model_path = bundle.model_path(options.precision)
    workers, intra_op = member_split(options.threads, -(-n_members // batch), options.parallel)
    model = StepModel(model_path, intra_op, options.inter_op_threads, options.spinning)
    noise = bundle_noise(manifest, model.noise_shape, options.noise_seed, model_path.name, options.noise_scale,
                         noise_correlation(options.noise_memory_days, step))
    runner = CallRunner(workers)
    stepper = Stepper(model, static_fields(bundle), bundle.grid, step, list(bundle.forcing_names), nonnegative, batch,
                      noise, runner)
    generator = None
    if options.perturbation.active() and options.members > 1:
        if "diff_std" not in stats:
            raise SowcastError("the bundle's statistics lack diff_std; cannot perturb the members")
        generator = PerturbationGenerator(bundle.grid, stats["diff_std"], options.perturbation,
                                          [c["variable"] for c in bundle.channel_info])
    elif noise is None and options.members > 1:
        say(f"perturbation.scale is 0 and the model is deterministic: "
            f"all {options.members} members of a start are the same", logging.WARNING)
    return stepper, runner, noise, generator, nonnegative


@dataclass(frozen=True)
class _MemberKeys:
    """Each member's noise key (model_noise.py): its start, its number there, and the steps
    from its start to the latest start (a lagged start has run that many steps more)."""

    starts: np.ndarray
    members: np.ndarray
    lags: np.ndarray

    @classmethod
    def of(cls, start_times: Any, members: int, lagged_spacing: int) -> _MemberKeys:
        n_starts = len(start_times)
        return cls(np.repeat([start_key(t) for t in start_times], members), np.tile(np.arange(members), n_starts),
                   np.repeat(lagged_spacing * np.arange(n_starts), members))

    def at(self, k: int) -> Any:
        """The keys of step ``k`` of the forecast."""
        return step_keys(self.starts, self.members, self.lags + k)


def _resume_or_start(pdir: Path, layout: OutputLayout, expected: tuple[int, ...], fingerprint: str, n_steps: int,
                     output: Path, say: Callable[..., None], initial_window: Callable[[], tuple]) -> tuple:
    """Go on from the state saved in ``pdir`` when it is this forecast's (same fingerprint and
    shape, its zarr readable), else start afresh from ``initial_window()``. Returns
    ``(writer, window, times, steps done, status)``."""
    zpath = pdir / OUTPUT_NAME
    state = load_state(pdir) if pdir.is_dir() else None
    writer = None
    if state is not None and state.fingerprint == fingerprint and state.window.shape == expected \
            and 0 <= state.step <= n_steps and zpath.is_dir():
        try:
            writer = ZarrStepWriter(zpath, layout)
        except SowcastError as exc:
            say(f"cannot resume ({exc}); starting again", logging.WARNING)
    if writer is not None:
        assert state is not None
        say(f"resuming {output} from step {state.step} of {n_steps}")
        return writer, state.window, state.window_times, state.step, "resumed"
    if pdir.exists():
        say(f"discarding {pdir} (from another forecast or unreadable)")
        shutil.rmtree(pdir)
    pdir.mkdir(parents=True)
    window, times = initial_window()
    writer = ZarrStepWriter(zpath, layout, create=True)
    writer.flush()
    save_state(pdir, RolloutState(0, window, times, fingerprint))
    return writer, window, times, 0, "computed"


def _roll(stepper: Stepper, writer: Any, window: np.ndarray, times: Any, done: int, n_steps: int,
          keys: _MemberKeys | None, checkpoint_every: int, pdir: Path, fingerprint: str, progress: bool,
          n_members: int) -> tuple[float, float]:
    """Steps ``done + 1 .. n_steps``: each written as it comes, the state saved every
    ``checkpoint_every`` steps and at the end, by a writer thread behind the computation
    (:mod:`sowcast.forecast.write_behind`: in order, so a saved state's steps are on disk).
    Returns (wall, CPU) seconds."""
    from tqdm import tqdm

    def checkpoint(state: RolloutState) -> None:
        writer.flush()
        save_state(pdir, state)

    wall0, cpu0 = time.perf_counter(), time.process_time()
    with tqdm(total=n_steps, initial=done, disable=not progress, unit="step", file=sys.stderr,
              desc=f"forecast {n_members} members") as bar, WriteBehind() as behind:
        for k in range(done + 1, n_steps + 1):
            nxt, times = stepper.advance(window, times, keys.at(k) if keys is not None else None)
            behind.submit(writer.write_step, k - 1, nxt)
            if k % checkpoint_every == 0 or k == n_steps:   # the window as it is now (the loop moves it on)
                behind.submit(checkpoint, RolloutState(k, window.copy(), times.copy(), fingerprint))
            bar.update(1)
    return time.perf_counter() - wall0, time.process_time() - cpu0


def _publish(zpath: Path, output: Path, layout: OutputLayout, netcdf: bool) -> None:
    """The finished output in place: the zarr renamed, or written as netCDF (atomically)."""
    if netcdf:
        from sowcast.atomic import atomic_path

        with atomic_path(output, overwrite=True) as tmp:
            write_netcdf(zpath, tmp, layout)
    else:
        _publish_zarr(zpath, output)
