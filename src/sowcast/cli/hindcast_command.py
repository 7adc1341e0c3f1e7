"""``sowcast hindcast``: the model from many past start dates, and the model climatology."""

from __future__ import annotations

import math

from omegaconf import DictConfig

from sowcast.cli.common_options import CommonOptions
from sowcast.log import get_logger

_LOG = get_logger("hindcast")


def run(cfg: DictConfig) -> int:
    """Run the bundle's model from past start dates of a canonical store (the same calendar
    days every year: hindcast.first .. hindcast.last every hindcast.every_days days, over
    hindcast.years, by default the bundle's training years), keep the weekly and fortnightly
    aggregates of every start (and the daily series with keep_daily=true), then build the
    lead-dependent model climatology (climatology.nc, with the store's observed climatology
    for calibration) and add it to the bundle folder.

        sowcast hindcast hindcast.bundle=bundles/demo hindcast.store=data/demo/demo.zarr \\
            hindcast.first=03-01 hindcast.last=10-31 hindcast.members=4

    A killed run goes on from the starts not yet done when given the same command.
    Across machines (deploy/slurm/hindcast_array.sbatch): hindcast.shard=i/n (i = 0..n-1)
    runs every n-th start into <output>.shards/i-of-n; then hindcast.merge=true, with the
    same options, checks that all n shards are complete, gathers them into <output> and
    builds the climatology as a single run does.
    Reforecasts of held-out years for 'sowcast verify': hindcast.years=[2007,2010]
    hindcast.keep_daily=true hindcast.climatology.build=false hindcast.output=reforecasts.
    """
    from sowcast.forecast.hindcast import HindcastOptions, run_hindcast

    common = CommonOptions.from_config(cfg)
    options = HindcastOptions.from_config(cfg.hindcast)
    result = run_hindcast(options, overwrite=common.overwrite, progress=common.progress)
    rate = result.member_days_per_cpu_second
    speed = f", {rate:.3g} member-days per CPU-second" if not math.isnan(rate) else ""
    if options.merge:
        print(f"hindcasts in {result.output}: {len(result.starts)} starts, merged from the shards")
    else:
        print(f"hindcasts in {result.output}: {len(result.starts)} starts "
              f"({result.computed} computed now in {result.seconds:.1f} s{speed})")
    if options.shard is not None:
        _LOG.info(f"shard {options.shard[0]}/{options.shard[1]} done; when all {options.shard[1]} are, "
                  f"run the same command with hindcast.merge=true instead of hindcast.shard")
        return 0
    if options.climatology.build:
        from sowcast.products.hindcast_climatology import build_hindcast_climatology

        clim = build_hindcast_climatology(options)
        print(f"model climatology: {clim.path}")
        if clim.bundle_note is not None:
            _LOG.info(clim.bundle_note)
    return 0
