"""``sowcast forecast``: the edge ensemble forecast (onnxruntime, no torch)."""

from __future__ import annotations

import math

from omegaconf import DictConfig

from sowcast.cli.common_options import CommonOptions


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
    from sowcast.forecast.engine import ForecastOptions, run_forecast

    common = CommonOptions.from_config(cfg)
    result = run_forecast(ForecastOptions.from_config(cfg.forecast), overwrite=common.overwrite,
                          progress=common.progress)
    if result.status == "up to date":
        print(f"{result.output} is up to date (same bundle, initial conditions and config); "
              f"set overwrite=true to recompute it")
        return 0
    rate = result.member_days_per_cpu_second
    speed = f", {rate:.3g} member-days per CPU-second" if not math.isnan(rate) else ""
    verb = "resumed and finished" if result.status == "resumed" else "wrote"
    print(f"{verb} {result.output}: {result.members} members x {result.n_steps} steps "
          f"({result.steps_run} computed now in {result.seconds:.1f} s{speed})")
    return 0
