"""Write the edge bundle (:mod:`sowcast.bundle`) from a training checkpoint.

:func:`export_bundle` does the whole of ``sowcast export``:

1. rebuild graph and model from the checkpoint (:func:`onnx_export.load_model`);
2. open the training store (the checkpoint's ``data.store``, or ``store=``) for the static
   fields and a few real windows; a store that cannot be reached is an error when the model
   has static fields (``static.nc`` needs them), else real-window parity is skipped with a
   warning;
3. export to ONNX, check it (``onnx.checker``, no Scatter op, I/O names and shapes; a
   stochastic model has a fourth input ``noise``, recorded as ``model.noise``);
4. parity of onnxruntime (CPU, ``threads`` threads) against torch eager on a random batch
   (and its first sample alone: two batch sizes) and on the real windows, a stochastic
   model's noise drawn once from ``seed`` and fed to both (and to the variants); beyond
   ``parity_tolerance`` (normalised, see :mod:`sowcast.export.parity`) the export fails
   and nothing is written;
5. optional variants (``fp16``, ``int8``), each measured against fp32 (max abs difference,
   skill change on the real windows, a 46-day rollout's weekly means and tercile
   probabilities: :mod:`sowcast.export.parity`) and timed in turn with it; a variant is kept
   only when its outputs are finite, its skill change is within ``max_skill_change``, the
   rollout within 1 % and it is faster than fp32; else dropped with the reason printed;
6. ``static.nc``, ``statistics.nc``, an optional ``climatology.nc``, then ``manifest.json``
   with the sha256 of every file and, on its first line, its own sha256 (checked as the
   reader checks it before it is written); the folder is written as a temporary sibling and
   renamed into place (:func:`sowcast.atomic.atomic_path`), then ``<folder>.tar.gz``
   (atomically too) unless ``archive=False``;
7. with ``sign_key`` (a private key file of ``sowcast export keygen``), ``manifest.sig``: the
   Ed25519 signature of the manifest's bytes (:mod:`sowcast.bundle.signature`), written in
   the temporary folder before the rename, so the archive carries it too.

The helpers that write the netCDF files and the manifest are torch-free.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sowcast.atomic import atomic_path
from sowcast.bundle.channel_masks import masks_to_write
from sowcast.bundle.checksums import file_entry
from sowcast.bundle.manifest import (
    CLIMATOLOGY_FILE,
    FORMAT,
    MANIFEST_FILE,
    MODEL_DATA_FILE,
    MODEL_FILE,
    STATIC_FILE,
    STATISTICS_FILE,
    STATISTICS_KEYS,
    channel_info,
    manifest_bytes,
    noise_entry,
    parse_manifest,
    variant_file,
)
from sowcast.cf_attributes import cf_dataset, merge_encoding
from sowcast.data.grid import Grid
from sowcast.errors import SowcastError

DEFAULT_MAX_SKILL_CHANGE = 0.02


# -- torch-free pieces ------------------------------------------------------------------------
def write_static_nc(path: str | os.PathLike, grid: Grid, static_names: Sequence[str], fields: np.ndarray,
                    masks: Mapping[str, np.ndarray] | None = None) -> Path:
    """Static fields ``[S, lat, lon]`` as CF netCDF with lat/lon coordinates and canonical names,
    and the channels' ``<channel>_valid`` masks (:mod:`sowcast.bundle.channel_masks`)."""
    import xarray as xr

    from sowcast.bundle.channel_masks import ATTRS as MASK_ATTRS
    from sowcast.data.schema import CANONICAL_VARIABLES, COORD_ATTRS, cf_attrs

    fields = np.asarray(fields, np.float32)
    if fields.shape != (len(static_names), *grid.shape):
        raise SowcastError(f"static fields have shape {fields.shape}, expected {(len(static_names), *grid.shape)}")
    data = {name: (("lat", "lon"), fields[i], cf_attrs(name) if name in CANONICAL_VARIABLES else {})
            for i, name in enumerate(static_names)}
    for name, mask in (masks or {}).items():
        if np.shape(mask) != tuple(grid.shape):
            raise SowcastError(f"mask {name} has shape {np.shape(mask)}, expected {tuple(grid.shape)}")
        data[name] = (("lat", "lon"), np.asarray(mask, np.uint8), dict(MASK_ATTRS))
    ds = xr.Dataset(data, coords={"lat": ("lat", np.asarray(grid.lat, np.float64), COORD_ATTRS["lat"]),
                                  "lon": ("lon", np.asarray(grid.lon, np.float64), COORD_ATTRS["lon"])},
                    attrs={"Conventions": "CF-1.8", "title": "sowcast bundle: static fields on the model grid",
                           "source": "sowcast export"})
    ds, cf = cf_dataset(ds, ds.attrs["title"], "sowcast export")
    encoding = merge_encoding(cf, {n: {"_FillValue": None} for n in ds.data_vars})
    ds.to_netcdf(path, engine="netcdf4", encoding=encoding)
    return Path(path)


