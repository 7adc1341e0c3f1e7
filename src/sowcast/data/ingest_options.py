"""The ``data.ingest:`` config (conf/data/demo.yaml) as one typed schema (:mod:`sowcast.options`).

Each field's default is written here once and equals the YAML's
(tests/data/test_ingest_options.py); ``sources`` has none: the preset names them.
:func:`sowcast.options.parse` checks types, bounds and unknown keys, the ``convert`` functions
the values with a form of their own (a duration, canonical names), :meth:`IngestOptions.from_config`
the rest (sources given, chunk dims, the target grid). Errors are one line naming
``data.ingest.<key>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from sowcast.errors import SowcastError
from sowcast.options import option, parse

if TYPE_CHECKING:
    from sowcast.data.grid import Grid

GROUP = "data.ingest"
RESAMPLE = ("mean", "instant")  # how time_step treats states (accumulations are always summed)
CHUNK_DIMS = ("time", "member", "level", "lat", "lon", "station")
TIME_CHUNK = 8  # time steps per stored chunk unless chunks.time says otherwise
EMPTY_IS_NULL = ("variables", "level", "time_range")  # [] means the same as null


def _duration(value: Any, key: str) -> pd.Timedelta:
    """A positive duration such as ``1D`` or ``6h`` (pandas offset aliases)."""
    try:
        step = pd.Timedelta(str(value).strip())
    except ValueError:
        raise SowcastError(f"{key} {value!r} is not a duration such as 1D or 6h") from None
    if step <= pd.Timedelta(0):
        raise SowcastError(f"{key} must be positive, not {value!r}")
    return step


def _resample(value: Any, key: str) -> str:
    text = str(value).strip().lower()
    if text not in RESAMPLE:
        raise SowcastError(f"{key} must be {' or '.join(RESAMPLE)}, not {value!r}")
    return text


def _canonical_names(value: Any, key: str) -> tuple[str, ...]:
    """One name or a list of them, each a canonical variable (:data:`sowcast.data.schema.CANONICAL_VARIABLES`)."""
    from sowcast.data.schema import CANONICAL_VARIABLES

    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise SowcastError(f"{key} must be a list of canonical variable names, not {value!r}")
    unknown = [n for n in names if n not in CANONICAL_VARIABLES]
    if unknown:
        raise SowcastError(f"{key} names {', '.join(map(repr, unknown))}, not canonical variable(s); "
                           f"known: {', '.join(sorted(CANONICAL_VARIABLES))}")
    return tuple(names)


@dataclass(frozen=True)
class IngestOptions:
    """What ``sowcast data ingest`` reads into the canonical store, and how (sowcast/data/ingest.py)."""

    sources: tuple[str, ...] = option(doc="files, globs, folders or fsspec URLs (gs://, s3://, memory://)")
    storage_options: dict[str, Any] = option({}, "for fsspec URLs, e.g. {token: anon}")
    variables: tuple[str, ...] | None = option(None, "canonical names to keep; null keeps all that map",
                                               convert=_canonical_names)
    rename: dict[str, str] = option({}, "extra source->canonical names, e.g. {precip: total_precipitation}")
    units: dict[str, str] = option({}, "units for variables whose file lacks them, e.g. {rain: mm}")
    time_step: pd.Timedelta | None = option(None, "resample, e.g. 1D (sums for precipitation, means otherwise)",
                                            convert=_duration)
    resample: str = option("mean", "states at time_step: mean over each step | instant (the value at its start)",
                           convert=_resample)
    time_range: list[str | None] | None = option(None, "[start, end] to keep, inclusive: a date-only end keeps the "
                                                "whole day")
    level: list[float] | None = option(None, "pressure levels to keep, e.g. [500, 850]", low=0.0)
    grid: dict[str, Any] | None = option(None, "regrid to {lat_min, lat_max, lon_min, lon_max, resolution} or "
                                               "{global: true, resolution}")
    regrid_method: Literal["conservative", "linear", "nearest"] = option(  # sowcast.data.regrid.METHODS
        "conservative", "how ingest.grid is reached (sowcast/data/regrid.py)")
    chunks: dict[str, int] = option({"time": TIME_CHUNK}, f"stored chunk sizes by dim ({', '.join(CHUNK_DIMS)})",
                                    low=1)
    statistics_period: tuple[str, str] | None = option(None, "[start, end] of the statistics (the training "
                                                             "years); null: all")
    stations: Path | None = option(None, "for station CSVs: a CSV of station_name,lat,lon")
    accumulation: Literal["auto", "period_beginning", "period_ending"] = option(
        "auto", "which end of its period a source's precipitation is labelled by; auto: from the source "
                "(sowcast/data/normalize.py)")

    @property
    def time_chunk(self) -> int:
        """Time steps per stored chunk."""
        return int(self.chunks.get("time", TIME_CHUNK))

    @property
    def target_grid(self) -> Grid | None:
        """``grid`` as a :class:`~sowcast.data.grid.Grid`; None: the sources' own grid."""
        if self.grid is None:
            return None
        from sowcast.data.grid import Grid

        return Grid.from_config(self.grid, f"{GROUP}.grid")

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> IngestOptions:
        """The group parsed, with sources given, chunks of known dims, the grid checked and an
        empty list of ``variables``, ``level`` or ``time_range`` read as null; a one-line error
        otherwise. An unknown key is named as ``unknown ingest option`` (the words the ingest
        has always used)."""
        known = list(cls.__dataclass_fields__)
        given = section if isinstance(section, Mapping) else {}
        unknown = sorted(str(k) for k in given if str(k) not in known)
        if unknown:
            raise SowcastError(f"unknown ingest option(s) {', '.join(f'{GROUP}.{k}' for k in unknown)}; "
                               f"known: {', '.join(known)}")
        options = parse(cls, section, GROUP)
        if not options.sources:
            raise SowcastError(f"{GROUP}.sources is empty: give files, globs, folders or URLs")
        strange = sorted(set(options.chunks) - set(CHUNK_DIMS))
        if strange:
            raise SowcastError(f"{GROUP}.chunks must map dims ({', '.join(CHUNK_DIMS)}) to chunk sizes, "
                               f"not {dict(options.chunks)!r}")
        options.target_grid  # noqa: B018 - a bad grid fails here, before any source is read
        empty = [k for k in EMPTY_IS_NULL if getattr(options, k) is not None and len(getattr(options, k)) == 0]
        return replace(options, **dict.fromkeys(empty))
