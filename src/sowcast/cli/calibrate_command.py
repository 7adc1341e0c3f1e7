"""``sowcast calibrate``: fit the products' calibration on the training-year hindcasts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegaconf import DictConfig

from sowcast.cli.common_options import CommonOptions

if TYPE_CHECKING:
    from pathlib import Path

    from sowcast.calibrate.calibration import CalibrateOptions


def run(cfg: DictConfig) -> int:
    """Fit calibration.nc from the hindcasts the model climatology was built from and the
    truth at the same starts, and add it to the bundle folder (sowcast/calibrate/calibration.py):

        sowcast calibrate calibrate.hindcast=hindcast calibrate.store=data/demo/demo.zarr \\
            calibrate.bundle=bundles/demo

    Prints the cross-validated skill it found, raw beside calibrated.
    """
    from sowcast.calibrate.calibration import CalibrateOptions
    from sowcast.calibrate.calibration import run as fit

    overwrite = CommonOptions.from_config(cfg).overwrite
    options = CalibrateOptions.from_config(cfg.calibrate)
    finish(options, fit(options, overwrite=overwrite))
    return 0


def finish(options: CalibrateOptions, path: Path) -> None:
    """What the command prints after the fit (the demo too): the skill found."""
    from sowcast.calibrate.calibration import read_calibration
    from sowcast.calibrate.summary import summary_lines

    print(f"calibration: {path}")
    for line in summary_lines(read_calibration(path)):
        print(f"  {line}")