def write_statistics_nc(path: str | os.PathLike, channels: Sequence[str], statistics: Mapping[str, Any]) -> Path:
    """Per-channel statistics (``mean, std, diff_mean, diff_std, min, max``) over dim ``channel``."""
    import xarray as xr

    long_names = {"mean": "mean over the training period", "std": "standard deviation",
                  "diff_mean": "mean of one-step differences", "diff_std": "standard deviation of one-step differences",
                  "min": "minimum", "max": "maximum"}
    data = {}
    for key in STATISTICS_KEYS:
        if key in statistics:
            v = np.asarray(statistics[key], np.float32).reshape(-1)
            if v.shape != (len(channels),):
                raise SowcastError(f"statistics {key!r} has {v.size} values for {len(channels)} channels")
            # one unit per channel: no single CF units attribute fits, so the comment says where they are
            data[key] = (("channel",), v, {"long_name": long_names[key],
                                           "comment": "in each channel's units (manifest.json channels)"})
    ds = xr.Dataset(data, coords={"channel": ("channel", np.asarray(list(channels), dtype=object))},
                    attrs={"Conventions": "CF-1.8", "title": "sowcast bundle: per-channel statistics of the training data",
                           "source": "sowcast export"})
    ds, cf = cf_dataset(ds, ds.attrs["title"], "sowcast export")
    ds.to_netcdf(path, engine="netcdf4", encoding=merge_encoding(cf, {k: {"_FillValue": None} for k in data}))
    return Path(path)


