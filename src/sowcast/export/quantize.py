"""Reduced-precision variants of the exported fp32 model: ``fp16`` and ``int8``.

* ``int8``: weights of MatMul/Gemm quantised to int8 with dynamic (per-call) activation
  quantisation: ``onnxruntime.quantization.shape_inference.quant_pre_process`` (symbolic
  shape inference; needed on dynamo graphs, PITFALLS.md; its graph optimisation is skipped
  because it folds the graph tables into larger constants) then ``quantize_dynamic``.
* ``fp16``: ``onnxruntime.transformers.float16.convert_float_to_float16`` with float32
  inputs and outputs kept (``keep_io_types``; ``onnxconverter-common`` is not needed) and
  the normalisation kept in float32 (:func:`normalisation_nodes` go in ``node_block_list``):
  the model takes physical units, and a channel beyond fp16's range (pressure in Pa:
  101325 > 65504) would overflow before it is normalised, or in the increment added back.

Whether a variant is kept is decided by the export from its measured change, its 46-day
rollout against fp32 and its speed (:mod:`sowcast.export.bundle_writer`,
:mod:`sowcast.export.parity`); here they are only made. Each maker returns ``None`` when
done, else the one-line reason it could not be made.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

VARIANT_PRECISIONS = ("fp16", "int8")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser logs its progress at INFO/WARNING
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def make_int8(src: str | os.PathLike, dst: str | os.PathLike) -> str | None:
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as exc:
        return f"onnxruntime.quantization is not available ({exc})"
    tmp = Path(tempfile.mkdtemp(prefix=".int8-", dir=Path(dst).parent))
    try:
        pre = tmp / "pre.onnx"
        with _quiet():
            quant_pre_process(str(src), str(pre), skip_optimization=True)
            quantize_dynamic(str(pre), str(dst), weight_type=QuantType.QInt8, use_external_data_format=False)
    except Exception as exc:  # noqa: BLE001 - report why the variant is missing, keep the export
        Path(dst).unlink(missing_ok=True)
        return f"quantisation failed ({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''})"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return None


MATRIX_OPS = ("MatMul", "Gemm")  # where the network (what runs in fp16) begins and ends


def normalisation_nodes(graph: Any) -> list[str]:
    """Names of the nodes in physical units: those reached from the graph's inputs, and
    those that reach its outputs, without passing a MatMul or Gemm (the input
    normalisation ``(x - mean) / std`` and the increment ``x_t + diff_mean + diff_std * out``
    with the reshapes around them). Nodes without a name get one."""
    for i, node in enumerate(graph.node):
        if not node.name:
            node.name = f"sowcast_unnamed_{i}"
    consumers: dict[str, list[Any]] = {}
    producer: dict[str, Any] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
        for name in node.output:
            producer[name] = node
    blocked: set[str] = set()
    todo = [n for v in graph.input for n in consumers.get(v.name, [])]
    while todo:  # forward from the inputs
        node = todo.pop()
        if node.name in blocked or node.op_type in MATRIX_OPS:
            continue
        blocked.add(node.name)
        todo += [n for out in node.output for n in consumers.get(out, [])]
    seen: set[str] = set()
    todo = [producer[v.name] for v in graph.output if v.name in producer]
    while todo:  # backward from the outputs
        node = todo.pop()
        if node.name in seen or node.op_type in MATRIX_OPS:
            continue
        seen.add(node.name)
        todo += [producer[name] for name in node.input if name in producer]
    return sorted(blocked | seen)


def _drop_round_trips(graph: Any) -> None:
    """Read ``x`` where the converter made ``Cast(Cast(x, to=float16), to=float)`` (a float32
    input cast to fp16 for ``keep_io_types``, then back for a blocked node: the round trip
    would overflow 101325 Pa), then remove the nodes whose outputs nobody reads."""
    from onnx import TensorProto

    producer = {out: node for node in graph.node for out in node.output}

    def cast_to(node: Any) -> int | None:
        return next((a.i for a in node.attribute if a.name == "to"), None) if node.op_type == "Cast" else None

    for node in graph.node:
        for i, name in enumerate(node.input):
            back = node if cast_to(node) == TensorProto.FLOAT else producer.get(name)  # a final Cast: itself
            if back is None or cast_to(back) != TensorProto.FLOAT:
                continue
            half = producer.get(back.input[0])
            if half is not None and cast_to(half) == TensorProto.FLOAT16:
                node.input[i] = half.input[0]  # a final Cast becomes float -> float
    needed = {v.name for v in graph.output}
    changed = True
    while changed:
        used = needed | {name for node in graph.node for name in node.input}
        keep = [node for node in graph.node if any(out in used for out in node.output)]
        changed = len(keep) != len(graph.node)
        if changed:
            del graph.node[:]
            graph.node.extend(keep)


def _unique_node_names(graph: Any) -> None:
    """Rename repeated node names (the converter names the casts it adds for ``keep_io_types``
    and for blocked nodes alike, and onnxruntime refuses a graph with two nodes of one name)."""
    seen: set[str] = set()
    for i, node in enumerate(graph.node):
        if node.name in seen:
            node.name = f"{node.name}_{i}"
        seen.add(node.name)


def make_fp16(src: str | os.PathLike, dst: str | os.PathLike) -> str | None:
    try:
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as exc:
        return f"no fp16 converter (onnxruntime.transformers.float16 is not importable: {exc})"
    try:
        with _quiet():
            model = onnx.load(str(src))
            half = convert_float_to_float16(model, keep_io_types=True,
                                            node_block_list=normalisation_nodes(model.graph))
            _drop_round_trips(half.graph)
            _unique_node_names(half.graph)
            onnx.save(half, str(dst))
    except Exception as exc:  # noqa: BLE001
        Path(dst).unlink(missing_ok=True)
        return f"fp16 conversion failed ({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''})"
    return None


MAKERS = {"fp16": make_fp16, "int8": make_int8}


def make_variant(precision: str, src: str | os.PathLike, dst: str | os.PathLike) -> str | None:
    """Make the ``precision`` variant of ``src`` at ``dst``; None when done, else why not."""
    if precision not in MAKERS:
        return f"unknown precision {precision!r} (known: {', '.join(VARIANT_PRECISIONS)})"
    return MAKERS[precision](src, dst)
