"""The onnxruntime session that runs one model step on the edge box (CPU, no torch).

Settings (see PITFALLS.md, "onnxruntime threads"):

* the CPU execution provider only: the edge box has no accelerator;
* ``intra_op_num_threads`` from the config (``forecast.threads``), so that a power budget or
  a box shared with other services can cap the cores used; 0 lets onnxruntime take every
  core (its default, which a shared box should not use);
* ``inter_op_num_threads`` (``forecast.inter_op_threads``) with sequential execution: the
  model is one chain of operators, so parallel branches gain little;
* graph optimisation ``ORT_ENABLE_ALL``;
* ``spinning: false`` turns off the idle spin of the worker threads
  (``session.intra_op.allow_spinning = 0``, and the inter-op one): a spinning thread burns a
  core between operators, which a generator-powered box pays for in fuel.

The model follows the bundle contract: inputs ``inputs [B, T, C, H, W]``, ``forcings
[B, T + 1, F, H, W]``, ``static [B, S, H, W]`` (float32, physical units) and output
``next_state [B, C, H, W]``; ``B`` (the ensemble members of one call) is dynamic.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sowcast.errors import SowcastError

INPUT_NAMES = ("inputs", "forcings", "static")
OUTPUT_NAME = "next_state"


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
    so.log_severity_level = 3  # errors only: no warnings on the operator's console
    if not spinning:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types for a bad file
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SowcastError(f"onnxruntime cannot load {path}: {text}") from None


class StepModel:
    """One model step: ``next_state = model(inputs, forcings, static)`` through onnxruntime."""

    def __init__(self, model_path: str | os.PathLike, threads: int = 2, inter_op_threads: int = 1,
                 spinning: bool = False):
        self.path = Path(model_path)
        self.session = make_session(model_path, threads, inter_op_threads, spinning)
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        if sorted(inputs) != sorted(INPUT_NAMES) or OUTPUT_NAME not in outputs:
            raise SowcastError(
                f"{self.path}: model inputs {inputs} and outputs {outputs} are not the bundle contract "
                f"(inputs {list(INPUT_NAMES)}, output {OUTPUT_NAME!r})"
            )

    def __call__(self, inputs: np.ndarray, forcings: np.ndarray, static: np.ndarray) -> np.ndarray:
        feeds = {
            "inputs": np.ascontiguousarray(inputs, dtype=np.float32),
            "forcings": np.ascontiguousarray(forcings, dtype=np.float32),
            "static": np.ascontiguousarray(static, dtype=np.float32),
        }
        (out,) = self.session.run([OUTPUT_NAME], feeds)
        return out