def _model_identity(payload: Mapping[str, Any], loaded: Any) -> dict[str, Any]:
    """Which training run the model is (model_metadata.py: the ONNX file's own record)."""
    from sowcast.export.onnx_export import config_digest

    config = payload.get("config") or {}
    return {"sowcast_version": sowcast_version(), "model_name": (config.get("model") or {}).get("name"),
            "checkpoint_step": payload.get("step"), "param_digest": (payload.get("param_digests") or [None])[0],
            "config_digest": config_digest(config), "graph_digest": loaded.graph_digest,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def software_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("sowcast", "torch", "onnx", "onnxscript", "onnxruntime", "numpy", "xarray", "pandas", "netCDF4"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def sowcast_version() -> str:
    import sowcast

    return str(getattr(sowcast, "__version__", "unknown"))


def write_manifest(folder: str | os.PathLike, manifest: Mapping[str, Any], roles: Mapping[str, str]) -> dict[str, Any]:
    """Add ``files`` (sha256, bytes, role of every file in ``roles``) and write ``manifest.json``
    with its own checksum on the first line. It is checked as the reader checks it first, so
    an export never writes a bundle the edge would refuse."""
    folder = Path(folder)
    out = dict(manifest)
    out["files"] = {name: file_entry(folder / name, role) for name, role in roles.items()}
    data = manifest_bytes(out)
    parse_manifest(data)
    (folder / MANIFEST_FILE).write_bytes(data)
    return out


def _validation_metrics(run_dir: Any, step: int) -> dict[str, Any] | None:
    """The validation rows of ``metrics.csv`` at ``step``: ``{metric: value | {lead: {channel: value}}}``."""
    if not run_dir:
        return None
    try:
        from sowcast.train.metrics_log import read_metrics

        rows = [r for r in read_metrics(Path(str(run_dir)) / "metrics.csv")
                if r.get("split") == "val" and str(r.get("step")) == str(step)]
    except Exception:  # noqa: BLE001 - provenance is best effort
        return None
    out: dict[str, Any] = {}
    for r in rows:
        try:
            value = float(r["value"])
        except (TypeError, ValueError):
            continue
        if not r.get("lead") and not r.get("channel"):
            out[r["metric"]] = value
        else:
            out.setdefault(r["metric"], {}).setdefault(str(r.get("lead") or ""), {})[r.get("channel") or ""] = value
    return out or None


# -- the export -------------------------------------------------------------------------------
@dataclass
class ExportResult:
    bundle: Path
    archive: Path | None
    manifest: dict[str, Any]
    lines: list[str] = field(default_factory=list)  # what was printed
    signed_by: str | None = None  # fingerprint of the signing key; None: unsigned


def _default_log(message: str) -> None:
    print(f"sowcast export: {message}", file=sys.stderr, flush=True)


def _open_source(store: Any, payload: Mapping[str, Any], log: Callable[[str], None]) -> tuple[Any, str | None, Path | None]:
    """The training store's windows (validation range if any), or (None, why not, path)."""
    from sowcast.data.windows import WindowSource

    config = payload.get("config") or {}
    data_cfg = config.get("data") or {}
    loader = data_cfg.get("loader") or {}
    path = store if store else data_cfg.get("store")
    if not path:
        return None, "the checkpoint's config names no data store", None
    path = Path(str(path))
    if not path.exists():
        return None, f"the data store {path} is not reachable", path
    train_cfg = config.get("train") or {}
    ranges = [r for r in (train_cfg.get("validation_range"), train_cfg.get("train_range"), None)
              if r is None or (isinstance(r, (list, tuple)) and len(r) == 2)]
    prognostic = loader.get("prognostic")
    prognostic = [prognostic] if isinstance(prognostic, str) else prognostic
    source, last_error = None, None
    for time_range in ranges:
        try:
            source = WindowSource(path, n_input_steps=int(payload.get("n_input_steps", 2)), n_target_steps=1,
                                  prognostic=prognostic, static=list(payload.get("static", [])),
                                  time_range=time_range)
            break
        except SowcastError as exc:
            last_error = str(exc)
    if source is None:
        return None, f"the data store {path} gives no windows ({last_error})", path
    want = list(payload.get("channels", []))
    if list(source.channels) != want:
        raise SowcastError(f"the data store {path} has channels {source.channels}, the checkpoint {want}")
    if list(source.forcing_names) != list(payload.get("forcings", source.forcing_names)):
        raise SowcastError(f"the data store's forcings {list(source.forcing_names)} differ from the checkpoint's "
                           f"{payload.get('forcings')}")
    lat, lon = np.asarray(payload["grid"]["lat"]), np.asarray(payload["grid"]["lon"])
    if source.grid.shape != (len(lat), len(lon)) or not (np.allclose(source.grid.lat, lat) and np.allclose(source.grid.lon, lon)):
        raise SowcastError(f"the data store {path} is on another grid than the checkpoint")
    stats = payload.get("statistics") or {}
    for key in ("mean", "std"):
        if key in stats and key in source.statistics and not np.allclose(source.statistics[key], stats[key], rtol=1e-5):
            log(f"warning: the store's {key} statistics differ from the checkpoint's (re-ingested store?); "
                "the bundle carries the checkpoint's")
            break
    return source, None, path


def _store_attr(path: Path | None, key: str, default: Any) -> Any:
    if path is None:
        return default
    try:
        from sowcast.data.store import open_store

        ds = open_store(path, chunks=None)
        try:
            return ds.attrs.get(key, default)
        finally:
            ds.close()
    except SowcastError:
        return default


def export_bundle(checkpoint: str | os.PathLike | Mapping[str, Any], output: str | os.PathLike, *,
                  archive: bool = True, opset: int = 18, variants: Sequence[str] = (),
                  parity_tolerance: float = 1e-4, parity_real_windows: int = 4, parity_batch: int = 3,
                  max_skill_change: float = DEFAULT_MAX_SKILL_CHANGE, threads: int = 2,
                  climatology: str | os.PathLike | None = None, store: str | os.PathLike | None = None,
                  overwrite: bool = False, seed: int = 0, embed_limit_bytes: int | None = None,
                  log: Callable[[str], None] | None = None,
                  sign_key: str | os.PathLike | None = None) -> ExportResult:
    """Write the bundle of ``checkpoint`` (a folder, ``state.pt`` or loaded payload) to ``output``
    (module doc). Returns the paths and the manifest."""
    import torch

    from sowcast.data.schema import PRECIPITATION_ACCUMULATION, time_step_iso
    from sowcast.export import onnx_export as ox
    from sowcast.export import parity as P
    from sowcast.export.model_metadata import model_metadata, stamp_model_metadata
    from sowcast.export.quantize import VARIANT_PRECISIONS, make_variant
    from sowcast.graph.build import is_global_grid, normalize_settings

    lines: list[str] = []

    def say(message: str) -> None:
        lines.append(message)
        (log or _default_log)(message)

    output = Path(output)
    archive_path = output.with_name(output.name + ".tar.gz") if archive else None
    for p in (output, archive_path):
        if p is not None and p.exists() and not overwrite:
            raise SowcastError(f"{p} exists already; set overwrite=true to replace it")
    variants = [str(v).lower() for v in (variants or [])]
    unknown = [v for v in variants if v not in VARIANT_PRECISIONS]
    if unknown or len(set(variants)) != len(variants):
        raise SowcastError(f"export.variants must name each of {', '.join(VARIANT_PRECISIONS)} at most once, not {variants}")
    if climatology is not None and not Path(climatology).is_file():
        raise SowcastError(f"export.climatology: no file at {climatology}")
    if int(parity_batch) < 2:
        raise SowcastError(f"export.parity_batch must be at least 2 (the batch dim is checked at 1 and at it), not {parity_batch}")
    if not float(parity_tolerance) > 0:
        raise SowcastError(f"export.parity_tolerance must be positive, not {parity_tolerance}")
    threads = max(int(threads), 1)
    private_key = None
    if sign_key is not None:  # read now: a bad key fails before the long export
        from sowcast.bundle.signature import load_private_key

        private_key = load_private_key(sign_key)

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        loaded = ox.load_model(checkpoint)
        model, payload, graph = loaded.model, loaded.payload, loaded.graph
        say(f"checkpoint {payload.get('path')} (step {payload.get('step')}): {model.count_parameters():,} parameters, "
            f"grid {model.grid_shape[0]}x{model.grid_shape[1]}, {graph.n_mesh} mesh nodes")
        channels = list(payload["channels"])
        forcing_names = list(payload["forcings"])
        static_names = list(payload.get("static", []))
        stats = {k: np.asarray(v, np.float32) for k, v in payload["statistics"].items()}
        grid = Grid(lat=np.asarray(payload["grid"]["lat"], np.float64), lon=np.asarray(payload["grid"]["lon"], np.float64))
        time_step = pd.Timedelta(payload["time_step"])
        t_in = int(payload.get("n_input_steps", model.n_input_steps))

        source, skipped, store_path = _open_source(store, payload, say)
        if source is None:
            if static_names:
                raise SowcastError(f"{skipped}: static.nc needs the static fields ({', '.join(static_names)}) "
                                   "of the training store; give export.store=PATH")
            say(f"warning: real-window parity skipped: {skipped}")
            static_fields = np.zeros((0, *grid.shape), np.float32)
            real = None
            channel_masks: dict[str, np.ndarray] = {}
        else:
            channel_masks = masks_to_write(channels, source.valid)  # land-only channels (channel_masks.py)
            real = P.real_batch(source, int(parity_real_windows))
            static_fields = (real["static"][0] if real is not None else source[0]["static"]).astype(np.float32)
            if real is None:
                skipped = "export.parity_real_windows is 0"

        with atomic_path(output, overwrite=overwrite, directory=True) as tmp:
            say(f"exporting to ONNX (opset {int(opset)}, dynamic batch) ...")
            t0 = time.perf_counter()
            kwargs = {} if embed_limit_bytes is None else {"embed_limit_bytes": int(embed_limit_bytes)}
            written = ox.export_onnx(model, tmp / MODEL_FILE, opset=int(opset), **kwargs)
            # channel order, units, time step, grid and identity inside model.onnx, before parity and checksums
            stamp_model_metadata(tmp / MODEL_FILE, model_metadata(
                channels, forcing_names, static_names, t_in, time_step_iso(time_step), grid.lat, grid.lon,
                graph.settings.get("kind") or ("global" if is_global_grid(grid) else "regional"),
                _model_identity(payload, loaded)))
            info = ox.check_onnx(tmp / MODEL_FILE, model)
            external = any(p.name == MODEL_DATA_FILE for p in written)
            say(f"exported in {time.perf_counter() - t0:.1f} s: {len(info['ops'])} op types, no Scatter; "
                f"weights {'in ' + MODEL_DATA_FILE if external else 'embedded'}")

            session = P.ort_session(tmp / MODEL_FILE, threads)
            random = P.random_batch(t_in, stats, grid.lat, grid.lon, time_step, int(parity_batch), forcing_names,
                                    static=static_fields if static_names else None,
                                    static_statistics=payload.get("static_statistics"), n_static=len(static_names),
                                    seed=int(seed))
            noise_shape = model.noise_shape(1)[1:] if model.stochastic else None  # (n_mesh, K)
            random = P.add_noise(random, noise_shape, int(seed))
            real = P.add_noise(real, noise_shape, int(seed) + 1)
            report, fp32_out = P.check_parity(model, session, random, real, stats, channels, grid.lat,
                                              float(parity_tolerance), real_skipped=skipped)
            say(f"parity onnxruntime vs torch: {report.summary()}")
            if not report.ok:
                raise SowcastError(f"ONNX parity failed: max normalised difference {report.worst:.3g} (beyond float32 "
                                   f"resolution) exceeds export.parity_tolerance {float(parity_tolerance):g}"
                                   f"{'' if report.worst < float('inf') else ' (outputs not finite)'}; no bundle written")
            ms_fp32 = P.time_ort(session, random)
            rmse_fp32 = report.rmse_onnx

            kept, dropped = [], []
            rollout, rollout_skipped = P.rollout_setup(source, real, noise_shape, int(seed)) if variants else (None, None)
            if rollout is not None:
                rollout.fp32_weekly = P.weekly_rollout(session, rollout)
            roles = {MODEL_FILE: "model"}
            if external:
                roles[MODEL_DATA_FILE] = "model_data"
            for precision in variants:
                entry, keep = _variant(precision, tmp, threads, random, real, fp32_out, stats, channels, grid,
                                       rmse_fp32, float(max_skill_change), ms_fp32, make_variant, say,
                                       fp32_session=session, rollout=rollout, rollout_skipped=rollout_skipped)
                if keep:
                    kept.append(entry)
                    roles[entry["file"]] = "model_variant"
                else:
                    dropped.append(entry)

            write_static_nc(tmp / STATIC_FILE, grid, static_names, static_fields, channel_masks)
            write_statistics_nc(tmp / STATISTICS_FILE, channels, stats)
            roles[STATIC_FILE] = "static"
            roles[STATISTICS_FILE] = "statistics"
            if climatology is not None:
                shutil.copyfile(climatology, tmp / CLIMATOLOGY_FILE)
                roles[CLIMATOLOGY_FILE] = "climatology"

            config = payload.get("config") or {}
            train_cfg = config.get("train") or {}
            graph_settings = normalize_settings({k: v for k, v in (config.get("graph") or {}).items()})
            kind = graph.settings.get("kind") or ("global" if is_global_grid(grid) else "regional")
            manifest = {
                "format": FORMAT,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "sowcast_version": sowcast_version(),
                "software": software_versions(),
                "model": {
                    "file": MODEL_FILE,
                    "data_file": MODEL_DATA_FILE if external else None,
                    "inputs": info["inputs"], "outputs": info["outputs"],
                    "noise": noise_entry(*noise_shape) if noise_shape is not None else None,
                    "units": "physical in and out (normalisation inside the model)",
                    "opset": info["opset"],
                    "n_parameters": int(model.count_parameters()),
                    "hyperparameters": model.hyperparameters(),
                    "graph": {"kind": kind, "n_grid": int(graph.n_grid), "n_mesh": int(graph.n_mesh),
                              "mesh_level": int((config.get("model") or {}).get("mesh_level")),
                              "settings": graph_settings, "cache_key": loaded.graph_key,
                              "digest": loaded.graph_digest},
                    "ms_per_batch": {"fp32": round(ms_fp32, 3), "batch": int(parity_batch), "threads": threads},
                    "variants": kept,
                    "dropped_variants": dropped,
                },
                "channels": [channel_info(c) for c in channels],
                "forcing_names": forcing_names,
                "static_names": static_names,
                "n_input_steps": t_in,
                "time_step": time_step_iso(time_step),
                "grid": {"lat": [float(x) for x in grid.lat], "lon": [float(x) for x in grid.lon], "kind": kind},
                "precipitation_accumulation": _store_attr(store_path, "precipitation_accumulation",
                                                          PRECIPITATION_ACCUMULATION),
                "provenance": {
                    "checkpoint": str(Path(str(payload.get("path", ""))).resolve()) if payload.get("path") else None,
                    "step": payload.get("step"), "epoch": payload.get("epoch"),
                    "run_dir": train_cfg.get("run_dir"),
                    "data_store": str(store_path.resolve()) if store_path is not None else (config.get("data") or {}).get("store"),
                    "train_range": train_cfg.get("train_range"),
                    "validation_range": train_cfg.get("validation_range"),
                    "val_loss": payload.get("val_loss"), "best_val_loss": payload.get("best_val_loss"),
                    "validation": _validation_metrics(train_cfg.get("run_dir"), payload.get("step")),
                    "model_name": (config.get("model") or {}).get("name"),
                    "param_digest": (payload.get("param_digests") or [None])[0],
                    "config_digest": ox.config_digest(config),
                    "world_size": payload.get("world_size"),
                },
                "parity": report.as_manifest(),
            }
            manifest = write_manifest(tmp, manifest, roles)
            signed_by = None
            if private_key is not None:
                from sowcast.bundle.signature import sign_folder

                signed_by = sign_folder(tmp, private_key)
                say(f"manifest signed (Ed25519, key {signed_by})")
        say(f"bundle written: {output}")
        if archive_path is not None:
            from sowcast.bundle.reader import write_archive

            write_archive(output, archive_path, overwrite=True)
            say(f"archive written: {archive_path}")
        return ExportResult(bundle=output, archive=archive_path, manifest=manifest, lines=lines, signed_by=signed_by)
    finally:
        torch.set_num_threads(previous_threads)


def _variant(precision: str, folder: Path, threads: int, random: dict, real: dict | None,
             fp32_out: Mapping[str, np.ndarray], stats: Mapping[str, np.ndarray], channels: list[str], grid: Grid,
             rmse_fp32: float | None, max_skill_change: float, ms_fp32: float, make_variant: Callable,
             say: Callable[[str], None], fp32_session: Any = None, rollout: Any = None,
             rollout_skipped: str | None = None) -> tuple[dict[str, Any], bool]:
    """Make, measure and judge one variant; returns its manifest entry and whether it is kept
    (finite, within the skill limit, within the rollout check, faster than fp32)."""
    from sowcast.export import parity as P

    name = variant_file(precision)
    path = folder / name
    why = make_variant(precision, folder / MODEL_FILE, path)
    if why is None:
        try:
            session = P.ort_session(path, threads)
        except SowcastError as exc:
            why = str(exc)
    if why is not None:
        path.unlink(missing_ok=True)
        say(f"{precision} variant dropped: {why}")
        return {"precision": precision, "reason": why}, False

    d = P.difference(P.run_ort(session, random), fp32_out["random"], stats, channels)
    skill_change, rmse = None, None
    if real is not None:
        out_real = P.run_ort(session, real)
        d_real = P.difference(out_real, fp32_out["real"], stats, channels)
        if not d_real.finite or (d.finite and d_real.max_normalised > d.max_normalised):
            d = d_real
        rmse = P.skill_rmse(out_real, real["targets"], stats, grid.lat)
        if rmse_fp32 and np.isfinite(rmse):
            skill_change = rmse / rmse_fp32 - 1.0
        elif not np.isfinite(rmse):
            skill_change = float("inf")
    if fp32_session is not None:  # in turn with fp32, so that a busy machine slows both alike
        ms_fp32, ms = P.time_in_turn([fp32_session, session], random, repeats=7)
    else:
        ms = P.time_ort(session, random)
    rolled = None if rollout is None else P.compare_rollouts(P.weekly_rollout(session, rollout), rollout.fp32_weekly,
                                                             rollout, channels)
    finite = d.finite and (skill_change is None or np.isfinite(skill_change)) and (rolled is None or rolled.finite)
    skill_ok = skill_change is None or skill_change <= max_skill_change
    why_not = ("outputs not finite" if not finite else
               f"skill change {100 * skill_change:+.2f} % exceeds {100 * max_skill_change:g} %" if not skill_ok else
               (rollout_skipped or "no rollout check") if rolled is None else
               f"the 46-day rollout moves past {100 * P.ROLLOUT_TOLERANCE:g} %" if not rolled.ok else
               f"not faster than fp32 ({ms:.1f} ms vs {ms_fp32:.1f} ms; needs < {100 * P.VARIANT_SPEEDUP:g} %)"
               if not ms < P.VARIANT_SPEEDUP * ms_fp32 else None)
    keep = why_not is None
    verdict = "kept" if keep else "dropped"
    if not finite:
        say(f"{precision} variant {verdict}: outputs not finite (a value beyond the {precision} range inside the "
            f"model?); {ms:.1f} ms vs {ms_fp32:.1f} ms fp32 per batch of {len(random['inputs'])}")
    else:
        skill_text = ("skill change not measured (no real windows)" if skill_change is None else
                      f"skill change {100 * skill_change:+.2f} % (RMSE {rmse:.4g} vs {rmse_fp32:.4g} fp32; "
                      f"limit {100 * max_skill_change:g} %)")
        say(f"{precision} variant {verdict}: max abs diff vs fp32 {d.max_abs:.3g} ({d.max_abs_channel}; "
            f"{100 * d.max_normalised:.3g} % of its std), {skill_text}; {ms:.1f} ms vs {ms_fp32:.1f} ms fp32 "
            f"per batch of {len(random['inputs'])}; "
            f"{rolled.summary() if rolled is not None else rollout_skipped}{'' if keep else f'; dropped: {why_not}'}")
    entry = {"file": name, "precision": precision,
             "max_abs_diff": float(d.max_abs) if d.finite else None,
             "max_abs_diff_channel": d.max_abs_channel,
             "max_abs_diff_normalised": float(d.max_normalised) if d.finite else None,
             "skill_change": float(skill_change) if skill_change is not None and np.isfinite(skill_change) else None,
             "skill_rmse": float(rmse) if rmse is not None and np.isfinite(rmse) else None,
             "ms_per_batch": round(ms, 3), "ms_per_batch_fp32": round(ms_fp32, 3),
             "rollout": rolled.as_dict() if rolled is not None else None}
    if not keep:
        path.unlink(missing_ok=True)
        entry = {"precision": precision, "reason": why_not,
                 **{k: v for k, v in entry.items() if k not in ("file", "precision")}}
    return entry, keep
