"""A training checkpoint to ONNX: the model rebuilt exactly as training built it, then
``torch.onnx.export(dynamo=True, opset_version=18)`` with a dynamic batch (PITFALLS.md).

* :func:`load_model`: the checkpoint (:mod:`sowcast.train.checkpoint`) gives the grid,
  the graph settings (``config.graph``), the mesh level (``config.model.mesh_level``), the
  model's hyperparameters and weights. The graph is built (or read from
  ``config.graph.cache_dir``) by :func:`sowcast.graph.build.build_graph` with the same
  cache key as training; the weights only load onto the same graph (the model's
  ``graph_digest`` buffer refuses any other).
* :func:`export_onnx`: the eval-mode model traced with an example batch of 2 (torch.export
  specialises a batch of 1), batch dim ``batch``; inputs ``inputs``, ``forcings``,
  ``static`` and, for a stochastic model (``noise_channels > 0``), ``noise [batch, n_mesh,
  K]``; output ``next_state``; the graph is baked in as constants. Weights are
  embedded in ``model.onnx`` unless the tensors pass ``embed_limit_bytes`` (ONNX's
  protobuf limit is 2 GB), then they go to ``model.onnx.data`` beside it.
* :func:`check_onnx`: ``onnx.checker`` plus a refusal of any Scatter op (scatter-based
  aggregation exports wrong or racy, PITFALLS.md) and a check of the I/O names and shapes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sowcast.bundle.manifest import BATCH_DIM, MODEL_DATA_FILE, NOISE_NAME, OUTPUT_NAME, input_names
from sowcast.errors import SowcastError

EMBED_LIMIT_BYTES = 1_900_000_000  # below ONNX's 2 GB protobuf limit, with room for the graph
FORBIDDEN_OP_WORDS = ("scatter",)  # ScatterND, ScatterElements, Scatter


@dataclass
class LoadedModel:
    model: Any                     # Forecaster, eval mode
    payload: dict[str, Any]        # the checkpoint
    graph: Any                     # ForecastGraph
    graph_key: str                 # graph cache key (sha256 of grid, level, settings)
    graph_digest: str              # hex of the model's graph_digest buffer


def config_digest(config: Mapping[str, Any] | None) -> str:
    """sha256 of the checkpoint's composed config as canonical JSON."""
    text = json.dumps(config or {}, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def load_model(checkpoint: str | os.PathLike | Mapping[str, Any]) -> LoadedModel:
    """Rebuild graph and :class:`Forecaster` from a checkpoint folder (or a loaded payload)."""
    from sowcast.data.grid import Grid
    from sowcast.graph.build import build_graph, graph_cache_key
    from sowcast.model.forecaster import Forecaster
    from sowcast.train.checkpoint import load_checkpoint

    payload = dict(checkpoint) if isinstance(checkpoint, Mapping) else load_checkpoint(checkpoint)
    config = payload.get("config") or {}
    graph_cfg = dict(config.get("graph") or {})
    cache_dir = graph_cfg.pop("cache_dir", None)
    mesh_level = (config.get("model") or {}).get("mesh_level")
    if mesh_level is None:
        raise SowcastError(f"checkpoint {payload.get('path')}: its config has no model.mesh_level")
    try:
        grid = Grid(lat=np.asarray(payload["grid"]["lat"], np.float64), lon=np.asarray(payload["grid"]["lon"], np.float64))
        hp = dict(payload["hyperparameters"])
        state = payload["model"]
    except (KeyError, TypeError):
        raise SowcastError(f"checkpoint {payload.get('path')} lacks grid, hyperparameters or model weights") from None
    if cache_dir is not None and not Path(cache_dir).parent.exists():
        cache_dir = None  # the training machine's cache folder: just build the graph
    graph = build_graph(grid, int(mesh_level), graph_cfg, cache_dir=cache_dir)
    key = graph_cache_key(grid, int(mesh_level), graph_cfg)
    if graph.settings.get("cache_key", key) != key:
        raise SowcastError(f"graph cache key {graph.settings.get('cache_key')} does not match {key}")
    model = Forecaster.from_checkpoint(graph, hp, state).eval()
    digest = bytes(model.network.graph_digest.cpu().numpy().astype(np.uint8).tolist()).hex() \
        if hasattr(model.network, "graph_digest") else ""
    return LoadedModel(model=model, payload=payload, graph=graph, graph_key=key, graph_digest=digest)


def example_inputs(model: Any, batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Random tensors of the model's input shapes (normalised scale; for tracing only), the
    noise ``[batch, n_mesh, K]`` last for a stochastic model."""
    g = torch.Generator().manual_seed(seed)
    t, (h, w) = model.n_input_steps, model.grid_shape
    out = (torch.randn(batch, t, model.n_channels, h, w, generator=g),
           torch.randn(batch, t + 1, model.n_forcings, h, w, generator=g),
           torch.randn(batch, model.n_static, h, w, generator=g))
    if getattr(model, "stochastic", False):
        out += (torch.randn(model.noise_shape(batch), generator=g),)
    return out


def tensor_bytes(model: torch.nn.Module) -> int:
    """Bytes of every parameter and buffer (the constants the ONNX file will hold)."""
    return sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The dynamo exporter logs and warns about things that are not ours (torchvision ops,
    deprecated pytree names); keep the command's output to what matters."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def export_onnx(model: torch.nn.Module, path: str | os.PathLike, opset: int = 18, example_batch: int = 2,
                embed_limit_bytes: int = EMBED_LIMIT_BYTES) -> list[Path]:
    """Export ``model`` to ``path`` (module doc); returns the files written (model, and the
    external data file if the weights went beside it)."""
    if int(opset) < 18:
        raise SowcastError(f"export.opset must be at least 18 (the dynamo exporter exports at 18), not {opset}")
    if int(example_batch) < 2:
        raise SowcastError("the example batch must be at least 2 (torch.export specialises a batch of 1)")
    path = Path(path)
    model = model.eval()
    batch = torch.export.Dim(BATCH_DIM)
    external = tensor_bytes(model) > int(embed_limit_bytes)
    names = input_names(bool(getattr(model, "stochastic", False)))
    with torch.no_grad(), _quiet_exporter():
        program = torch.onnx.export(
            model, example_inputs(model, int(example_batch)), dynamo=True, opset_version=int(opset),
            input_names=list(names), output_names=[OUTPUT_NAME],
            dynamic_shapes={name: {0: batch} for name in names}, verbose=False)
    if program is None:
        raise SowcastError("torch.onnx.export returned no program")
    if external:
        program.save(str(path), external_data=True)
        data = path.with_name(path.name + ".data")
        if data.name != MODEL_DATA_FILE and path.name == "model.onnx":
            raise SowcastError(f"the exporter wrote its external data as {data.name}, not {MODEL_DATA_FILE}")
        _rename_batch_dim_file(path)
        return [path, data] if data.exists() else [path]
    program.save(str(path), external_data=False)
    _rename_batch_dim_file(path)
    return [path]


def _rename_batch_dim_file(path: Path) -> None:
    """Make the dynamic first dim of every input and output read ``batch`` (the exporter may
    name it ``s0`` or after another axis sharing its constraint)."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    changed = False
    for v in list(proto.graph.input) + list(proto.graph.output):
        dims = v.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value") and dims[0].dim_param != BATCH_DIM:
            dims[0].dim_param = BATCH_DIM
            changed = True
    if changed:
        onnx.save(proto, str(path))


def op_types(proto: Any) -> set[str]:
    """Every op type in the graph, its subgraphs and its local functions."""
    found: set[str] = set()

    def walk(graph: Any) -> None:
        for node in graph.node:
            found.add(node.op_type)
            for attr in node.attribute:
                if attr.g is not None and len(attr.g.node):
                    walk(attr.g)
                for sub in attr.graphs:
                    walk(sub)

    walk(proto.graph)
    for fn in proto.functions:
        for node in fn.node:
            found.add(node.op_type)
    return found


def check_no_scatter(proto: Any, what: str = "model.onnx") -> None:
    bad = sorted(op for op in op_types(proto) if any(w in op.lower() for w in FORBIDDEN_OP_WORDS))
    if bad:
        raise SowcastError(f"{what}: the exported graph holds {', '.join(bad)}: scatter-based aggregation exports "
                           "wrong or racy in onnxruntime (PITFALLS.md); sum by receiver groups "
                           "(sowcast.graph.receiver_groups)")


def io_spec(proto: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``[{name, shape, dtype}]`` of the graph's inputs and outputs (``"batch"`` for the dynamic dim)."""
    import onnx

    def spec(v: Any) -> dict[str, Any]:
        t = v.type.tensor_type
        shape = [d.dim_param if not d.HasField("dim_value") else int(d.dim_value) for d in t.shape.dim]
        return {"name": v.name, "shape": shape,
                "dtype": str(onnx.helper.tensor_dtype_to_np_dtype(t.elem_type))}

    return [spec(v) for v in proto.graph.input], [spec(v) for v in proto.graph.output]


def check_onnx(path: str | os.PathLike, model: Any | None = None) -> dict[str, Any]:
    """Run ``onnx.checker`` on the file, refuse Scatter ops, check names and shapes against
    ``model`` (a Forecaster; a stochastic one has the ``noise`` input last; without a model
    either set of names passes). Returns ``{inputs, outputs, opset, ops}``."""
    import onnx

    path = Path(path)
    try:
        onnx.checker.check_model(str(path), full_check=False)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SowcastError(f"{path.name}: onnx.checker refuses the export ({first})") from None
    proto = onnx.load(str(path), load_external_data=False)
    check_no_scatter(proto, path.name)
    inputs, outputs = io_spec(proto)
    names = [i["name"] for i in inputs]
    allowed = [list(input_names(bool(model.stochastic)))] if model is not None else \
        [list(input_names(False)), list(input_names(True))]
    if names not in allowed or [o["name"] for o in outputs] != [OUTPUT_NAME]:
        raise SowcastError(f"{path.name}: inputs {names} / outputs {[o['name'] for o in outputs]}, "
                           f"expected {' or '.join(map(str, allowed))} / [{OUTPUT_NAME!r}]")
    if model is not None:
        t, (h, w) = model.n_input_steps, model.grid_shape
        want = {"inputs": [BATCH_DIM, t, model.n_channels, h, w],
                "forcings": [BATCH_DIM, t + 1, model.n_forcings, h, w],
                "static": [BATCH_DIM, model.n_static, h, w],
                NOISE_NAME: [BATCH_DIM, *model.noise_shape(1)[1:]],
                OUTPUT_NAME: [BATCH_DIM, model.n_channels, h, w]}
        for v in inputs + outputs:
            if v["shape"] != want[v["name"]] or v["dtype"] != "float32":
                raise SowcastError(f"{path.name}: {v['name']} is {v['dtype']} {v['shape']}, expected float32 {want[v['name']]}")
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=None)
    return {"inputs": inputs, "outputs": outputs, "opset": opset, "ops": sorted(op_types(proto))}
