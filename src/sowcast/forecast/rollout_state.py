"""The rollout state saved every few steps, so a power cut costs minutes, not the run.

A forecast to ``<output>`` works in ``<output>.partial/``:

* ``output.zarr``: the output being written (:mod:`sowcast.forecast.output_writer`);
* ``state.npz``: the last saved :class:`RolloutState`: the last ``n_input_steps`` states of
  every member (``window [M, T, C, H, W]`` float32) and their times, ``step`` (lead times
  computed and written, and fsynced, when the state was saved; the output's valid length)
  and the run's config ``fingerprint``.

Perturbations are drawn once, at the start; the saved window already holds them, and a
stochastic model's noise is drawn afresh at every step from the member's key
(:mod:`sowcast.forecast.model_noise`), so no random generator state is needed to go on. ``state.npz`` is replaced atomically
(temporary file in the same folder, fsync, rename, fsync of the folder): after a kill at
any moment it is the old state or the new one. Lead times written after the saved step are
simply computed and written again on resume, from the same state with the same batches, so
the finished output equals an uninterrupted run's bit for bit.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sowcast.atomic import atomic_path

STATE_FILE = "state.npz"
OUTPUT_NAME = "output.zarr"


def partial_dir(output: str | os.PathLike) -> Path:
    """Where the forecast to ``output`` keeps its partial output and state."""
    output = Path(output)
    return output.with_name(output.name + ".partial")


@dataclass
class RolloutState:
    step: int                 # lead times done (0: only the initial ensemble)
    window: np.ndarray        # [M, T, C, H, W] float32, the last T states of every member
    window_times: np.ndarray  # [T] datetime64[ns]
    fingerprint: str


def save_state(folder: str | os.PathLike, state: RolloutState) -> Path:
    """Write ``folder/state.npz`` atomically (module doc)."""
    dest = Path(folder) / STATE_FILE
    with atomic_path(dest, overwrite=True) as tmp, open(tmp, "wb") as f:
        np.savez(f, step=np.int64(state.step), window=np.ascontiguousarray(state.window, np.float32),
                 window_times=state.window_times.astype("datetime64[ns]").astype(np.int64),
                 fingerprint=np.asarray(state.fingerprint))
    return dest


def load_state(folder: str | os.PathLike) -> RolloutState | None:
    """The saved state in ``folder``, or None if there is none (or it cannot be read)."""
    path = Path(folder) / STATE_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return RolloutState(step=int(z["step"]), window=np.array(z["window"], np.float32),
                                window_times=z["window_times"].astype("datetime64[ns]"),
                                fingerprint=str(z["fingerprint"]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
        return None
