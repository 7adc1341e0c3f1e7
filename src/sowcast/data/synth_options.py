"""The ``data.synth:`` config (conf/data/demo.yaml) as an options class (:mod:`sowcast.options`);
the defaults equal the YAML's (tests/test_option_defaults.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sowcast.options import option, parse

GROUP = "data.synth"


@dataclass(frozen=True)
class SynthOptions:
    """The synthetic West African monsoon written by ``sowcast data synth``."""

    output: Path = option(Path("data/demo/raw"), "folder of raw yearly netCDF files")
    seed: int = option(0, "the whole synthetic record follows from it", low=0)
    start: str = option("1991-01-01", "first day (YYYY-MM-DD)")
    end: str = option("2010-12-31", "last day (YYYY-MM-DD)")
    grid: dict[str, Any] = option({"lat_min": -2.0, "lat_max": 24.0, "lon_min": -20.0, "lon_max": 16.0,
                                   "resolution": 1.0},
                                  "{lat_min, lat_max, lon_min, lon_max, resolution} or {global: true, resolution}")

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> SynthOptions:
        """The group parsed (:func:`sowcast.options.parse`); errors name ``data.synth.<key>``."""
        return parse(cls, section, GROUP)
