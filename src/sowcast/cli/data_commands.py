"""``sowcast data ...``: synthesise, ingest and describe canonical stores."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from sowcast.cli.common_options import CommonOptions
from sowcast.config import plain
from sowcast.errors import SowcastError
from sowcast.log import get_logger

if TYPE_CHECKING:
    from sowcast.data.ingest import IngestResult
    from sowcast.data.ingest_options import IngestOptions
    from sowcast.data.synth_options import SynthOptions
    from sowcast.data.synth_stage import SynthResult

_LOG = get_logger("data")


def synth(cfg: DictConfig) -> int:
    """Write the synthetic West African monsoon (data.synth) as raw yearly netCDF files.

    The files use canonical names and CF units; 'sowcast data ingest' turns them into
    the canonical store (data.store). Deterministic from data.synth.seed.
    """
    from sowcast.data.synth_options import SynthOptions
    from sowcast.data.synth_stage import run as synthesise

    options = SynthOptions.from_config(cfg.data.synth)
    synth_finish(options, synthesise(options, **CommonOptions.from_config(cfg).keywords()))
    return 0


def synth_finish(options: SynthOptions, result: SynthResult) -> None:
    """What the command logs after the stage (the demo too)."""
    _LOG.info(result.summary())


def ingest(cfg: DictConfig) -> int:
    """Read data.ingest.sources (netCDF, GRIB, zarr incl. fsspec URLs, station CSV) into the
    canonical zarr store data.store, with statistics beside it.

    Names, coordinates, units, masks and time steps are normalised; bad input ends with a
    one-line error and nothing written. dask runs on threads unless cluster=local_cluster
    or cluster=dask_scheduler cluster.address=tcp://... is given.
    """
    from sowcast.data.ingest import run as ingest_store
    from sowcast.data.ingest_options import IngestOptions

    options = IngestOptions.from_config(cfg.data.ingest)
    ingest_finish(options, ingest_store(options, **ingest_keywords(cfg)))
    return 0


def ingest_keywords(cfg: DictConfig) -> dict[str, Any]:
    """What the ingest's ``run`` takes beside its options: the store (data.store), the cluster
    config, overwrite and progress."""
    return {"store": cfg.data.store, "cluster": plain(cfg.cluster), **CommonOptions.from_config(cfg).keywords()}


def ingest_finish(options: IngestOptions, result: IngestResult) -> None:
    """What the command logs after the stage (the demo too)."""
    _LOG.info(result.summary())


def describe(cfg: DictConfig) -> int:
    """Print the canonical store data.store: variables, units, grid, time span, statistics."""
    from sowcast.data.store import open_store, read_statistics

    path = cfg.data.store
    ds = open_store(path)
    out = sys.stdout
    print(f"store {path}  ({ds.attrs.get('sowcast_format')}, step {ds.attrs.get('time_step')})", file=out)
    if "time" in ds.dims:
        t = ds["time"].values
        print(f"time  {str(t[0])[:19]} .. {str(t[-1])[:19]}  ({len(t)} steps)", file=out)
    if "lat" in ds.dims:
        print(f"grid  lat {float(ds.lat[0]):g}..{float(ds.lat[-1]):g} ({ds.sizes['lat']}), "
              f"lon {float(ds.lon[0]):g}..{float(ds.lon[-1]):g} ({ds.sizes['lon']})", file=out)
    if "station" in ds.dims:
        print(f"stations  {', '.join(map(str, ds['station'].values))}", file=out)
    try:
        stats = read_statistics(path)
    except SowcastError:
        stats = None
    print(f"\n{'variable':<28} {'dims':<34} {'units':<10} {'mean':>12} {'std':>12}", file=out)
    from sowcast.data.store import data_variables

    names = data_variables(ds)
    names += sorted(str(n) for n in ds.data_vars if str(n) not in names)
    for name in names:
        da = ds[name]
        mean = std = ""
        if stats is not None and name in stats:
            s = stats[name]
            m, sd = s.sel(stat="mean").values, s.sel(stat="std").values
            mean = f"{float(m.mean()):12.4g}" if m.size else ""
            std = f"{float(sd.mean()):12.4g}" if sd.size else ""
        print(f"{name:<28} {str(da.dims):<34} {str(da.attrs.get('units', '')):<10} {mean:>12} {std:>12}", file=out)
    return 0
