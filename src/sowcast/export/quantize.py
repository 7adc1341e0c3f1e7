"""Reduced-precision variants of the exported fp32 model: ``fp16`` and ``int8``.

* ``int8``: weights of MatMul/Gemm quantised to int8 with dynamic (per-call) activation
  quantisation: ``onnxruntime.quantization.shape_inference.quant_pre_process`` (symbolic
  shape inference; needed on dynamo graphs, PITFALLS.md; its graph optimisation is skipped
  because it folds the graph tables into larger constants) then ``quantize_dynamic``.
* ``fp16``: ``onnxruntime.transformers.float16.convert_float_to_float16`` with float32
  inputs and outputs kept (``onnxconverter-common`` is not needed). The model takes
  physical units, so a channel beyond fp16's range (pressure in Pa: 101325 > 65504)
  overflows inside: the skill check of the export then drops the variant.

Whether a variant is kept is decided by the export from its measured change
(:mod:`sowcast.export.bundle_writer`); here they are only made. Each maker returns
``None`` when done, else the one-line reason it could not be made.
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


def make_fp16(src: str | os.PathLike, dst: str | os.PathLike) -> str | None:
    try:
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as exc:
        return f"no fp16 converter (onnxruntime.transformers.float16 is not importable: {exc})"
    try:
        with _quiet():
            model = onnx.load(str(src))
            half = convert_float_to_float16(model, keep_io_types=True)
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
