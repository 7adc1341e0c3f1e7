"""The ``export:`` config group (conf/export/default.yaml) as one typed schema.

Each field's default is written here once and equals the YAML's
(tests/export/test_export_options.py); :func:`sowcast.options.parse` checks types, bounds and
unknown keys; :func:`check_export_options`, run by the export before it loads anything, the
rest (the output not in the way, the variants, the climatology file, the parity settings).
Errors are one line naming ``export.<key>``. Torch-free: ``sowcast export --help`` reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sowcast.errors import SowcastError
from sowcast.export.quantize import VARIANT_PRECISIONS  # stdlib imports only: torch-free
from sowcast.options import option, parse

GROUP = "export"
ARCHIVE_SUFFIX = ".tar.gz"


def precisions(value: Any, key: str = f"{GROUP}.variants") -> tuple[str, ...]:
    """``value`` (one name or a list) as variant precisions in lower case, each of
    :data:`VARIANT_PRECISIONS` at most once; a one-line error naming ``key`` otherwise."""
    items = [value] if isinstance(value, str) else list(value or [])
    names = [str(v).strip().lower() for v in items]
    if any(n not in VARIANT_PRECISIONS for n in names) or len(set(names)) != len(names):
        raise SowcastError(f"{key} must name each of {', '.join(VARIANT_PRECISIONS)} at most once, not {names}")
    return tuple(names)


@dataclass(frozen=True)
class ExportOptions:
    """What ``sowcast export`` writes, from which checkpoint (sowcast/export/stage.py)."""

    checkpoint: str = option("latest", "latest | best (in train.run_dir/checkpoints) | a checkpoint folder or "
                                       "state.pt")
    output: Path = option(Path("bundles/${model.name}"), "the bundle folder; the archive is <output>.tar.gz")
    archive: bool = option(True, "also write <output>.tar.gz")
    opset: int = option(18, "ONNX opset (the dynamo exporter exports at 18)", low=1)
    variants: tuple[str, ...] = option((), "reduced-precision variants to try: fp16, int8 (kept only if skill "
                                           "holds)", convert=precisions)
    max_skill_change: float = option(0.02, "drop a variant whose one-step RMSE on real windows is worse than "
                                           "fp32's by more than this fraction", low=0.0)
    parity_tolerance: float = option(1.0e-4, "max |onnxruntime - torch| / channel std allowed for fp32 (> 0)",
                                     low=0.0)
    parity_real_windows: int = option(4, "real windows from the store (validation range if any); 0: random "
                                         "inputs only", low=0)
    parity_batch: int = option(3, "random batch size, at least 2 (the first sample is also run alone: batch 1)",
                               low=1)
    threads: int = option(2, "onnxruntime and torch threads during the export (0: 1)", low=0)
    climatology: Path | None = option(None, "a model climatology netCDF to include (sowcast hindcast adds it "
                                            "later)")
    store: Path | None = option(None, "the training store; null: the checkpoint's data.store")
    seed: int = option(0, "random parity inputs (and a stochastic model's noise)", low=0)
    sign_key: Path | None = option(None, "private key file (sowcast export keygen) to sign the bundle: "
                                         "manifest.sig; null: unsigned (deploy/edge/README.md)")

    @property
    def archive_path(self) -> Path | None:
        """``<output>.tar.gz``, or None without ``archive``."""
        return self.output.with_name(self.output.name + ARCHIVE_SUFFIX) if self.archive else None

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> ExportOptions:
        """The group parsed (:func:`sowcast.options.parse`); the stage checks the rest
        (:func:`check_export_options`) before it loads anything."""
        return parse(cls, section, GROUP)


def check_export_options(options: ExportOptions, overwrite: bool) -> None:
    """Refuse, before anything is loaded: an output or archive in the way (without
    ``overwrite``), a variant named twice or unknown, a climatology that is no file, a parity
    batch under 2 (the batch dim is checked at 1 and at it), a parity tolerance that is not positive."""
    for path in (options.output, options.archive_path):
        if path is not None and path.exists() and not overwrite:
            raise SowcastError(f"{path} exists already; set overwrite=true to replace it")
    precisions(options.variants)
    if options.climatology is not None and not Path(options.climatology).is_file():
        raise SowcastError(f"{GROUP}.climatology: no file at {options.climatology}")
    if int(options.parity_batch) < 2:
        raise SowcastError(f"{GROUP}.parity_batch must be at least 2 (the batch dim is checked at 1 and at it), "
                           f"not {options.parity_batch}")
    if not float(options.parity_tolerance) > 0:
        raise SowcastError(f"{GROUP}.parity_tolerance must be positive, not {options.parity_tolerance}")
