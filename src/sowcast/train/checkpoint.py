"""Training checkpoints: atomic, verified, the last N and the best kept, latest found on resume.

Layout under ``<run_dir>/checkpoints``::

    step_00000400/  state.pt  meta.json     # the last train.keep_last of these
    step_00000500/  state.pt  meta.json
    best/           state.pt  meta.json     # lowest validation loss so far (hard links)

* ``state.pt`` (``torch.save``; loads with ``weights_only=True``): ``model`` (state dict of
  the bare model, no DDP prefix), ``optimizer``, ``scheduler``, ``step`` (optimiser steps
  done), ``epoch``, ``sampler`` (the loader position: epoch, seed, position, world size),
  ``rng`` (python, numpy, torch CPU and CUDA states, one entry per rank), ``hyperparameters``
  (the model's), ``channels``, ``forcings``, ``static``, ``statistics``, ``grid``,
  ``time_step``, ``config`` (the composed config), ``val_loss``, ``best_val_loss``,
  ``param_digests`` (sha256 of the parameters on each rank; all equal under DDP).
* ``meta.json``: format, step, epoch, val_loss, the sha256 of ``state.pt``, the model
  hyperparameters and the channel names; human-readable, and read without torch.

A checkpoint folder is written as a temporary sibling and renamed into place
(:func:`sowcast.atomic.atomic_path`), so a crash or kill mid-save leaves the previous
checkpoints as they were. :meth:`CheckpointManager.latest` walks the step folders from
the newest and skips, with a warning, any that fails to verify (missing file, checksum
mismatch, unreadable pickle), in favour of the one before.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sowcast.atomic import atomic_path
from sowcast.bundle.checksums import sha256_file
from sowcast.errors import SowcastError

CHECKPOINT_FORMAT = "sowcast-checkpoint-1"
STATE_FILE = "state.pt"
META_FILE = "meta.json"
_STEP_DIR = re.compile(r"^step_(\d+)$")


class CorruptCheckpoint(SowcastError):
    """A checkpoint that cannot be read or does not verify."""


# -- helpers ---------------------------------------------------------------------------------
def parameter_digest(module: torch.nn.Module | Mapping[str, torch.Tensor]) -> str:
    """sha256 of a module's state dict (or of a state dict): names, dtypes, shapes and bytes."""
    h = hashlib.sha256()
    state = module.state_dict() if isinstance(module, torch.nn.Module) else module
    for name, t in sorted(state.items()):
        t = t.detach().to("cpu").contiguous().reshape(-1)
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def capture_rng() -> dict[str, Any]:
    """This process's random states (python, numpy, torch CPU and CUDA), torch-loadable."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (str(kind), torch.from_numpy(np.asarray(keys, np.int64)), int(pos), int(has_gauss), float(cached)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Mapping[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys).astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([c.cpu() for c in cuda])


# -- one checkpoint ----------------------------------------------------------------------------
def _checkpoint_dir(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.parent if path.name == STATE_FILE else path


def write_checkpoint(dest: str | os.PathLike, payload: Mapping[str, Any], overwrite: bool = False) -> Path:
    """Write ``payload`` as a checkpoint folder ``dest`` atomically; returns ``dest``."""
    dest = Path(dest)
    payload = dict(payload, format=CHECKPOINT_FORMAT)
    with atomic_path(dest, overwrite=overwrite, directory=True) as tmp:
        torch.save(payload, tmp / STATE_FILE)
        meta = {
            "format": CHECKPOINT_FORMAT,
            "step": int(payload.get("step", 0)),
            "epoch": int(payload.get("epoch", 0)),
            "val_loss": payload.get("val_loss"),
            "sha256": {STATE_FILE: sha256_file(tmp / STATE_FILE)},
            "hyperparameters": payload.get("hyperparameters"),
            "channels": list(payload.get("channels", [])),
            "forcings": list(payload.get("forcings", [])),
            "static": list(payload.get("static", [])),
            "param_digests": list(payload.get("param_digests", [])),
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1, default=str) + "\n")
    return dest


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """``meta.json`` of a checkpoint folder (or of the folder of a ``state.pt``)."""
    folder = _checkpoint_dir(path)
    try:
        meta = json.loads((folder / META_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise CorruptCheckpoint(f"checkpoint {folder}: cannot read {META_FILE} ({type(exc).__name__})") from None
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise CorruptCheckpoint(f"checkpoint {folder} has format {meta.get('format')!r}, not {CHECKPOINT_FORMAT!r}")
    return meta


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu",
                    verify: bool = True) -> dict[str, Any]:
    """Load and verify a checkpoint folder (or its ``state.pt``); :class:`CorruptCheckpoint` if bad."""
    folder = _checkpoint_dir(path)
    if not folder.is_dir():
        raise SowcastError(f"no checkpoint at {path}")
    meta = read_meta(folder)
    state_file = folder / STATE_FILE
    if not state_file.is_file():
        raise CorruptCheckpoint(f"checkpoint {folder} has no {STATE_FILE}")
    if verify:
        expected = meta.get("sha256", {}).get(STATE_FILE)
        if expected and sha256_file(state_file) != expected:
            raise CorruptCheckpoint(f"checkpoint {folder}: {STATE_FILE} does not match its checksum")
    try:
        payload = torch.load(state_file, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zip, bad pickle, ...
        raise CorruptCheckpoint(f"checkpoint {folder}: cannot load {STATE_FILE} ({type(exc).__name__}: "
                                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CorruptCheckpoint(f"checkpoint {folder}: {STATE_FILE} is not a {CHECKPOINT_FORMAT}")
    payload["path"] = str(folder)
    return payload


# -- a run's checkpoints ---------------------------------------------------------------------
class CheckpointManager:
    """The checkpoints of one run: save (keep last N, track best), list, find the latest."""

    def __init__(self, directory: str | os.PathLike, keep_last: int = 3, writer: bool = True):
        if int(keep_last) < 1:
            raise SowcastError(f"train.keep_last must be at least 1, not {keep_last}")
        self.directory = Path(directory)
        self.keep_last = int(keep_last)
        self.writer = bool(writer)
        if self.writer and self.directory.is_dir():
            self._remove_leftovers()

    def _remove_leftovers(self) -> None:
        """Temporaries of saves that were killed (SIGKILL, power cut) before their rename."""
        for p in self.directory.iterdir():
            if p.name.startswith(".") and (".tmp-" in p.name or ".old-" in p.name):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)

    @property
    def best_dir(self) -> Path:
        return self.directory / "best"

    def step_dir(self, step: int) -> Path:
        return self.directory / f"step_{int(step):08d}"

    def steps(self) -> list[tuple[int, Path]]:
        """Step folders, oldest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for p in self.directory.iterdir():
            m = _STEP_DIR.match(p.name)
            if m and p.is_dir():
                found.append((int(m.group(1)), p))
        return sorted(found)

    def best_val_loss(self) -> float | None:
        try:
            value = read_meta(self.best_dir).get("val_loss")
        except CorruptCheckpoint:
            return None
        return None if value is None else float(value)

    def save(self, payload: Mapping[str, Any], step: int, val_loss: float | None = None) -> Path:
        """Write the checkpoint of ``step``; keep the last ``keep_last``; update ``best`` when
        ``val_loss`` is lower than the best's. Returns the step folder."""
        if not self.writer:
            raise RuntimeError("this CheckpointManager does not write (not rank 0)")
        self.directory.mkdir(parents=True, exist_ok=True)
        dest = write_checkpoint(self.step_dir(step), {**payload, "step": int(step), "val_loss": val_loss},
                                overwrite=True)
        if val_loss is not None and np.isfinite(val_loss):
            best = self.best_val_loss()
            if best is None or val_loss < best:
                self._link_best(dest)
        for _, old in self.steps()[:-self.keep_last]:
            shutil.rmtree(old, ignore_errors=True)
        return dest

    def _link_best(self, src: Path) -> None:
        with atomic_path(self.best_dir, overwrite=True, directory=True) as tmp:
            for name in (STATE_FILE, META_FILE):
                try:
                    os.link(src / name, tmp / name)
                except OSError:  # a file system without hard links
                    shutil.copy2(src / name, tmp / name)

    def latest(self, map_location: str | torch.device = "cpu") -> dict[str, Any] | None:
        """The newest checkpoint that verifies (warning about each one skipped), or None."""
        for step, path in reversed(self.steps()):
            try:
                return load_checkpoint(path, map_location)
            except CorruptCheckpoint as exc:
                warnings.warn(f"skipping corrupt checkpoint: {exc}", stacklevel=2)
        return None

    def resolve(self, resume: str | None, map_location: str | torch.device = "cpu") -> dict[str, Any] | None:
        """The checkpoint ``train.resume`` asks for: ``auto`` (the latest good one, or None for
        a fresh run), ``never`` (None), or a path to a checkpoint folder or ``state.pt``."""
        resume = "never" if resume is None else str(resume)
        if resume == "never":
            return None
        if resume == "auto":
            return self.latest(map_location)
        if resume == "best":
            return load_checkpoint(self.best_dir, map_location)
        return load_checkpoint(resume, map_location)
