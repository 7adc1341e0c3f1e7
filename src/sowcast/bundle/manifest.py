"""The bundle's ``manifest.json``: its checksum, format version, and strict field checks.

A bundle (see :mod:`sowcast.bundle`) is one folder; ``manifest.json`` describes it::

    manifest_sha256         the manifest's own checksum (first line, see below)
    format                  "sowcast-bundle-1" (the reader refuses another major version)
    created                 UTC time of the export, ISO 8601
    sowcast_version         the exporting sowcast
    software                {torch, onnx, onnxruntime, onnxscript, numpy, xarray, python}
    model                   {file, data_file (null unless the weights are in model.onnx.data),
                             inputs/outputs [{name, shape ("batch" for the dynamic dim), dtype}],
                             noise (null, or absent, for a deterministic model; see below),
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

A stochastic model (trained with ``model.noise_channels > 0``) takes a fourth input, fresh
standard normal noise per member and step; ``model.noise`` says so, with exactly the keys::

    {"input": "noise", "nodes": M, "channels": K, "distribution": "standard_normal"}

the input ``noise [batch, M, K]`` float32 (M rows: one per mesh node, and one per grid node
too when ``model.hyperparameters.grid_noise`` is true; K channels). The edge draws it from
the member's seed (:mod:`sowcast.forecast.model_noise`). Where the manifest also lists
``model.inputs``, ``model.hyperparameters.noise_channels`` or ``model.graph.n_mesh`` (and
``n_grid``), they must agree with it (a deterministic model: no noise input, noise_channels 0).

The checksums in ``files`` cover every other file; the manifest covers itself: its first
line is ``{"manifest_sha256": "<64 hex>",`` and the hex is the sha256 of the file's bytes
with that first line replaced by ``{``. So every byte is covered (a one-bit flip anywhere
is refused before the JSON is read), and the file stays plain JSON. Write manifests with
:func:`manifest_bytes`; a hand edit is refused (``manifest.json: checksum mismatch``).

:func:`parse_manifest` then checks every field the edge acts on (channels and their units,
time step, grid, files and roles); each failure is one line. Torch-free: the edge reads this.

The typed contract: :class:`Manifest` (with :class:`ModelEntry`, :class:`Channel`,
:class:`GridEntry`, :class:`FileEntry`, ...) is the one definition of these keys, for both
sides. The exporter builds a ``Manifest`` and writes :meth:`Manifest.to_bytes`; the reader
gets one from :meth:`Manifest.from_bytes` (``Bundle.typed_manifest``), so a missing key or a
value of the wrong type is one line naming the key (``manifest.json: missing key
model.graph.n_mesh``, ``manifest.json: model.opset must be a whole number or null, not '18'``).
:attr:`Manifest.format_version` is ``(major, minor)`` of ``format``; a reader takes any minor
version of its major one and ignores keys it does not know (kept in :attr:`Manifest.extra`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import Any

from sowcast.errors import SowcastError

FORMAT_PREFIX = "sowcast-bundle-"
FORMAT_MAJOR = 1
FORMAT = f"{FORMAT_PREFIX}{FORMAT_MAJOR}"

MANIFEST_FILE = "manifest.json"
SIGNATURE_FILE = "manifest.sig"     # optional Ed25519 signature of manifest.json (signature.py), never listed
CHECKSUM_KEY = "manifest_sha256"
MODEL_FILE = "model.onnx"
MODEL_DATA_FILE = "model.onnx.data"
STATIC_FILE = "static.nc"
STATISTICS_FILE = "statistics.nc"
CLIMATOLOGY_FILE = "climatology.nc"
CALIBRATION_FILE = "calibration.nc"
SCORECARD_FILE = "scorecard.csv"            # 'sowcast verify' scores.csv of held-out reforecasts of this model
SCORECARD_SUMMARY_FILE = "scorecard.json"   # and its summary.json (years, members, held out)

# The role of each file in ``files``; the reader looks files up by role.
ROLES = ("model", "model_data", "model_variant", "static", "statistics", "climatology", "calibration",
         "scorecard", "scorecard_summary", "other")
ONE_PER_BUNDLE = ("model", "static", "statistics")                 # exactly one each
AT_MOST_ONE = ("model_data", "climatology", "calibration", "scorecard", "scorecard_summary")   # zero or one each
DEFAULT_NAMES = {"climatology": CLIMATOLOGY_FILE, "calibration": CALIBRATION_FILE, "scorecard": SCORECARD_FILE,
                 "scorecard_summary": SCORECARD_SUMMARY_FILE}
PRECISIONS = ("fp32", "fp16", "int8")
GRID_KINDS = ("regional", "global")

INPUT_NAMES = ("inputs", "forcings", "static")
NOISE_NAME = "noise"            # the fourth input of a stochastic model
NOISE_DISTRIBUTION = "standard_normal"
NOISE_KEYS = ("input", "nodes", "channels", "distribution")
OUTPUT_NAME = "next_state"
BATCH_DIM = "batch"

STATISTICS_KEYS = ("mean", "std", "diff_mean", "diff_std", "min", "max")
REQUIRED_STATISTICS = ("mean", "std", "diff_mean", "diff_std")

REQUIRED_KEYS = ("format", "created", "sowcast_version", "model", "channels", "forcing_names",
                 "static_names", "n_input_steps", "time_step", "grid", "files")
_FORMAT_RE = re.compile(r"^sowcast-bundle-(\d+)(?:\.(\d+))?$")
_CHECKSUM_LINE = re.compile(rb'\A\{"' + CHECKSUM_KEY.encode() + rb'": "([0-9a-f]{64})",\n')
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def input_names(stochastic: bool) -> tuple[str, ...]:
    """The model's input names in order: :data:`INPUT_NAMES`, then ``noise`` if stochastic."""
    return INPUT_NAMES + ((NOISE_NAME,) if stochastic else ())


