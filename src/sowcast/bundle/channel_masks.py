"""Where each model channel has data: the ``<channel>_valid`` masks of a bundle's ``static.nc``.

A land-only source (WFDE5 precipitation, whose sea is NaN) gives the canonical store a
``<name>_valid`` mask (:mod:`sowcast.data.normalize`): ingest fills the sea with a mean,
training gives it zero weight (:mod:`sowcast.train.losses`), so the model's values there
mean nothing. ``sowcast export`` copies the mask of every channel that has one into
``static.nc`` as ``<channel>_valid`` (dims ``lat, lon``, uint8: 1 data, 0 no data, CF
``flag_values``/``flag_meanings``), and the forecast and hindcast outputs write NaN where it
is 0. A channel without a mask has data everywhere. Torch-free (the edge reads it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sowcast.errors import SowcastError

SUFFIX = "_valid"
ATTRS = {"long_name": "where the training data of this channel had values (sea of a land-only source: 0)",
         "flag_values": np.array([0, 1], np.uint8), "flag_meanings": "no_data data"}


def mask_name(channel: str) -> str:
    """The ``static.nc`` variable of a channel's mask: ``<channel>_valid``."""
    return f"{channel}{SUFFIX}"


def masks_to_write(channels: Sequence[str], valid: np.ndarray | None) -> dict[str, np.ndarray]:
    """``{<channel>_valid: uint8 [lat, lon]}`` for the channels of ``valid`` ``[C, lat, lon]``
    (True = data; :attr:`sowcast.data.windows.WindowSource.valid`) that lack data somewhere."""
    if valid is None:
        return {}
    valid = np.asarray(valid, bool)
    if valid.shape[0] != len(channels):
        raise SowcastError(f"the masks have {valid.shape[0]} channels, the model has {len(channels)}")
    return {mask_name(c): valid[i].astype(np.uint8) for i, c in enumerate(channels) if not valid[i].all()}


def read_channel_masks(static: Any, channels: Sequence[str], shape: Sequence[int]) -> np.ndarray | None:
    """Bool ``[C, lat, lon]`` (True = data) from a bundle's static dataset, or None when no
    channel has a mask. A mask of the wrong shape or with values other than 0/1 is an error."""
    if static is None or not hasattr(static, "data_vars"):
        return None
    names = [mask_name(c) for c in channels]
    if not any(n in static.data_vars for n in names):
        return None
    out = np.ones((len(channels), *shape), bool)
    for i, name in enumerate(names):
        if name not in static.data_vars:
            continue
        values = np.asarray(static[name].values)
        if values.shape != tuple(shape) or not np.isin(values, (0, 1)).all():
            raise SowcastError(f"static.nc: {name} must be 0/1 on the {shape[0]} x {shape[1]} grid")
        out[i] = values == 1
    return out


def apply_channel_masks(state: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """``state`` ``[..., C, lat, lon]`` with NaN where ``valid`` ``[C, lat, lon]`` is False
    (a copy; ``state`` itself when there are no masks)."""
    if valid is None:
        return state
    return np.where(valid, state, np.float32(np.nan)).astype(state.dtype, copy=False)
