"""The ``hindcast:`` config group (conf/hindcast/default.yaml) as one typed schema.

Each field's default is written here once and equals the YAML's
(tests/forecast/test_forecast_options.py); :func:`sowcast.options.parse` checks types, bounds
and unknown keys, :meth:`HindcastOptions.from_config` that the bundle, the store and the output
are given and that ``merge`` and ``shard`` are not both set. Errors are one line naming
``hindcast.<key>``. What each option does: :mod:`sowcast.forecast.hindcast`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from sowcast.config_values import whole
from sowcast.data.schema import time_step_iso
from sowcast.errors import SowcastError
from sowcast.forecast.ensemble import Perturbation
from sowcast.forecast.hindcast_shards import parse_shard
from sowcast.forecast.model_noise import (TUNED_NOISE_MEMORY_DAYS, TUNED_NOISE_SCALE, noise_memory_option,
                                         noise_scale_option)
from sowcast.forecast.options import bundle_option, lead_option, trusted_keys
from sowcast.options import option, parse

GROUP = "hindcast"
DEFAULT_VARIABLES = ("total_precipitation", "2m_temperature")
REQUIRED = {"bundle": "the bundle folder or archive", "store": "the canonical store of analyses",
            "output": "the folder for the hindcasts"}


def month_day(text: Any, key: str) -> tuple[int, int]:
    """``MM-DD`` as ``(month, day)``: a day of a common year (13-01, 02-29 are errors)."""
    try:
        month, day = (int(p) for p in str(text).split("-"))
        pd.Timestamp(year=2001, month=month, day=day)
    except (TypeError, ValueError):
        raise SowcastError(f"{key} must be a day of the year as MM-DD, not {text!r}") from None
    return month, day


def _day_of_year(value: Any, key: str) -> str:
    month_day(value, key)
    return str(value)


def _years(value: Any, key: str) -> tuple[int, int]:
    """``[first, last]`` (one year: that year alone)."""
    years = [value, value] if isinstance(value, (int, str)) else value
    if not isinstance(years, (list, tuple)) or len(years) != 2:
        raise SowcastError(f"{key} must be [first, last] years, not {value!r}")
    y0, y1 = (whole(y, key) for y in years)
    if y1 < y0:
        raise SowcastError(f"{key} {y0}..{y1}: the last year is before the first")
    return y0, y1


def _daily_lead(value: Any, key: str) -> str:
    """A positive whole number of days: hindcasts are reduced to daily periods."""
    text = lead_option(value, key)
    if pd.Timedelta(text) % pd.Timedelta(days=1) != pd.Timedelta(0):
        raise SowcastError(f"{key} {value} is not whole days: hindcasts and verification need daily periods "
                           f"(e.g. {key}=46D)")
    return text


def _shard(value: Any, key: str) -> tuple[int, int] | None:
    """``"i/n"`` (:func:`sowcast.forecast.hindcast_shards.parse_shard`)."""
    return parse_shard(value)


@dataclass(frozen=True)
class ClimatologyOptions:
    """``hindcast.climatology``: the lead-dependent model climatology built after the hindcasts
    (:func:`sowcast.products.climatology.build_climatology`)."""

    build: bool = option(True, "build climatology.nc from the hindcasts (and the store's truth)")
    window_days: int = option(15, "pool starts within +- this many days of each start day (all years, members)",
                              low=0)
    add_to_bundle: bool = option(True, "add climatology.nc to the bundle folder (its manifest is re-signed)")


@dataclass(frozen=True)
class HindcastOptions:
    """What ``sowcast hindcast`` runs (:func:`sowcast.forecast.hindcast.run_hindcast`)."""

    bundle: Any = option(None, "bundle folder (climatology.nc is added to it) or .tar.gz archive",
                         convert=bundle_option)
    store: str | None = option(None, "canonical store with the analyses to start from (and the truth)")
    years: tuple[int, int] | None = option(None, "[first, last]; null: the bundle's training years", convert=_years)
    first: str = option("01-01", "start dates: this calendar day (MM-DD) every year ...", convert=_day_of_year)
    last: str = option("12-31", "... up to this one (before first: over the year end)", convert=_day_of_year)
    every_days: int = option(7, "... every this many days", low=1)
    members: int = option(4, "per start; member 0 unperturbed", low=1)
    lead: str = option("46D", "length of each hindcast, whole days", convert=_daily_lead)
    perturbation: Perturbation = option(Perturbation(), "as forecast.perturbation (noise seeded by the start date)")
    noise_seed: int = option(0, "stochastic bundles only: the model noise of each (start, member, step), as "
                                "forecast.noise_seed", low=0)
    noise_scale: float = option(TUNED_NOISE_SCALE, "stochastic bundles only: the model noise x this, as "
                                                   "forecast.noise_scale", convert=noise_scale_option)
    noise_memory_days: float = option(TUNED_NOISE_MEMORY_DAYS, "stochastic bundles only: the model noise's "
                                      "e-folding time in days (0: white), as forecast.noise_memory_days",
                                      convert=noise_memory_option)
    variables: tuple[str, ...] = option(DEFAULT_VARIABLES, "surface variables kept")
    threads: int = option(2, "cores for onnxruntime; 0: all cores", low=0)
    parallel: Literal["members", "intra_op"] = option(
        "members", "members: groups of starts side by side, one core each; intra_op: one call at a time on all "
                   "cores")
    batch: int = option(1, "members per onnxruntime call (above members: several starts at once); 1 costs least "
                           "per member-day (benchmarks/hindcast_batch.py)", low=1)
    precision: str = option("fp32", "model variant in the bundle: fp32 | fp16 | int8")
    trusted_keys: tuple[str, ...] | None = option((), "public key files (.pub) of the bundle signers this box "
                                                      "trusts, as forecast.trusted_keys", convert=trusted_keys)
    keep_daily: bool = option(False, "keep the daily series of every start (verification of onset needs them)")
    output: Path | None = option(Path("hindcast"), "folder; a killed run goes on from the starts not yet done")
    shard: tuple[int, int] | None = option(None, "i/n (i = 0..n-1): only every n-th start, into "
                                                 "<output>.shards/i-of-n (a SLURM array task)", convert=_shard)
    merge: bool = option(False, "true: gather the n complete shards into output, then build the climatology")
    climatology: ClimatologyOptions = option(ClimatologyOptions(), "the model climatology")

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> HindcastOptions:
        """The group parsed, with the bundle, the store and the output given, and not both
        ``merge`` and ``shard``; a one-line error otherwise."""
        options = parse(cls, section, GROUP)
        for key, what in REQUIRED.items():
            if getattr(options, key) is None:
                raise SowcastError(f"{GROUP}.{key} is not set: give {what}")
        if options.merge and options.shard is not None:
            raise SowcastError("hindcast.merge=true gathers all the shards: leave hindcast.shard unset for it")
        return options

    @property
    def lead_time(self) -> pd.Timedelta:
        return pd.Timedelta(self.lead)

    def as_config(self, model_sha256: str, years: tuple[int, int], stochastic: bool = False) -> dict[str, Any]:
        """What identifies the hindcasts (``years`` resolved: the bundle's training years by
        default; ``noise_seed`` only for a stochastic model, so a deterministic one's
        hindcasts keep their fingerprint)."""
        out = {"model_sha256": model_sha256, "store": str(Path(self.store).resolve()),
               "years": [int(years[0]), int(years[1])], "first": self.first, "last": self.last,
               "every_days": self.every_days, "members": self.members, "lead": time_step_iso(self.lead_time),
               "perturbation": self.perturbation.as_config(), "variables": list(self.variables),
               "precision": self.precision, "keep_daily": self.keep_daily}
        if stochastic:
            out["noise_seed"] = self.noise_seed
            if self.noise_scale != 1.0:  # hindcasts made before the option keep their fingerprint
                out["noise_scale"] = self.noise_scale
            if self.noise_memory_days != 0:  # nor those of white noise, made before this option
                out["noise_memory_days"] = self.noise_memory_days
        return out