def noise_entry(nodes: int, channels: int) -> dict[str, Any]:
    """``model.noise`` of a stochastic model: input ``noise [batch, nodes, channels]``."""
    return NoiseInput(nodes=int(nodes), channels=int(channels)).to_json()


def model_noise(manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    """The checked ``model.noise`` entry of a manifest, or None for a deterministic model."""
    model = manifest.get("model")
    return _check_noise(model) if isinstance(model, Mapping) else None


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
    if name == SIGNATURE_FILE:
        raise SowcastError(f"{what}: {SIGNATURE_FILE} signs the manifest; the manifest cannot list it")
    return name


# -- the manifest's own checksum -----------------------------------------------------------
def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """The bytes written as ``manifest.json``: indented JSON whose first line holds the sha256
    of the rest (module doc). An old ``manifest_sha256`` in ``manifest`` is replaced."""
    body = {k: v for k, v in manifest.items() if k != CHECKSUM_KEY}
    text = (json.dumps(body, indent=1, allow_nan=False, default=_json_default) + "\n").encode("utf-8")
    if not text.startswith(b"{\n"):
        raise SowcastError(f"{MANIFEST_FILE}: an empty manifest cannot be written")
    digest = hashlib.sha256(text).hexdigest()
    return b'{"' + CHECKSUM_KEY.encode() + b'": "' + digest.encode() + b'",' + text[1:]


def checked_body(data: bytes) -> bytes:
    """The manifest bytes that the first line's checksum covers, once they match it.
    Checked before the JSON is read, so no damaged byte reaches the parser."""
    m = _CHECKSUM_LINE.match(data)
    if m is None:
        raise SowcastError(f"{MANIFEST_FILE}: no {CHECKSUM_KEY} on its first line "
                           "(written by an older sowcast, edited by hand, or corrupt); export the bundle again")
    body = b"{" + data[m.end() - 1:]
    if hashlib.sha256(body).hexdigest() != m.group(1).decode():
        raise SowcastError(f"{MANIFEST_FILE}: checksum mismatch (bundle tampered or corrupt)")
    return body


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


# -- reading and checking ----------------------------------------------------------------------
def parse_manifest(data: bytes) -> dict[str, Any]:
    """The manifest dict from the bytes of ``manifest.json``: its checksum first, then the
    JSON, the format, every field the edge acts on (:func:`check_manifest`) and the type of
    every key (:class:`Manifest`)."""
    manifest = manifest_json(data)
    Manifest.from_json(manifest)
    return manifest


def manifest_json(data: bytes) -> dict[str, Any]:
    """The JSON object of ``manifest.json``'s bytes, once its own checksum matches (its fields
    unchecked: :meth:`Manifest.from_json` checks them)."""
    body = checked_body(data)
    try:
        manifest = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise SowcastError(f"{MANIFEST_FILE}: not UTF-8 text (bundle corrupt)") from None
    except ValueError as exc:
        raise SowcastError(f"{MANIFEST_FILE}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise SowcastError(f"{MANIFEST_FILE}: not a JSON object")
    return manifest


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def check_manifest(manifest: Mapping[str, Any]) -> None:
    """Refuse, with one line, a manifest whose fields the edge would misread: the reason is
    that a wrong time step, unit or grid gives a wrong forecast rather than an error."""
    if "format" not in manifest:
        raise SowcastError(f"{MANIFEST_FILE}: no 'format' key (not a sowcast bundle)")
    format_major(manifest["format"])
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise SowcastError(f"{MANIFEST_FILE}: missing key(s) {', '.join(missing)}")
    for key in ("created", "sowcast_version"):
        if not isinstance(manifest[key], str):
            raise SowcastError(f"{MANIFEST_FILE}: {key} is not a string")
    _check_files(manifest["files"])
    _check_model(manifest["model"], manifest["files"])
    _check_channels(manifest["channels"])
    _check_names(manifest, "forcing_names", known=_forcing_names())
    _check_names(manifest, "static_names")
    n = manifest["n_input_steps"]
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise SowcastError(f"{MANIFEST_FILE}: n_input_steps must be a whole number of at least 1, not {n!r}")
    check_time_step(manifest["time_step"])
    check_grid(manifest["grid"])
    if "precipitation_accumulation" in manifest:
        from sowcast.data.schema import PRECIPITATION_ACCUMULATION

        if manifest["precipitation_accumulation"] != PRECIPITATION_ACCUMULATION:
            raise SowcastError(f"{MANIFEST_FILE}: precipitation_accumulation "
                               f"{manifest['precipitation_accumulation']!r} is not {PRECIPITATION_ACCUMULATION!r}")


def _check_files(files: Any) -> None:
    if not isinstance(files, dict):
        raise SowcastError(f"{MANIFEST_FILE}: 'files' is not an object")
    counts = dict.fromkeys(ROLES, 0)
    for name, entry in files.items():
        check_file_name(name)
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str) \
                or not isinstance(entry.get("bytes"), int) or entry.get("role") not in ROLES:
            raise SowcastError(f"{MANIFEST_FILE}: entry of {name} needs sha256, bytes and a role in {', '.join(ROLES)}")
        if not _SHA256_RE.match(entry["sha256"]):
            raise SowcastError(f"{MANIFEST_FILE}: sha256 of {name} is not 64 lowercase hex digits")
        if isinstance(entry["bytes"], bool) or entry["bytes"] < 0:
            raise SowcastError(f"{MANIFEST_FILE}: bytes of {name} is not a size")
        counts[entry["role"]] += 1
    for role in ONE_PER_BUNDLE:
        if counts[role] != 1:
            raise SowcastError(f"{MANIFEST_FILE}: lists {counts[role]} {role} files, expected one")
    for role in AT_MOST_ONE:
        if counts[role] > 1:
            raise SowcastError(f"{MANIFEST_FILE}: lists {counts[role]} {role} files, at most one is allowed")


def _check_model(model: Any, files: Mapping[str, Mapping[str, Any]]) -> None:
    if not isinstance(model, dict) or model.get("file") not in files:
        raise SowcastError(f"{MANIFEST_FILE}: model.file is not one of the listed files")
    if files[model["file"]]["role"] != "model":
        raise SowcastError(f"{model['file']}: listed with role {files[model['file']]['role']!r}, not 'model'")
    data_file = model.get("data_file")
    listed_data = [n for n, e in files.items() if e["role"] == "model_data"]
    if data_file is not None and data_file not in files:
        raise SowcastError(f"{data_file}: missing (model.data_file is not listed in {MANIFEST_FILE})")
    if listed_data != ([data_file] if data_file is not None else []):
        raise SowcastError(f"{MANIFEST_FILE}: model.data_file {data_file!r} disagrees with the model_data file(s) "
                           f"listed ({', '.join(listed_data) or 'none'})")
    variants = model.get("variants", [])
    if variants is None:
        variants = []
    if not isinstance(variants, list):
        raise SowcastError(f"{MANIFEST_FILE}: model.variants is not a list")
    seen: list[str] = []
    for v in variants:
        if not isinstance(v, dict) or v.get("file") not in files or files[v["file"]]["role"] != "model_variant":
            raise SowcastError(f"{MANIFEST_FILE}: model variant {v!r} names no listed model_variant file")
        if v.get("precision") not in PRECISIONS[1:] or v["precision"] in seen:
            raise SowcastError(f"{MANIFEST_FILE}: model variant {v['file']} has precision {v.get('precision')!r}; "
                               f"each of {', '.join(PRECISIONS[1:])} at most once")
        seen.append(v["precision"])
    named = {v["file"] for v in variants}
    for name, entry in files.items():
        if entry["role"] == "model_variant" and name not in named:
            raise SowcastError(f"{name}: listed as a model_variant but not in model.variants")
    _check_noise(model)


def _whole(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _check_noise(model: Mapping[str, Any]) -> dict[str, Any] | None:
    """``model.noise`` (module doc): null/absent, or exactly its four keys with sound values,
    agreeing with ``model.inputs``, ``hyperparameters.noise_channels`` and ``graph.n_mesh``."""
    noise = model.get("noise")
    what = f"{MANIFEST_FILE}: model.noise"
    if noise is not None:
        if not isinstance(noise, dict):
            raise SowcastError(f"{what} must be null or {{{', '.join(NOISE_KEYS)}}}, not {noise!r}")
        unknown, missing = sorted(set(noise) - set(NOISE_KEYS)), [k for k in NOISE_KEYS if k not in noise]
        if unknown or missing:
            raise SowcastError(f"{what} has unknown key(s) {', '.join(unknown) or 'none'} and lacks "
                               f"{', '.join(missing) or 'none'}; it needs exactly {', '.join(NOISE_KEYS)}")
        if noise["input"] != NOISE_NAME:
            raise SowcastError(f"{what}.input is {noise['input']!r}, not {NOISE_NAME!r}")
        if noise["distribution"] != NOISE_DISTRIBUTION:
            raise SowcastError(f"{what}.distribution {noise['distribution']!r} is not {NOISE_DISTRIBUTION!r} "
                               "(the only one this sowcast draws)")
        for key in ("nodes", "channels"):
            if not _whole(noise[key], 1):
                raise SowcastError(f"{what}.{key} must be a whole number of at least 1, not {noise[key]!r}")
    channels = 0 if noise is None else noise["channels"]
    hyper = model.get("hyperparameters")
    if isinstance(hyper, Mapping) and hyper.get("noise_channels", 0) != channels:
        raise SowcastError(f"{what} ({'null: a deterministic model' if noise is None else f'{channels} channels'}) "
                           f"disagrees with model.hyperparameters.noise_channels {hyper.get('noise_channels')!r}")
    graph = model.get("graph")
    grid_noise = isinstance(hyper, Mapping) and hyper.get("grid_noise", False) is True
    if noise is not None and isinstance(graph, Mapping) and "n_mesh" in graph:
        rows = graph["n_mesh"] + graph.get("n_grid", 0) if grid_noise else graph["n_mesh"]
        if rows != noise["nodes"]:
            raise SowcastError(f"{what}.nodes {noise['nodes']} is not model.graph.n_mesh {graph['n_mesh']!r}"
                               + (f" + n_grid {graph.get('n_grid')!r} (grid_noise)" if grid_noise else ""))
    inputs = model.get("inputs")
    if inputs is not None:
        names = [i.get("name") if isinstance(i, dict) else i for i in inputs] if isinstance(inputs, list) else inputs
        want = list(input_names(noise is not None))
        if names != want:
            raise SowcastError(f"{MANIFEST_FILE}: model.inputs {names!r} are not {want} "
                               f"({'a stochastic' if noise is not None else 'a deterministic'} model, see model.noise)")
        if noise is not None:
            shape = inputs[-1].get("shape") if isinstance(inputs[-1], dict) else None
            if shape is not None and shape != [BATCH_DIM, noise["nodes"], noise["channels"]]:
                raise SowcastError(f"{MANIFEST_FILE}: model.inputs gives noise the shape {shape!r}, model.noise says "
                                   f"{[BATCH_DIM, noise['nodes'], noise['channels']]}")
    return noise


def _check_channels(channels: Any) -> None:
    from sowcast.data.schema import CANONICAL_VARIABLES

    if not isinstance(channels, list) or not channels:
        raise SowcastError(f"{MANIFEST_FILE}: channels must be a non-empty list")
    seen: set[str] = set()
    for c in channels:
        name = c.get("name") if isinstance(c, dict) else None
        if not isinstance(name, str) or not name:
            raise SowcastError(f"{MANIFEST_FILE}: channel entry {c!r} has no name")
        if name in seen:
            raise SowcastError(f"{MANIFEST_FILE}: channel {name} is listed twice")
        seen.add(name)
        want = channel_info(name)
        if want["variable"] not in CANONICAL_VARIABLES:
            raise SowcastError(f"{MANIFEST_FILE}: channel {name} is not a known variable (no units for it)")
        for key in ("variable", "level", "units", "standard_name"):
            if c.get(key) != want[key]:
                raise SowcastError(f"{MANIFEST_FILE}: channel {name} has {key} {c.get(key)!r}, "
                                   f"this sowcast knows it as {want[key]!r}")


def _forcing_names() -> tuple[str, ...]:
    from sowcast.data.forcings import FORCING_NAMES

    return FORCING_NAMES


def _check_names(manifest: Mapping[str, Any], key: str, known: tuple[str, ...] | None = None) -> None:
    names = manifest[key]
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise SowcastError(f"{MANIFEST_FILE}: {key} must be a list of names")
    if len(set(names)) != len(names):
        raise SowcastError(f"{MANIFEST_FILE}: {key} lists a name twice")
    for n in names:
        if known is not None and n not in known:
            raise SowcastError(f"{MANIFEST_FILE}: {key} holds {n!r}, not one of {', '.join(known)}")


def check_time_step(text: Any) -> Any:
    """The manifest's ``time_step`` as a positive ``pd.Timedelta`` (in the form the exporter writes)."""
    import pandas as pd

    from sowcast.data.schema import time_step_iso

    try:
        step = pd.Timedelta(text) if isinstance(text, str) else None
    except (TypeError, ValueError):
        step = None
    if step is None or step <= pd.Timedelta(0) or time_step_iso(step) != text:
        raise SowcastError(f"{MANIFEST_FILE}: time_step {text!r} is not a positive ISO 8601 duration such as P1D or PT6H")
    return step


def _coordinate(grid: Mapping[str, Any], key: str, low: float, high: float) -> list[float]:
    values = grid.get(key)
    if not isinstance(values, list) or not values \
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        raise SowcastError(f"{MANIFEST_FILE}: grid.{key} must be a non-empty list of numbers")
    steps = [b - a for a, b in zip(values, values[1:])]
    if any(s <= 0 for s in steps) or (steps and max(steps) - min(steps) > 1e-6) \
            or not (low <= values[0] and values[-1] <= high):
        raise SowcastError(f"{MANIFEST_FILE}: grid.{key} is not evenly spaced and ascending within [{low:g}, {high:g}]")
    return values


def check_grid(grid: Any) -> None:
    """lat/lon regular and ascending in range; ``kind`` one of :data:`GRID_KINDS`, and
    ``global`` for a grid that wraps in longitude and reaches both poles (the graph was
    built for that kind). TODO: refuse ``global`` on a regional grid too, once
    tests/forecast/forecast_helpers.py stops labelling its regional grids global."""
    import numpy as np

    from sowcast.data.grid import Grid

    if not isinstance(grid, dict):
        raise SowcastError(f"{MANIFEST_FILE}: grid needs lat and lon lists")
    lat = _coordinate(grid, "lat", -90.0, 90.0)
    lon = _coordinate(grid, "lon", -180.0, 180.0)
    if lon[-1] >= 180.0:
        raise SowcastError(f"{MANIFEST_FILE}: grid.lon must lie in [-180, 180)")
    kind = grid.get("kind")
    if kind not in GRID_KINDS:
        raise SowcastError(f"{MANIFEST_FILE}: grid.kind {kind!r} is not one of {', '.join(GRID_KINDS)}")
    g = Grid(lat=np.asarray(lat, np.float64), lon=np.asarray(lon, np.float64))
    if kind == "regional" and _is_global_grid(g):
        raise SowcastError(f"{MANIFEST_FILE}: grid.kind is 'regional' but the grid ({len(lat)} x {len(lon)}, "
                           f"lat {lat[0]:g}..{lat[-1]:g}, lon {lon[0]:g}..{lon[-1]:g}) is global")


def _is_global_grid(grid: Any) -> bool:
    """As :func:`sowcast.graph.build.is_global_grid` (which the graph kind comes from)."""
    if not grid.is_global or len(grid.lat) < 2:
        return False
    half = abs(grid.resolution) / 2.0
    return bool(grid.lat.min() - half <= -90.0 + 1e-6 and grid.lat.max() + half >= 90.0 - 1e-6)


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


# -- the typed contract ------------------------------------------------------------------------
# The frozen dataclasses below are manifest.json as the writer builds it (sowcast.export) and
# as the reader gets it (Manifest.from_bytes): one definition of every key, its type and its
# place in the file. to_json() gives the keys in the order the exporter has always written
# them, so the same inputs give the same bytes (and the same signature) as before the types.
# Records for people (software, provenance, parity, hyperparameters, a variant's measurements)
# are typed as JSON objects, not field by field: the edge never acts on them, and an older
# bundle whose record lacks a newer entry still opens.
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "str": (lambda v: isinstance(v, str), "a string"),
    "int": (_is_int, "a whole number"),
    "list": (lambda v: isinstance(v, list), "a list"),
    "object": (lambda v: isinstance(v, dict), "an object"),
}


def _field(obj: Mapping[str, Any], key: str, where: str, kind: str, required: bool = True,
           nullable: bool = False) -> Any:
    """``obj[key]`` if it is of ``kind`` (a key of ``_KINDS``), None if absent and not
    ``required`` (or null and ``nullable``); else one line that names the key by its path,
    e.g. ``manifest.json: model.opset must be a whole number, not '18'``."""
    path = f"{where}{key}"
    if key not in obj:
        if required:
            raise SowcastError(f"{MANIFEST_FILE}: missing key {path}")
        return None
    value = obj[key]
    if value is None and nullable:
        return None
    test, words = _KINDS[kind]
    if not test(value):
        raise SowcastError(f"{MANIFEST_FILE}: {path} must be {words}{' or null' if nullable else ''}, "
                           f"not {value!r:.60}")
    return value


def _object(value: Any, path: str, keys: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise SowcastError(f"{MANIFEST_FILE}: {path} must be an object {{{keys}}}, not {value!r:.60}")
    return value


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of the ONNX model: ``{name, shape, dtype}`` (``"batch"``: the dynamic dim)."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str

    @classmethod
    def from_json(cls, value: Any, path: str) -> TensorSpec:
        obj = _object(value, path, "name, shape, dtype")
        shape = _field(obj, "shape", f"{path}.", "list")
        if not all(_is_int(d) or isinstance(d, str) for d in shape):
            raise SowcastError(f"{MANIFEST_FILE}: {path}.shape must list whole numbers and dim names, not {shape!r:.60}")
        return cls(_field(obj, "name", f"{path}.", "str"), tuple(shape), _field(obj, "dtype", f"{path}.", "str"))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


@dataclass(frozen=True)
class NoiseInput:
    """``model.noise`` of a stochastic model (module doc): input ``noise [batch, nodes, channels]``."""

    nodes: int
    channels: int
    input: str = NOISE_NAME
    distribution: str = NOISE_DISTRIBUTION

    def to_json(self) -> dict[str, Any]:
        return {"input": self.input, "nodes": self.nodes, "channels": self.channels, "distribution": self.distribution}


@dataclass(frozen=True)
class GraphEntry:
    """``model.graph``: the graph the model was exported with (:mod:`sowcast.graph`). The reader
    acts on ``n_mesh`` and ``n_grid`` (the noise rows); the rest says how to rebuild it."""

    n_grid: int
    n_mesh: int
    kind: str | None = None
    mesh_level: int | None = None
    settings: dict[str, Any] | None = None
    cache_key: str | None = None
    digest: str | None = None

    @classmethod
    def from_json(cls, value: Any, path: str = "model.graph") -> GraphEntry:
        obj, where = _object(value, path, "kind, n_grid, n_mesh, ..."), f"{path}."
        return cls(n_grid=_field(obj, "n_grid", where, "int"), n_mesh=_field(obj, "n_mesh", where, "int"),
                   kind=_field(obj, "kind", where, "str", False, True),
                   mesh_level=_field(obj, "mesh_level", where, "int", False, True),
                   settings=_field(obj, "settings", where, "object", False, True),
                   cache_key=_field(obj, "cache_key", where, "str", False, True),
                   digest=_field(obj, "digest", where, "str", False, True))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "n_grid": self.n_grid, "n_mesh": self.n_mesh, "mesh_level": self.mesh_level,
                "settings": self.settings, "cache_key": self.cache_key, "digest": self.digest}


@dataclass(frozen=True)
class Variant:
    """A kept model variant: its file, its precision and what the export measured of it."""

    file: str
    precision: str
    measured: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "precision": self.precision, **self.measured}


