"""``sowcast export``: a training checkpoint to the edge bundle (ONNX + parity + manifest)."""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import DictConfig

from sowcast.config import plain
from sowcast.config_values import flag, number, whole
from sowcast.errors import SowcastError


def _checkpoint(spec: str, run_dir: str):
    """A checkpoint path, or the loaded ``latest``/``best`` one of ``run_dir``."""
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


def run(cfg: DictConfig) -> int:
    """Export a checkpoint as the edge bundle: model.onnx (dynamic batch, physical units in and
    out), static.nc, statistics.nc, manifest.json with the sha256 of every file, and
    <output>.tar.gz of the folder.

    sowcast export model=small                       (latest checkpoint of train.run_dir)
    sowcast export export.checkpoint=best export.variants=[int8]
    sowcast export export.checkpoint=runs/x/checkpoints/step_00001500 export.output=bundles/x

    The export fails (and writes nothing) when onnxruntime and torch differ by more than
    export.parity_tolerance (max |difference| / channel std). A variant (fp16, int8) is
    kept only if its one-step skill on real windows is at most export.max_skill_change
    worse than fp32; each verdict is a log line (-q: warnings only). overwrite=true replaces an existing bundle.
    export.sign_key=keys/NAME.key (from sowcast export keygen) signs it: manifest.sig, checked
    at the edge against forecast.trusted_keys (deploy/edge/README.md).
    """
    try:
        from sowcast.export.bundle_writer import export_bundle
    except ImportError as exc:  # pragma: no cover - the train extra is missing
        raise SowcastError(f"export needs torch, onnx and onnxscript: install sowcast[train] ({exc})") from None
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise SowcastError(f"export needs onnx, onnxscript and onnxruntime: install sowcast[train,edge] ({exc})") from None

    e = cfg.export
    overwrite, archive = flag(cfg.get("overwrite", False), "overwrite"), flag(e.get("archive", True), "export.archive")
    numbers = dict(
        opset=whole(e.get("opset", 18), "export.opset", 1),
        parity_tolerance=number(e.get("parity_tolerance", 1e-4), "export.parity_tolerance", 0),
        parity_real_windows=whole(e.get("parity_real_windows", 4), "export.parity_real_windows", 0),
        parity_batch=whole(e.get("parity_batch", 3), "export.parity_batch", 1),
        max_skill_change=number(e.get("max_skill_change", 0.02), "export.max_skill_change", 0),
        threads=whole(e.get("threads", 2), "export.threads", 0),
        seed=whole(e.get("seed", 0), "export.seed", 0),
    )
    output = Path(str(e.output))
    for path in (output, output.with_name(output.name + ".tar.gz") if archive else None):
        if path is not None and path.exists() and not overwrite:
            raise SowcastError(f"{path} exists already; set overwrite=true to replace it")
    sign_key = e.get("sign_key")
    sign_key = None if sign_key is None or str(sign_key).strip().lower() in ("", "null", "none") else str(sign_key)
    if sign_key is not None:  # a bad key fails now, not after the export
        from sowcast.bundle.signature import load_private_key

        load_private_key(sign_key)
    spec = str(e.get("checkpoint") or "latest")
    checkpoint = _checkpoint(spec, str(cfg.train.run_dir))
    variants = plain(e.get("variants")) or []
    variants = [variants] if isinstance(variants, str) else list(variants)
    result = export_bundle(
        checkpoint, output, archive=archive, variants=variants, climatology=e.get("climatology"),
        store=e.get("store"), overwrite=overwrite, sign_key=sign_key, **numbers,
    )
    size = sum(p.stat().st_size for p in result.bundle.iterdir() if p.is_file())
    from sowcast.bundle.checksums import sha256_file

    print(f"bundle {result.bundle} ({size / 1e6:.2f} MB), id {sha256_file(result.bundle / 'manifest.json')}")
    if result.signed_by is not None:
        print(f"signed with key {result.signed_by} (manifest.sig)")
    if result.archive is not None:
        print(f"archive {result.archive} ({result.archive.stat().st_size / 1e6:.2f} MB)")
    sys.stdout.flush()
    return 0
