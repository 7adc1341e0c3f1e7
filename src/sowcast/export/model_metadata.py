"""What ``model.onnx`` says about itself: ONNX ``metadata_props`` and ``doc_string``.

A user who opens the model file alone (Netron, ``onnx.load``, an onnxruntime session's
``get_modelmeta().custom_metadata_map``) learns from it the channel order and units of
``inputs`` and ``next_state``, the forcings and static fields, the time step, the grid and
which training run it is. The keys (ONNX IR ``ModelProto.metadata_props``, string to string;
lists and mappings as JSON):

* ``channels``, ``channel_units``, ``channel_standard_names``: one entry per channel, in
  the order of the channel axis of ``inputs`` and ``next_state`` (units and CF standard
  names from :mod:`sowcast.data.schema`);
* ``forcings``, ``static``: the names along those inputs' channel axes;
* ``n_input_steps``, ``time_step`` (ISO 8601 duration, e.g. ``P1D``);
* ``grid_kind`` (``regional`` or ``global``), ``grid_shape`` ``[n_lat, n_lon]``,
  ``lat_bounds``, ``lon_bounds`` (the first and last cell centres, degrees north/east, lat
  ascending, lon in [-180, 180)), ``lat_step``, ``lon_step``;
* ``units``: values are physical (normalisation is inside the model);
* identity: ``sowcast_version``, ``model_name``, ``checkpoint_step``, ``param_digest``,
  ``config_digest``, ``graph_digest``, ``created``. The bundle id (the sha256 of
  ``manifest.json`` beside the model) cannot be inside the file it checksums.

The stamp is written before the parity checks and the checksums, so both are of the file
as shipped; the ONNX graph itself is not touched.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

UNITS_NOTE = "physical in and out (normalisation inside the model)"


def model_metadata(channels: Sequence[str], forcings: Sequence[str], static: Sequence[str], n_input_steps: int,
                   time_step: str, lat: np.ndarray, lon: np.ndarray, grid_kind: str,
                   identity: Mapping[str, Any]) -> dict[str, str]:
    """The ``metadata_props`` of a sowcast model (module doc), all values strings."""
    from sowcast.bundle.manifest import channel_info

    info = [channel_info(c) for c in channels]
    lat, lon = np.asarray(lat, np.float64), np.asarray(lon, np.float64)

    def step(values: np.ndarray) -> float | None:
        return round(float(np.diff(values).mean()), 6) if values.size > 1 else None

    meta: dict[str, Any] = {
        "channels": [c["name"] for c in info],
        "channel_units": [c["units"] for c in info],
        "channel_standard_names": [c["standard_name"] for c in info],
        "forcings": list(forcings),
        "static": list(static),
        "n_input_steps": int(n_input_steps),
        "time_step": str(time_step),
        "grid_kind": str(grid_kind),
        "grid_shape": [int(lat.size), int(lon.size)],
        "lat_bounds": [float(lat.min()), float(lat.max())],
        "lon_bounds": [float(lon.min()), float(lon.max())],
        "lat_step": step(lat),
        "lon_step": step(lon),
        "units": UNITS_NOTE,
        **{k: v for k, v in identity.items() if v is not None},
    }
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}


def model_doc_string(meta: Mapping[str, str]) -> str:
    """A few lines for people: what goes in and out, in which order and units."""
    channels = json.loads(meta["channels"])
    units = json.loads(meta["channel_units"])
    lat, lon = json.loads(meta["lat_bounds"]), json.loads(meta["lon_bounds"])
    shape = json.loads(meta["grid_shape"])
    listed = ", ".join(f"{c} [{u or '?'}]" for c, u in zip(channels, units, strict=True))
    return (f"sowcast weather model {meta.get('model_name', '')}: next_state = the channels one time step "
            f"({meta['time_step']}) after the last of {meta['n_input_steps']} input steps. "
            f"Channels in order: {listed}. Values {meta['units']}. "
            f"Grid: {meta['grid_kind']}, {shape[0]} x {shape[1]} (lat x lon), lat {lat[0]:g} to {lat[1]:g} "
            f"degrees north, lon {lon[0]:g} to {lon[1]:g} degrees east. "
            "All keys: the model's metadata_props; the bundle id is the sha256 of manifest.json beside this file.")


def stamp_model_metadata(path: str | os.PathLike, meta: Mapping[str, str]) -> None:
    """Write ``meta`` into the file's ``metadata_props`` (replacing keys of the same name) and
    its doc string into the model's and the graph's ``doc_string``; weights kept where they
    are (embedded, or in the external data file, which is not rewritten)."""
    import onnx

    path = Path(path)
    proto = onnx.load(str(path), load_external_data=False)
    kept = [p for p in proto.metadata_props if p.key not in meta]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    for key, value in meta.items():
        proto.metadata_props.add(key=str(key), value=str(value))
    doc = model_doc_string(meta)
    proto.doc_string = doc
    proto.graph.doc_string = doc
    onnx.save(proto, str(path))


def read_model_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file as a dict (onnxruntime only: no onnx package
    needed at the edge)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(session.get_modelmeta().custom_metadata_map)