@dataclass(frozen=True)
class DroppedVariant:
    """A variant the export judged and dropped: why, and what it measured (empty when the
    variant could not even be made)."""

    precision: str
    reason: str
    measured: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, value: Any, path: str) -> DroppedVariant:
        obj = _object(value, path, "precision, reason, ...")
        return cls(_field(obj, "precision", f"{path}.", "str"), _field(obj, "reason", f"{path}.", "str"),
                   {k: v for k, v in obj.items() if k not in ("precision", "reason")})

    def to_json(self) -> dict[str, Any]:
        return {"precision": self.precision, "reason": self.reason, **self.measured}


@dataclass(frozen=True)
class ModelEntry:
    """``model``: the ONNX file (and its weights file), its inputs and outputs, noise, variants."""

    file: str
    data_file: str | None = None
    inputs: tuple[TensorSpec, ...] | None = None
    outputs: tuple[TensorSpec, ...] | None = None
    noise: NoiseInput | None = None
    units: str | None = None
    opset: int | None = None
    n_parameters: int | None = None
    hyperparameters: dict[str, Any] | None = None
    graph: GraphEntry | None = None
    ms_per_batch: dict[str, Any] | None = None
    variants: tuple[Variant, ...] = ()
    dropped_variants: tuple[DroppedVariant, ...] = ()

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> ModelEntry:
        """From ``model`` once :func:`check_manifest` has passed it (files, variants, noise)."""
        where = "model."

        def specs(key: str) -> tuple[TensorSpec, ...] | None:
            values = _field(obj, key, where, "list", False, True)
            return None if values is None else tuple(TensorSpec.from_json(v, f"model.{key}[{i}]")
                                                     for i, v in enumerate(values))

        noise = _check_noise(obj)
        graph = _field(obj, "graph", where, "object", False, True)
        dropped = _field(obj, "dropped_variants", where, "list", False, True) or []
        return cls(
            file=_field(obj, "file", where, "str"), data_file=_field(obj, "data_file", where, "str", False, True),
            inputs=specs("inputs"), outputs=specs("outputs"),
            noise=None if noise is None else NoiseInput(nodes=noise["nodes"], channels=noise["channels"]),
            units=_field(obj, "units", where, "str", False, True), opset=_field(obj, "opset", where, "int", False, True),
            n_parameters=_field(obj, "n_parameters", where, "int", False, True),
            hyperparameters=_field(obj, "hyperparameters", where, "object", False, True),
            graph=None if graph is None else GraphEntry.from_json(graph),
            ms_per_batch=_field(obj, "ms_per_batch", where, "object", False, True),
            variants=tuple(Variant(v["file"], v["precision"], {k: x for k, x in v.items() if k not in ("file", "precision")})
                           for v in obj.get("variants") or []),
            dropped_variants=tuple(DroppedVariant.from_json(v, f"model.dropped_variants[{i}]")
                                   for i, v in enumerate(dropped)))

    def to_json(self) -> dict[str, Any]:
        def specs(values: tuple[TensorSpec, ...] | None) -> list[dict[str, Any]] | None:
            return None if values is None else [v.to_json() for v in values]

        return {"file": self.file, "data_file": self.data_file, "inputs": specs(self.inputs),
                "outputs": specs(self.outputs), "noise": None if self.noise is None else self.noise.to_json(),
                "units": self.units, "opset": self.opset, "n_parameters": self.n_parameters,
                "hyperparameters": self.hyperparameters,
                "graph": None if self.graph is None else self.graph.to_json(), "ms_per_batch": self.ms_per_batch,
                "variants": [v.to_json() for v in self.variants],
                "dropped_variants": [v.to_json() for v in self.dropped_variants]}


