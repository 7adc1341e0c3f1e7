"""``sowcast hindcast``: the model from many past start dates, and the model climatology."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegaconf import DictConfig

from sowcast.cli.common_options import CommonOptions
from sowcast.log import get_logger

if TYPE_CHECKING:
    from sowcast.forecast.hindcast_options import HindcastOptions
    from sowcast.products.hindcast_stage import HindcastStageResult

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
    from sowcast.forecast.hindcast_options import HindcastOptions
    from sowcast.products.hindcast_stage import run as hindcast

    options = HindcastOptions.from_config(cfg.hindcast)
    finish(options, hindcast(options, **CommonOptions.from_config(cfg).keywords()))
    return 0


def finish(options: HindcastOptions, result: HindcastStageResult) -> None:
    """What the command prints and logs after the stage (the demo too)."""
    for line in result.summary():
        print(line)
    for note in result.notes():
        _LOG.info(note)
