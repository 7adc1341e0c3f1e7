"""``sowcast export``: a training checkpoint to the edge bundle (ONNX + parity + manifest),
:mod:`sowcast.export.stage`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from sowcast.cli.common_options import CommonOptions

if TYPE_CHECKING:
    from sowcast.export.bundle_writer import ExportResult
    from sowcast.export.options import ExportOptions


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
    from sowcast.export.options import ExportOptions
    from sowcast.export.stage import run as export

    options = ExportOptions.from_config(cfg.export)
    finish(options, export(options, **keywords(cfg)))
    return 0


def keywords(cfg: DictConfig) -> dict[str, Any]:
    """What the export's ``run`` takes beside its options: the training run (train.run_dir) its
    checkpoint is found in, and overwrite."""
    return {"run_dir": cfg.train.run_dir, "overwrite": CommonOptions.from_config(cfg).overwrite}


def finish(options: ExportOptions, result: ExportResult) -> None:
    """What the command prints after the stage (the demo too): the bundle's files and verdicts."""
    print("\n".join(result.summary()), flush=True)
