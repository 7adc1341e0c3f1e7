"""``sowcast forecast``: the edge ensemble forecast (onnxruntime, no torch)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegaconf import DictConfig

from sowcast.cli.common_options import CommonOptions

if TYPE_CHECKING:
    from sowcast.forecast.engine import ForecastResult
    from sowcast.forecast.options import ForecastOptions


def run(cfg: DictConfig) -> int:
    """Run the ensemble forecast of forecast.bundle from the analysis forecast.init to
    forecast.lead, writing forecast.output (.zarr or .nc, CF-1.8, dims member, lead_time,
    [level,] lat, lon).

        sowcast forecast forecast.bundle=bundle.tar.gz forecast.init=analysis.zarr \\
            forecast.output=fc.zarr forecast.members=16 forecast.threads=2

    Member 0 is the control; the others start from smooth Gaussian perturbations
    (forecast.perturbation; scale 0: none). A stochastic bundle's members also draw the
    model's noise at every step from forecast.noise_seed. The run saves its state every forecast.checkpoint_every steps
    in <output>.partial/: the same command after a power cut goes on from there. A finished
    output with the same config is left as it is; overwrite=true recomputes it.
    """
    from sowcast.forecast.engine import run_forecast
    from sowcast.forecast.options import ForecastOptions

    options = ForecastOptions.from_config(cfg.forecast)
    finish(options, run_forecast(options, **CommonOptions.from_config(cfg).keywords()))
    return 0


def finish(options: ForecastOptions, result: ForecastResult) -> None:
    """What the command prints after the stage (the demo too): up to date, or what was written."""
    print(result.summary())