@dataclass(frozen=True)
class Channel:
    """One channel in model order, with the units the schema gives it (:func:`channel_info`)."""

    name: str
    variable: str
    level: int | float | None
    units: str | None
    standard_name: str | None

    @classmethod
    def of(cls, name: str) -> Channel:
        """The channel called ``name`` (``temperature_850``), as this sowcast knows it."""
        return cls(**channel_info(name))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "variable": self.variable, "level": self.level, "units": self.units,
                "standard_name": self.standard_name}


@dataclass(frozen=True)
class GridEntry:
    """``grid``: ascending, evenly spaced ``lat`` and ``lon`` (degrees) and the graph's ``kind``."""

    lat: tuple[float, ...]
    lon: tuple[float, ...]
    kind: str

    def to_json(self) -> dict[str, Any]:
        return {"lat": list(self.lat), "lon": list(self.lon), "kind": self.kind}


@dataclass(frozen=True)
class FileEntry:
    """One listed file: its sha256, size in bytes and role (:data:`ROLES`)."""

    sha256: str
    bytes: int
    role: str

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "bytes": self.bytes, "role": self.role}


# Top-level keys in the order they are written; later keys (add_file_to_bundle's manifest_update)
# follow ``files`` in Manifest.extra.
MANIFEST_KEYS = ("format", "created", "sowcast_version", "software", "model", "channels", "forcing_names",
                 "static_names", "n_input_steps", "time_step", "grid", "precipitation_accumulation",
                 "provenance", "parity", "files")


