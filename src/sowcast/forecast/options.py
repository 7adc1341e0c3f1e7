"""The ``forecast:`` config group (conf/forecast/default.yaml) as one typed schema.

Each field's default is written here once and equals the YAML's
(tests/forecast/test_forecast_options.py); :func:`sowcast.options.parse` checks types, bounds
and unknown keys, :meth:`ForecastOptions.from_config` that the bundle, the initial conditions
and the output are given. Errors are one line naming ``forecast.<key>``. What each option does:
:mod:`sowcast.forecast.engine`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from sowcast.bundle.signature import trusted_keys_option
from sowcast.config_values import whole
from sowcast.data.schema import time_step_iso
from sowcast.errors import SowcastError
from sowcast.forecast.ensemble import Perturbation
from sowcast.forecast.model_noise import (TUNED_NOISE_MEMORY_DAYS, TUNED_NOISE_SCALE, noise_memory_option,
                                         noise_scale_option)
from sowcast.options import option, parse

GROUP = "forecast"
ZARR_SUFFIXES = (".zarr",)
NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf")
REQUIRED = {"bundle": "the bundle folder or .tar.gz archive",
            "init": "a canonical store or a netCDF/GRIB analysis file",
            "output": "a .zarr or .nc path"}


def bundle_option(value: Any, key: str) -> Any:
    """A bundle path as text, or an already loaded bundle (library use) as it is."""
    return str(value) if isinstance(value, (str, os.PathLike)) else value


def lead_option(value: Any, key: str) -> str:
    """A positive duration as pandas reads it (``46D``, ``240h``), kept as written."""
    text = str(value).strip()
    try:
        lead = pd.Timedelta(text)
    except ValueError:
        raise SowcastError(f"{key} {value!r} is not a duration such as 46D or 240h") from None
    if lead <= pd.Timedelta(0):
        raise SowcastError(f"{key} must be positive, not {value!r}")
    return text


def trusted_keys(value: Any, key: str) -> tuple[str, ...]:
    """Public key files (.pub), each read now (:func:`sowcast.bundle.signature.trusted_keys_option`)."""
    return trusted_keys_option(value, key)


def _forecast_output(value: Any, key: str) -> Path:
    output = Path(os.path.expanduser(str(value)))
    if output.suffix.lower() not in ZARR_SUFFIXES + NETCDF_SUFFIXES:
        raise SowcastError(f"{key} {output} must end in .zarr or .nc")
    return output


def _batch(value: Any, key: str) -> int | None:
    if isinstance(value, str) and value.strip().lower() == "all":
        return None
    return whole(value, key, 1)


@dataclass(frozen=True)
class LaggedStarts:
    """``forecast.lagged``: earlier analyses as extra starts (:mod:`sowcast.forecast.ensemble`)."""

    n: int = option(0, "extra starts from earlier analyses, each with 'members' members", low=0)
    spacing: int = option(1, "steps between lagged starts", low=1)


@dataclass(frozen=True)
class ForecastOptions:
    """What ``sowcast forecast`` runs (:func:`sowcast.forecast.engine.run_forecast`)."""

    bundle: Any = option(None, "bundle folder or .tar.gz archive (from 'sowcast export')", convert=bundle_option)
    init: str | None = option(None, "initial conditions: a canonical store, or a netCDF/GRIB analysis file")
    init_time: str | None = option(None, "the last input time, e.g. \"2024-05-01\"; null: the latest in init")
    lead: str = option("46D", "forecast length (46D, 240h); a whole multiple of the bundle's time step",
                       convert=lead_option)
    members: int = option(16, "members per start; member 0 is the control (no initial perturbation)", low=1)
    perturbation: Perturbation = option(Perturbation(), "initial perturbations, on top of a stochastic model's own spread (sowcast/forecast/ensemble.py)")
    noise_seed: int = option(0, "stochastic bundles (manifest model.noise) only: member m of the start at time "
                                "t draws step k's model noise from numpy default_rng([noise_seed, t as "
                                "YYYYMMDDhhmm, m, k, 0x6e6f6973]) (sowcast/forecast/model_noise.py)", low=0)
    noise_scale: float = option(TUNED_NOISE_SCALE, "stochastic bundles only: the model noise x this at every step "
                                                   "(1: as trained; 1.3 tuned on the demo's training years, "
                                                   "sowcast/forecast/model_noise.py); > 0",
                                convert=noise_scale_option)
    noise_memory_days: float = option(TUNED_NOISE_MEMORY_DAYS, "stochastic bundles only: the e-folding time in days "
                                      "of a member's model noise, red in time (z_k = phi z_k-1 + sqrt(1 - phi^2) "
                                      "e_k, phi = exp(-step / this); 0: white, each step's draw independent; "
                                      "sowcast/forecast/model_noise.py); >= 0", convert=noise_memory_option)
    lagged: LaggedStarts = option(LaggedStarts(), "lagged starts")
    threads: int = option(2, "cores for onnxruntime (power budget); 0: all cores", low=0)
    inter_op_threads: int = option(1, "onnxruntime inter_op_num_threads", low=0)
    spinning: bool = option(False, "let idle onnxruntime threads spin (faster, burns power)")
    parallel: Literal["members", "intra_op"] = option(
        "members", "members: batches side by side, one core each (needs >= 2 batches); intra_op: one batch at "
                   "a time on all cores (sowcast/forecast/member_threads.py)")
    batch: int | None = option(1, "members per onnxruntime call: the fewer, the less memory, and 1 is no slower "
                                  "(global 1.5 deg, mesh level 5, 16 members: peak 1.1 GiB at 1, 3.0 GiB at 4); "
                                  "null or all: all, a whole number >= 1",
                               convert=_batch)
    output: Path | None = option(Path("forecast.zarr"), ".zarr or .nc; the state is saved in <output>.partial/",
                          convert=_forecast_output)
    checkpoint_every: int = option(5, "steps between saved rollout states", low=1)
    precision: str = option("fp32", "model variant in the bundle: fp32 | fp16 | int8")
    trusted_keys: tuple[str, ...] | None = option(
        (), "public key files (.pub) of the bundle signers this box trusts; when set, a bundle not signed by "
            "one of them is refused. [] or null: unsigned bundles accepted (a signed one must still verify). See "
            "deploy/edge/README.md", convert=trusted_keys)

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> ForecastOptions:
        """The group parsed, with the bundle and the initial conditions given; a one-line error otherwise."""
        options = parse(cls, section, GROUP)
        for key, what in REQUIRED.items():
            if getattr(options, key) is None:
                raise SowcastError(f"{GROUP}.{key} is not set: give {what}")
        return options

    @property
    def lead_time(self) -> pd.Timedelta:
        return pd.Timedelta(self.lead)

    @property
    def is_netcdf(self) -> bool:
        return self.output.suffix.lower() in NETCDF_SUFFIXES

    def as_config(self) -> dict[str, Any]:
        """The options as the plain config they came from (for the provenance attribute)."""
        return {
            "bundle": self.bundle if isinstance(self.bundle, str) else str(getattr(self.bundle, "path", "")),
            "init": self.init, "output": str(self.output),
            "init_time": None if self.init_time is None else str(self.init_time),
            "lead": time_step_iso(self.lead_time), "members": self.members,
            "perturbation": self.perturbation.as_config(), "noise_seed": self.noise_seed,
            "noise_scale": self.noise_scale, "noise_memory_days": self.noise_memory_days,
            "lagged": {"n": self.lagged.n, "spacing": self.lagged.spacing},
            "threads": self.threads, "inter_op_threads": self.inter_op_threads, "spinning": self.spinning,
            "parallel": self.parallel, "batch": self.batch, "checkpoint_every": self.checkpoint_every,
            "precision": self.precision,
        }
