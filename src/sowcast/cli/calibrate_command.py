"""``sowcast calibrate``: fit the products' calibration on the training-year hindcasts."""

from __future__ import annotations

from omegaconf import DictConfig

from sowcast.cli.common_options import CommonOptions
from sowcast.log import get_logger

_LOG = get_logger("calibrate")


def run(cfg: DictConfig) -> int:
    """Fit calibration.nc from the hindcasts the model climatology was built from and the
    truth at the same starts, and add it to the bundle folder (sowcast/calibrate/calibration.py):

        sowcast calibrate calibrate.hindcast=hindcast calibrate.store=data/demo/demo.zarr \\
            calibrate.bundle=bundles/demo

    Prints the cross-validated skill it found, raw beside calibrated.
    """
    from sowcast.calibrate.calibration import CalibrateOptions, read_calibration
    from sowcast.calibrate.calibration import run as fit
    from sowcast.calibrate.summary import summary_lines

    overwrite = CommonOptions.from_config(cfg).overwrite
    options = CalibrateOptions.from_config(cfg.calibrate)
    path = fit(options, overwrite=overwrite)
    print(f"calibration: {path}")
    for line in summary_lines(read_calibration(path)):
        print(f"  {line}")
    if options.bundle is not None and options.add_to_bundle:
        from sowcast.bundle.reader import offer_file_to_bundle

        _LOG.info(offer_file_to_bundle(options.bundle, path, "calibration", "products.calibration"))
    return 0
