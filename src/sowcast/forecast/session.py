"""The onnxruntime session that runs one model step on the edge box (CPU, no torch).

Settings (see PITFALLS.md, "onnxruntime threads"):

* the CPU execution provider only: the edge box has no accelerator;
* ``intra_op_num_threads`` from the config (``forecast.threads``), so that a power budget or
  a box shared with other services can cap the cores used; 0 lets onnxruntime take every
  core (its default, which a shared box should not use). When batches of members run side by
  side (:mod:`sowcast.forecast.member_threads`), the cores are shared out among the calls
  (one thread each on the demo grid) and the session is run from several threads at once;
* ``inter_op_num_threads`` (``forecast.inter_op_threads``) with sequential execution: the
  model is one chain of operators, so parallel branches gain little;
* graph optimisation ``ORT_ENABLE_ALL``;
* ``spinning: false`` turns off the idle spin of the worker threads
  (``session.intra_op.allow_spinning = 0``, and the inter-op one): a spinning thread burns a
  core between operators, which a generator-powered box pays for in fuel;
* no memory pattern (``enable_mem_pattern = False``): each intermediate tensor comes from
  the arena when it is made and goes back when its last reader is done, instead of one
  block planned for the whole step per call. The same output bit for bit, no slower within
  the noise (demo grid 9.76 against 9.61 ms a step, global 1.5 degree at mesh level 5 421
  against 419 ms, medians of 8 taken in turn), and less memory: the global 16-member
  forecast (10 days, batch 1, 2 threads) peaked at 970-983 MiB against 1076-1095;
* once built, the heap that building freed goes back to the system (:func:`return_freed_heap`):
  the graph optimisation folds the fixed graph's edge tensors into constants and frees its
  scratch, which glibc would otherwise keep in the process.

The model follows the bundle contract: inputs ``inputs [B, T, C, H, W]``, ``forcings
[B, T + 1, F, H, W]``, ``static [B, S, H, W]`` (float32, physical units), and for a
stochastic model ``noise [B, M, K]`` (standard normal, :mod:`sowcast.forecast.model_noise`),
and output ``next_state [B, C, H, W]``; ``B`` (the ensemble members of one call) is dynamic.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sowcast.bundle.manifest import NOISE_NAME, OUTPUT_NAME, input_names
from sowcast.errors import SowcastError


def make_session(model_path: str | os.PathLike, threads: int = 2, inter_op_threads: int = 1,
                 spinning: bool = False):
    """An ``onnxruntime.InferenceSession`` on the CPU with the settings of the module doc."""
    import onnxruntime as ort

    path = Path(model_path)
    if not path.is_file():
        raise SowcastError(f"no ONNX model at {path}")
    if int(threads) < 0 or int(inter_op_threads) < 0:
        raise SowcastError(f"thread counts must be >= 0, not {threads} and {inter_op_threads}")
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads)
    so.inter_op_num_threads = int(inter_op_threads)
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.enable_mem_pattern = False
    so.log_severity_level = 3  # errors only: no warnings on the operator's console
    if not spinning:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types for a bad file
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SowcastError(f"onnxruntime cannot load {path}: {text}") from None
    return_freed_heap()
    return session


def return_freed_heap() -> bool:
    """Give the heap's free memory back to the system: glibc's ``malloc_trim(0)``. Building a
    session (constant folding of the fixed graph's edge tensors) frees far more than it keeps,
    and glibc holds freed memory in the process: the small preset on the global 1.5-degree
    grid at mesh level 5 holds 592 MiB after its session is built and 164 MiB after the
    trim; its 16-member forecast peaked at 1261 MiB and 990 MiB with it. True where it ran
    (Linux with glibc); elsewhere (musl, macOS, Windows) nothing happens."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # a libc without it (musl)
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    trim(0)
    return True


class StepModel:
    """One model step: ``next_state = model(inputs, forcings, static[, noise])`` through onnxruntime.

    :attr:`noise_shape` is ``(M, K)`` of a stochastic model's ``noise`` input, else None."""

    def __init__(self, model_path: str | os.PathLike, threads: int = 2, inter_op_threads: int = 1,
                 spinning: bool = False):
        self.path = Path(model_path)
        self.session = make_session(model_path, threads, inter_op_threads, spinning)
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = [o.name for o in self.session.get_outputs()]
        stochastic = NOISE_NAME in inputs
        if sorted(inputs) != sorted(input_names(stochastic)) or OUTPUT_NAME not in outputs:
            raise SowcastError(
                f"{self.path}: model inputs {list(inputs)} and outputs {outputs} are not the bundle contract "
                f"(inputs {list(input_names(False))}, and {NOISE_NAME!r} if stochastic; output {OUTPUT_NAME!r})"
            )
        self.noise_shape: tuple[int, int] | None = None
        if stochastic:
            shape = list(inputs[NOISE_NAME].shape)
            if len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape[1:]):
                raise SowcastError(f"{self.path}: input {NOISE_NAME!r} has shape {shape}, "
                                   "expected [batch, nodes, channels]")
            self.noise_shape = (int(shape[1]), int(shape[2]))

    @property
    def stochastic(self) -> bool:
        return self.noise_shape is not None

    def __call__(self, inputs: np.ndarray, forcings: np.ndarray, static: np.ndarray,
                 noise: np.ndarray | None = None) -> np.ndarray:
        feeds = {
            "inputs": np.ascontiguousarray(inputs, dtype=np.float32),
            "forcings": np.ascontiguousarray(forcings, dtype=np.float32),
            "static": np.ascontiguousarray(static, dtype=np.float32),
        }
        if self.noise_shape is not None:
            want = (len(feeds["inputs"]), *self.noise_shape)
            if noise is None or np.shape(noise) != want:
                raise SowcastError(f"{self.path.name} is stochastic: it needs noise of shape {list(want)}, "
                                   f"not {None if noise is None else list(np.shape(noise))}")
            feeds[NOISE_NAME] = np.ascontiguousarray(noise, dtype=np.float32)
        elif noise is not None:
            raise SowcastError(f"{self.path.name} is deterministic: it takes no noise")
        (out,) = self.session.run([OUTPUT_NAME], feeds)
        return out
