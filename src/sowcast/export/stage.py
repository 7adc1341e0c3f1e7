"""The export stage, ``sowcast export``'s entry: find the checkpoint (``latest`` or ``best`` of
the training run, or a path), then write the bundle (:func:`sowcast.export.bundle_writer.write_bundle`).

The options are checked and the signing key read before the checkpoint is loaded, so a bad
output, variant or key fails at once and writes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sowcast.errors import SowcastError
from sowcast.export.bundle_writer import ExportResult, write_bundle
from sowcast.export.options import ExportOptions, check_export_options


def require_export_packages() -> None:
    """torch, onnx, onnxscript and onnxruntime importable, or one line naming the extra to install."""
    try:
        import torch  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the train extra is missing
        raise SowcastError(f"export needs torch, onnx and onnxscript: install sowcast[train] ({exc})") from None
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise SowcastError(f"export needs onnx, onnxscript and onnxruntime: install sowcast[train,edge] ({exc})") from None


def find_checkpoint(spec: str, run_dir: str | os.PathLike) -> Any:
    """The loaded checkpoint ``spec``: ``latest`` or ``best`` of ``run_dir/checkpoints``, or a path."""
    from sowcast.train.checkpoint import CheckpointManager, load_checkpoint

    manager = CheckpointManager(Path(run_dir) / "checkpoints", writer=False)
    if spec == "latest":
        payload = manager.latest()
        if payload is None:
            raise SowcastError(f"no checkpoint in {manager.directory}; train first or give export.checkpoint=PATH")
        return payload
    if spec == "best":
        if not manager.best_dir.is_dir():
            raise SowcastError(f"no best checkpoint in {manager.directory} (was validation on?)")
        return load_checkpoint(manager.best_dir)
    return load_checkpoint(spec)


def run(options: ExportOptions, run_dir: str | os.PathLike, *, overwrite: bool = False) -> ExportResult:
    """Export ``options.checkpoint`` (resolved in the training run ``run_dir``) as the bundle
    ``options.output`` (sowcast.export.bundle_writer's module doc has the steps)."""
    require_export_packages()
    check_export_options(options, overwrite)
    if options.sign_key is not None:  # a bad key fails now, not after the checkpoint is loaded
        from sowcast.bundle.signature import load_private_key

        load_private_key(options.sign_key)
    return write_bundle(find_checkpoint(options.checkpoint, run_dir), options, overwrite=overwrite)
