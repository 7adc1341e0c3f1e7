"""The bundle's ``manifest.json``: format version, required keys, channel descriptions.

A bundle (see :mod:`sowcast.bundle`) is one folder; ``manifest.json`` describes it::

    format                  "sowcast-bundle-1" (the reader refuses another major version)
    created                 UTC time of the export, ISO 8601
    sowcast_version         the exporting sowcast
    software                {torch, onnx, onnxruntime, onnxscript, numpy, xarray, python}
    model                   {file, data_file (null unless the weights are in model.onnx.data),
                             inputs/outputs [{name, shape ("batch" for the dynamic dim), dtype}],
                             opset, n_parameters, hyperparameters, graph {...},
                             variants [{file, precision, max_abs_diff, max_abs_diff_normalised,
                                        skill_change}], dropped_variants [{precision, reason}]}
    channels                [{name, variable, level, units, standard_name}] in model order
    forcing_names, static_names, n_input_steps
    time_step               ISO 8601 duration ("P1D")
    grid                    {lat: [...], lon: [...], kind: "regional" | "global"}
    precipitation_accumulation
    provenance              {checkpoint, step, run_dir, data_store, train_range, ...}
    parity                  {max_abs_diff_random, max_abs_diff_real, tolerance, ...}
    files                   {name: {sha256, bytes, role}} for every file but manifest.json

Torch-free: the edge reads this.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from sowcast.errors import SowcastError

FORMAT_PREFIX = "sowcast-bundle-"
FORMAT_MAJOR = 1
FORMAT = f"{FORMAT_PREFIX}{FORMAT_MAJOR}"

MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.onnx"
MODEL_DATA_FILE = "model.onnx.data"
STATIC_FILE = "static.nc"
STATISTICS_FILE = "statistics.nc"
CLIMATOLOGY_FILE = "climatology.nc"

# The role of each file in ``files``; the reader looks files up by role.
ROLES = ("model", "model_data", "model_variant", "static", "statistics", "climatology", "other")
PRECISIONS = ("fp32", "fp16", "int8")

INPUT_NAMES = ("inputs", "forcings", "static")
OUTPUT_NAME = "next_state"
BATCH_DIM = "batch"

STATISTICS_KEYS = ("mean", "std", "diff_mean", "diff_std", "min", "max")
REQUIRED_STATISTICS = ("mean", "std", "diff_mean", "diff_std")

REQUIRED_KEYS = ("format", "created", "sowcast_version", "model", "channels", "forcing_names",
                 "static_names", "n_input_steps", "time_step", "grid", "files")
_FORMAT_RE = re.compile(r"^sowcast-bundle-(\d+)(?:\.(\d+))?$")


def variant_file(precision: str) -> str:
    """File name of a model variant: ``model_int8.onnx``."""
    return f"model_{precision}.onnx"


def format_major(fmt: Any) -> int:
    """Major version of a manifest ``format`` string; :class:`SowcastError` unless supported."""
    m = _FORMAT_RE.match(str(fmt)) if isinstance(fmt, str) else None
    if m is None or int(m.group(1)) != FORMAT_MAJOR:
        raise SowcastError(f"{MANIFEST_FILE}: format {fmt} is not supported (this sowcast reads {FORMAT})")
    return int(m.group(1))


def check_file_name(name: Any, what: str = MANIFEST_FILE) -> str:
    """A plain relative file name inside the bundle (no folder, no ``..``, not the manifest)."""
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name \
            or "\x00" in name or PurePosixPath(name).is_absolute():
        raise SowcastError(f"{what}: file name {name!r} is not a plain file name inside the bundle")
    if name == MANIFEST_FILE:
        raise SowcastError(f"{what}: {MANIFEST_FILE} cannot list itself")
    return name


def parse_manifest(data: bytes) -> dict[str, Any]:
    """The manifest dict from the bytes of ``manifest.json``, checked for shape and format."""
    try:
        manifest = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise SowcastError(f"{MANIFEST_FILE}: not UTF-8 text (bundle corrupt)") from None
    except ValueError as exc:
        raise SowcastError(f"{MANIFEST_FILE}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise SowcastError(f"{MANIFEST_FILE}: not a JSON object")
    if "format" not in manifest:
        raise SowcastError(f"{MANIFEST_FILE}: no 'format' key (not a sowcast bundle)")
    format_major(manifest["format"])
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise SowcastError(f"{MANIFEST_FILE}: missing key(s) {', '.join(missing)}")
    files = manifest["files"]
    if not isinstance(files, dict):
        raise SowcastError(f"{MANIFEST_FILE}: 'files' is not an object")
    for name, entry in files.items():
        check_file_name(name)
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str) \
                or not isinstance(entry.get("bytes"), int) or entry.get("role") not in ROLES:
            raise SowcastError(f"{MANIFEST_FILE}: entry of {name} needs sha256, bytes and a role in {', '.join(ROLES)}")
    model = manifest["model"]
    if not isinstance(model, dict) or model.get("file") not in files:
        raise SowcastError(f"{MANIFEST_FILE}: model.file is not one of the listed files")
    for key in ("channels", "forcing_names", "static_names"):
        if not isinstance(manifest[key], list):
            raise SowcastError(f"{MANIFEST_FILE}: {key} is not a list")
    grid = manifest["grid"]
    if not isinstance(grid, dict) or not isinstance(grid.get("lat"), list) or not isinstance(grid.get("lon"), list):
        raise SowcastError(f"{MANIFEST_FILE}: grid needs lat and lon lists")
    return manifest


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """The bytes written as ``manifest.json`` (indented JSON, trailing newline)."""
    return (json.dumps(manifest, indent=1, allow_nan=False, default=_json_default) + "\n").encode("utf-8")


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def channel_info(name: str) -> dict[str, Any]:
    """``{name, variable, level, units, standard_name}`` of a channel name such as
    ``temperature_850`` or ``2m_temperature`` (units and standard name from the schema)."""
    from sowcast.data.schema import CANONICAL_VARIABLES

    variable, level = name, None
    if name not in CANONICAL_VARIABLES and "_" in name:
        base, _, suffix = name.rpartition("_")
        var = CANONICAL_VARIABLES.get(base)
        if var is not None and var.has_level:
            try:
                value = float(suffix)
            except ValueError:
                value = None
            if value is not None:
                variable, level = base, (int(value) if value.is_integer() else value)
    var = CANONICAL_VARIABLES.get(variable)
    return {"name": name, "variable": variable, "level": level,
            "units": var.units if var else None, "standard_name": var.standard_name if var else None}


def channel_names(manifest: Mapping[str, Any]) -> list[str]:
    """The channel names of a manifest, in model order."""
    out = []
    for c in manifest["channels"]:
        name = c.get("name") if isinstance(c, dict) else c
        if not isinstance(name, str):
            raise SowcastError(f"{MANIFEST_FILE}: channel entry {c!r} has no name")
        out.append(name)
    return out