@dataclass(frozen=True)
class Manifest:
    """``manifest.json`` (module doc), typed. ``software``, ``precipitation_accumulation``,
    ``provenance`` and ``parity`` may be absent (None: left out by :meth:`to_json`)."""

    created: str
    sowcast_version: str
    model: ModelEntry
    channels: tuple[Channel, ...]
    forcing_names: tuple[str, ...]
    static_names: tuple[str, ...]
    n_input_steps: int
    time_step: str
    grid: GridEntry
    files: dict[str, FileEntry] = field(default_factory=dict)
    format: str = FORMAT
    software: dict[str, Any] | None = None
    precipitation_accumulation: str | None = None
    provenance: dict[str, Any] | None = None
    parity: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def format_version(self) -> tuple[int, int]:
        """``(major, minor)`` of :attr:`format` (``sowcast-bundle-1`` is ``(1, 0)``)."""
        m = _FORMAT_RE.match(self.format)
        if m is None:
            raise SowcastError(f"{MANIFEST_FILE}: format {self.format} is not supported (this sowcast reads {FORMAT})")
        return int(m.group(1)), int(m.group(2) or 0)

    @property
    def channel_names(self) -> list[str]:
        return [c.name for c in self.channels]

    @classmethod
    def from_json(cls, manifest: Any) -> Manifest:
        """The typed manifest of a parsed ``manifest.json``: :func:`check_manifest` first (each
        field the edge acts on), then the type of every other key; each failure is one line."""
        if not isinstance(manifest, dict):
            raise SowcastError(f"{MANIFEST_FILE}: not a JSON object")
        check_manifest(manifest)
        grid = manifest["grid"]
        return cls(
            format=manifest["format"], created=manifest["created"], sowcast_version=manifest["sowcast_version"],
            software=_field(manifest, "software", "", "object", False, True),
            model=ModelEntry.from_json(manifest["model"]),
            channels=tuple(Channel(c["name"], c.get("variable"), c.get("level"), c.get("units"), c.get("standard_name"))
                           for c in manifest["channels"]),
            forcing_names=tuple(manifest["forcing_names"]), static_names=tuple(manifest["static_names"]),
            n_input_steps=manifest["n_input_steps"], time_step=manifest["time_step"],
            grid=GridEntry(tuple(grid["lat"]), tuple(grid["lon"]), grid["kind"]),
            precipitation_accumulation=manifest.get("precipitation_accumulation"),
            provenance=_field(manifest, "provenance", "", "object", False, True),
            parity=_field(manifest, "parity", "", "object", False, True),
            files={name: FileEntry(e["sha256"], e["bytes"], e["role"]) for name, e in manifest["files"].items()},
            extra={k: v for k, v in manifest.items() if k not in MANIFEST_KEYS and k != CHECKSUM_KEY})

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """The typed manifest of the bytes of ``manifest.json`` (its own checksum first)."""
        return cls.from_json(manifest_json(data))

    def to_json(self) -> dict[str, Any]:
        """The JSON object, keys in :data:`MANIFEST_KEYS` order, then :attr:`extra`."""
        out = {"format": self.format, "created": self.created, "sowcast_version": self.sowcast_version,
               "software": self.software, "model": self.model.to_json(),
               "channels": [c.to_json() for c in self.channels], "forcing_names": list(self.forcing_names),
               "static_names": list(self.static_names), "n_input_steps": self.n_input_steps,
               "time_step": self.time_step, "grid": self.grid.to_json(),
               "precipitation_accumulation": self.precipitation_accumulation, "provenance": self.provenance,
               "parity": self.parity, "files": {name: e.to_json() for name, e in self.files.items()}}
        for key in ("software", "precipitation_accumulation", "provenance", "parity"):
            if out[key] is None:
                del out[key]
        return {**out, **self.extra}

    def to_bytes(self) -> bytes:
        """The bytes of ``manifest.json`` (:func:`manifest_bytes`), checked as the reader checks them."""
        data = manifest_bytes(self.to_json())
        Manifest.from_bytes(data)
        return data

    def with_files(self, files: Mapping[str, FileEntry]) -> Manifest:
        return replace(self, files=dict(files))
