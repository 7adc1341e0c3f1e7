"""Write the edge bundle (:mod:`sowcast.bundle`) from a training checkpoint.

:func:`write_bundle` does the whole of ``sowcast export`` from a checkpoint, with the typed
:class:`~sowcast.export.options.ExportOptions` (:func:`export_bundle`: the same with the
options as keywords; :func:`sowcast.export.stage.run`: the command's entry, which finds the
checkpoint):

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
   rollout within 1 % and it is faster than fp32; else dropped with the reason logged;
6. ``static.nc``, ``statistics.nc``, an optional ``climatology.nc``, then ``manifest.json``
   with the sha256 of every file and, on its first line, its own sha256 (checked as the
   reader checks it before it is written); the folder is written as a temporary sibling and
   renamed into place (:func:`sowcast.atomic.atomic_path`), then ``<folder>.tar.gz``
   (atomically too) unless ``archive=False``;
7. with ``sign_key`` (a private key file of ``sowcast export keygen``), ``manifest.sig``: the
   Ed25519 signature of the manifest's bytes (:mod:`sowcast.bundle.signature`), written in
   the temporary folder before the rename, so the archive carries it too.

Each step is a function below (:func:`_read_checkpoint`, :func:`_write_onnx`, :func:`_check_parity`,
:func:`_judge_variants`, :func:`_write_fields`, :func:`_write_bundle_manifest`, :func:`_sign`);
the manifest itself is built by :mod:`sowcast.export.bundle_manifest` as the typed
:class:`sowcast.bundle.manifest.Manifest` the reader parses. Progress goes to the
``sowcast export`` logger (:mod:`sowcast.log`), warnings as warnings. The helpers that write
the netCDF files and the manifest are torch-free.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sowcast.atomic import atomic_path
from sowcast.bundle.channel_masks import masks_to_write
from sowcast.bundle.checksums import file_entry
from sowcast.bundle.manifest import (
    CLIMATOLOGY_FILE,
    MANIFEST_FILE,
    MODEL_DATA_FILE,
    MODEL_FILE,
    STATIC_FILE,
    STATISTICS_FILE,
    STATISTICS_KEYS,
    DroppedVariant,
    FileEntry,
    Manifest,
    Variant,
    manifest_bytes,
    parse_manifest,
    variant_file,
)
from sowcast.cf_attributes import cf_dataset, merge_encoding
from sowcast.data.grid import Grid
from sowcast.errors import SowcastError
from sowcast.export.bundle_manifest import (
    bundle_manifest,
    model_entry,
    provenance,
    sowcast_version,
    utc_now,
)
from sowcast.log import reporter

if TYPE_CHECKING:
    from sowcast.export.options import ExportOptions


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
            "created": utc_now()}


def listed_files(folder: str | os.PathLike, roles: Mapping[str, str]) -> dict[str, FileEntry]:
    """``files`` of the manifest: sha256, bytes and role of every file named in ``roles``."""
    return {name: FileEntry(**file_entry(Path(folder) / name, role)) for name, role in roles.items()}


def write_manifest(folder: str | os.PathLike, manifest: Manifest | Mapping[str, Any],
                   roles: Mapping[str, str]) -> dict[str, Any]:
    """Add ``files`` (:func:`listed_files`) to ``manifest`` (typed, or its JSON object) and write
    ``manifest.json`` with its own checksum on the first line. It is checked as the reader checks
    it first, so an export never writes a bundle the edge would refuse. Returns the JSON object."""
    folder = Path(folder)
    files = listed_files(folder, roles)
    if isinstance(manifest, Manifest):
        typed = manifest.with_files(files)
        data, out = typed.to_bytes(), typed.to_json()
    else:
        out = {**manifest, "files": {name: entry.to_json() for name, entry in files.items()}}
        data = manifest_bytes(out)
        parse_manifest(data)
    (folder / MANIFEST_FILE).write_bytes(data)
    return out


# -- the export -------------------------------------------------------------------------------
@dataclass
class ExportResult:
    bundle: Path
    archive: Path | None
    manifest: dict[str, Any]  # manifest.json's JSON object, as written
    lines: list[str] = field(default_factory=list)  # the progress lines, as given to ``log``
    signed_by: str | None = None  # fingerprint of the signing key; None: unsigned
    typed_manifest: Manifest | None = None  # the same manifest, typed

    def summary(self) -> list[str]:
        """The result lines of ``sowcast export``: the bundle (size, id: the manifest's sha256),
        the signing key, the archive."""
        from sowcast.bundle.checksums import sha256_file

        size = sum(p.stat().st_size for p in self.bundle.iterdir() if p.is_file())
        out = [f"bundle {self.bundle} ({size / 1e6:.2f} MB), id {sha256_file(self.bundle / MANIFEST_FILE)}"]
        if self.signed_by is not None:
            out.append(f"signed with key {self.signed_by} (manifest.sig)")
        if self.archive is not None:
            out.append(f"archive {self.archive} ({self.archive.stat().st_size / 1e6:.2f} MB)")
        return out


Say = Callable[..., None]  # say(message, level=logging.INFO): sowcast.log.reporter


@dataclass
class _Checkpoint:
    """What the export works from: the loaded model and, from the training store, the static
    fields, the channels' land masks and a few real windows (module doc, steps 1-2)."""

    loaded: Any                         # onnx_export.LoadedModel
    channels: list[str]
    forcing_names: list[str]
    static_names: list[str]
    stats: dict[str, np.ndarray]
    grid: Grid
    time_step: pd.Timedelta
    t_in: int
    kind: str                           # "regional" | "global": how the graph was built
    source: Any                         # the store's WindowSource, or None
    store_path: Path | None
    real: dict | None                   # real windows for parity, or None ...
    real_skipped: str | None            # ... and why
    static_fields: np.ndarray
    channel_masks: dict[str, np.ndarray]

    @property
    def model(self) -> Any:
        return self.loaded.model

    @property
    def payload(self) -> dict[str, Any]:
        return self.loaded.payload


@dataclass
class _Parity:
    """onnxruntime against torch on the fp32 model (module doc, step 4)."""

    session: Any
    random: dict
    real: dict | None
    report: Any                         # parity.ParityReport
    fp32_out: dict[str, np.ndarray]
    ms_fp32: float
    noise_shape: tuple[int, int] | None  # (nodes, channels) of a stochastic model


def export_bundle(checkpoint: str | os.PathLike | Mapping[str, Any], output: str | os.PathLike, *,
                  overwrite: bool = False, embed_limit_bytes: int | None = None,
                  log: Callable[[str], None] | None = None, **options: Any) -> ExportResult:
    """:func:`write_bundle` with ``options`` given as keywords: the fields of
    :class:`~sowcast.export.options.ExportOptions` (archive, opset, variants, parity_tolerance,
    ...), their defaults there; for Python callers, which pass values of the right types."""
    from sowcast.export.options import ExportOptions

    return write_bundle(checkpoint, ExportOptions(output=Path(output), **options), overwrite=overwrite,
                        embed_limit_bytes=embed_limit_bytes, log=log)


def write_bundle(checkpoint: str | os.PathLike | Mapping[str, Any], options: ExportOptions, *,
                 overwrite: bool = False, embed_limit_bytes: int | None = None,
                 log: Callable[[str], None] | None = None) -> ExportResult:
    """Write the bundle of ``checkpoint`` (a folder, ``state.pt`` or loaded payload) to
    ``options.output`` (module doc); ``options.checkpoint`` is not read here (the stage,
    :func:`sowcast.export.stage.run`, resolves it). Returns the paths and the manifest. ``log``:
    a callback for the progress lines instead of the ``sowcast export`` logger."""
    import torch

    from sowcast.export.options import check_export_options, precisions

    lines: list[str] = []
    say = reporter("export", log, lines)  # sowcast export: [warning: ]... on stderr, or to log
    check_export_options(options, overwrite)
    o, output, archive_path = options, options.output, options.archive_path
    variants = list(precisions(o.variants))
    threads = max(int(o.threads), 1)
    private_key = None
    if o.sign_key is not None:  # read now: a bad key fails before the long export
        from sowcast.bundle.signature import load_private_key

        private_key = load_private_key(o.sign_key)

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        ck = _read_checkpoint(checkpoint, o.store, int(o.parity_real_windows), say)
        with atomic_path(output, overwrite=overwrite, directory=True) as tmp:
            onnx_info, external = _write_onnx(tmp, ck, int(o.opset), embed_limit_bytes, say)
            parity = _check_parity(tmp, ck, threads, int(o.parity_batch), float(o.parity_tolerance), int(o.seed), say)
            kept, dropped = _judge_variants(tmp, ck, parity, variants, threads, float(o.max_skill_change),
                                            int(o.seed), say)
            roles = _write_fields(tmp, ck, external, kept, o.climatology)
            timing = {"fp32": round(parity.ms_fp32, 3), "batch": int(o.parity_batch), "threads": threads}
            manifest = _write_bundle_manifest(tmp, ck, onnx_info, external, parity, timing, kept, dropped, roles)
            signed_by = _sign(tmp, private_key, say)
        say(f"bundle written: {output}")
        if archive_path is not None:
            from sowcast.bundle.reader import write_archive

            write_archive(output, archive_path, overwrite=True)
            say(f"archive written: {archive_path}")
        return ExportResult(bundle=output, archive=archive_path, manifest=manifest.to_json(), lines=lines,
                            signed_by=signed_by, typed_manifest=manifest)
    finally:
        torch.set_num_threads(previous_threads)


def _read_checkpoint(checkpoint: Any, store: Any, n_real: int, say: Say) -> _Checkpoint:
    """The model from the checkpoint (:func:`onnx_export.load_model`) and, from the training
    store, the static fields and ``n_real`` real windows; without a store, real-window parity
    is skipped with a warning, unless the model has static fields (module doc, steps 1-2)."""
    from sowcast.export import onnx_export as ox
    from sowcast.export import parity as P
    from sowcast.graph.build import is_global_grid

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
        say(f"real-window parity skipped: {skipped}", logging.WARNING)
        static_fields = np.zeros((0, *grid.shape), np.float32)
        real = None
        channel_masks: dict[str, np.ndarray] = {}
    else:
        channel_masks = masks_to_write(channels, source.valid)  # land-only channels (channel_masks.py)
        real = P.real_batch(source, n_real)
        static_fields = (real["static"][0] if real is not None else source[0]["static"]).astype(np.float32)
        if real is None:
            skipped = "export.parity_real_windows is 0"
    return _Checkpoint(loaded=loaded, channels=channels, forcing_names=forcing_names, static_names=static_names,
                       stats=stats, grid=grid, time_step=time_step, t_in=t_in,
                       kind=graph.settings.get("kind") or ("global" if is_global_grid(grid) else "regional"),
                       source=source, store_path=store_path, real=real, real_skipped=skipped,
                       static_fields=static_fields, channel_masks=channel_masks)


def _write_onnx(tmp: Path, ck: _Checkpoint, opset: int, embed_limit_bytes: int | None,
                say: Say) -> tuple[dict[str, Any], bool]:
    """``model.onnx``, with channel order, units, time step, grid and identity in its metadata,
    checked (:func:`onnx_export.check_onnx`: ``{inputs, outputs, opset, ops}``); and whether the
    weights went to ``model.onnx.data`` (module doc, step 3)."""
    from sowcast.data.schema import time_step_iso
    from sowcast.export import onnx_export as ox
    from sowcast.export.model_metadata import model_metadata, stamp_model_metadata

    say(f"exporting to ONNX (opset {opset}, dynamic batch) ...")
    t0 = time.perf_counter()
    kwargs = {} if embed_limit_bytes is None else {"embed_limit_bytes": int(embed_limit_bytes)}
    written = ox.export_onnx(ck.model, tmp / MODEL_FILE, opset=opset, **kwargs)
    # channel order, units, time step, grid and identity inside model.onnx, before parity and checksums
    stamp_model_metadata(tmp / MODEL_FILE, model_metadata(
        ck.channels, ck.forcing_names, ck.static_names, ck.t_in, time_step_iso(ck.time_step), ck.grid.lat,
        ck.grid.lon, ck.kind, _model_identity(ck.payload, ck.loaded)))
    info = ox.check_onnx(tmp / MODEL_FILE, ck.model)
    external = any(p.name == MODEL_DATA_FILE for p in written)
    say(f"exported in {time.perf_counter() - t0:.1f} s: {len(info['ops'])} op types, no Scatter; "
        f"weights {'in ' + MODEL_DATA_FILE if external else 'embedded'}")
    return info, external


def _check_parity(tmp: Path, ck: _Checkpoint, threads: int, batch: int, tolerance: float, seed: int,
                  say: Say) -> _Parity:
    """onnxruntime against torch on a random batch (and its first sample) and the real windows,
    a stochastic model's noise drawn from ``seed``; past ``tolerance`` the export fails (module
    doc, step 4). Then fp32's time per batch, the variants' yardstick."""
    from sowcast.export import parity as P

    session = P.ort_session(tmp / MODEL_FILE, threads)
    random = P.random_batch(ck.t_in, ck.stats, ck.grid.lat, ck.grid.lon, ck.time_step, batch, ck.forcing_names,
                            static=ck.static_fields if ck.static_names else None,
                            static_statistics=ck.payload.get("static_statistics"), n_static=len(ck.static_names),
                            seed=seed)
    noise_shape = ck.model.noise_shape(1)[1:] if ck.model.stochastic else None  # (n_mesh, K)
    random = P.add_noise(random, noise_shape, seed)
    real = P.add_noise(ck.real, noise_shape, seed + 1)
    report, fp32_out = P.check_parity(ck.model, session, random, real, ck.stats, ck.channels, ck.grid.lat,
                                      tolerance, real_skipped=ck.real_skipped)
    say(f"parity onnxruntime vs torch: {report.summary()}")
    if not report.ok:
        raise SowcastError(f"ONNX parity failed: max normalised difference {report.worst:.3g} (beyond float32 "
                           f"resolution) exceeds export.parity_tolerance {tolerance:g}"
                           f"{'' if report.worst < float('inf') else ' (outputs not finite)'}; no bundle written")
    return _Parity(session=session, random=random, real=real, report=report, fp32_out=fp32_out,
                   ms_fp32=P.time_ort(session, random), noise_shape=noise_shape)


def _judge_variants(tmp: Path, ck: _Checkpoint, parity: _Parity, variants: Sequence[str], threads: int,
                    max_skill_change: float, seed: int, say: Say) -> tuple[list[Variant], list[DroppedVariant]]:
    """Make, measure and judge each variant in turn (:func:`_variant`; module doc, step 5)."""
    from sowcast.export import parity as P
    from sowcast.export.quantize import make_variant

    kept: list[Variant] = []
    dropped: list[DroppedVariant] = []
    rollout, rollout_skipped = P.rollout_setup(ck.source, parity.real, parity.noise_shape, seed) if variants \
        else (None, None)
    if rollout is not None:
        rollout.fp32_weekly = P.weekly_rollout(parity.session, rollout)
    for precision in variants:
        entry, keep = _variant(precision, tmp, threads, parity.random, parity.real, parity.fp32_out, ck.stats,
                               ck.channels, ck.grid, parity.report.rmse_onnx, max_skill_change, parity.ms_fp32,
                               make_variant, say, fp32_session=parity.session, rollout=rollout,
                               rollout_skipped=rollout_skipped)
        if keep:
            kept.append(entry)
        else:
            dropped.append(entry)
    return kept, dropped


def _write_fields(tmp: Path, ck: _Checkpoint, external: bool, kept: Sequence[Variant],
                  climatology: str | os.PathLike | None) -> dict[str, str]:
    """``static.nc``, ``statistics.nc`` and the climatology copy; returns the role of every
    file of the bundle, in the order ``files`` lists them (module doc, step 6)."""
    roles = {MODEL_FILE: "model"}
    if external:
        roles[MODEL_DATA_FILE] = "model_data"
    for variant in kept:
        roles[variant.file] = "model_variant"
    write_static_nc(tmp / STATIC_FILE, ck.grid, ck.static_names, ck.static_fields, ck.channel_masks)
    write_statistics_nc(tmp / STATISTICS_FILE, ck.channels, ck.stats)
    roles[STATIC_FILE] = "static"
    roles[STATISTICS_FILE] = "statistics"
    if climatology is not None:
        shutil.copyfile(climatology, tmp / CLIMATOLOGY_FILE)
        roles[CLIMATOLOGY_FILE] = "climatology"
    return roles


def _write_bundle_manifest(tmp: Path, ck: _Checkpoint, onnx_info: Mapping[str, Any], external: bool,
                           parity: _Parity, timing: Mapping[str, Any], kept: Sequence[Variant],
                           dropped: Sequence[DroppedVariant], roles: Mapping[str, str]) -> Manifest:
    """``manifest.json`` of the bundle (:mod:`sowcast.export.bundle_manifest`), sealed by its own
    checksum and checked as the reader checks it (module doc, step 6)."""
    from sowcast.data.schema import PRECIPITATION_ACCUMULATION, time_step_iso

    model = model_entry(ck.loaded, onnx_info, external, parity.noise_shape, ck.kind, timing, kept, dropped)
    manifest = bundle_manifest(
        model, ck.channels, ck.forcing_names, ck.static_names, ck.t_in, time_step_iso(ck.time_step), ck.grid.lat,
        ck.grid.lon, ck.kind, _store_attr(ck.store_path, "precipitation_accumulation", PRECIPITATION_ACCUMULATION),
        provenance(ck.payload, ck.store_path), parity.report.as_manifest())
    manifest = manifest.with_files(listed_files(tmp, roles))
    (tmp / MANIFEST_FILE).write_bytes(manifest.to_bytes())
    return manifest


def _sign(tmp: Path, private_key: Any, say: Say) -> str | None:
    """``manifest.sig`` with ``private_key`` (None: unsigned); the key's fingerprint (module doc, step 7)."""
    if private_key is None:
        return None
    from sowcast.bundle.signature import sign_folder

    signed_by = sign_folder(tmp, private_key)
    say(f"manifest signed (Ed25519, key {signed_by})")
    return signed_by


def _open_source(store: Any, payload: Mapping[str, Any], log: Say) -> tuple[Any, str | None, Path | None]:
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
            log(f"the store's {key} statistics differ from the checkpoint's (re-ingested store?); "
                "the bundle carries the checkpoint's", logging.WARNING)
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


def _variant(precision: str, folder: Path, threads: int, random: dict, real: dict | None,
             fp32_out: Mapping[str, np.ndarray], stats: Mapping[str, np.ndarray], channels: list[str], grid: Grid,
             rmse_fp32: float | None, max_skill_change: float, ms_fp32: float, make_variant: Callable,
             say: Callable[[str], None], fp32_session: Any = None, rollout: Any = None,
             rollout_skipped: str | None = None) -> tuple[Variant | DroppedVariant, bool]:
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
        return DroppedVariant(precision, why), False

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
    measured = {"max_abs_diff": float(d.max_abs) if d.finite else None,
                "max_abs_diff_channel": d.max_abs_channel,
                "max_abs_diff_normalised": float(d.max_normalised) if d.finite else None,
                "skill_change": float(skill_change) if skill_change is not None and np.isfinite(skill_change) else None,
                "skill_rmse": float(rmse) if rmse is not None and np.isfinite(rmse) else None,
                "ms_per_batch": round(ms, 3), "ms_per_batch_fp32": round(ms_fp32, 3),
                "rollout": rolled.as_dict() if rolled is not None else None}
    if keep:
        return Variant(name, precision, measured), True
    path.unlink(missing_ok=True)
    return DroppedVariant(precision, why_not, measured), False
