"""Mapping source variable names to the canonical (WeatherBench 2) names.

A source variable gets its canonical name from, in this order:

1. the config's ``rename`` map (source name -> canonical name), which always wins;
2. its own name if it is canonical already (WB2 zarr maps by identity);
3. the alias tuples of :data:`sowcast.data.schema.CANONICAL_VARIABLES` (ERA5 short names
   ``t2m``, ``tp``, ``z``, ``t``; GRIB ``shortName`` such as ``2t``; CMIP ``pr``, ``tas``;
   CHIRPS ``precip``; NCEP ``air``...), matched exactly, then ignoring case;
4. its CF ``standard_name``, where that names exactly one canonical variable of the
   right kind (with or without pressure levels; ``cell_methods`` picks max/min).

Names of pressure-level and single-level quantities overlap: NCEP ``air`` and ERA5 ``t``
are alias of ``temperature``, which lives on pressure levels. A variable that maps to a
pressure-level quantity but has no vertical dim is the near-surface one (``temperature``
-> ``2m_temperature``, ``u_component_of_wind`` -> ``10m_u_component_of_wind``...): the
small NCEP file's ``air`` is "Air temperature at sigma level 995" (``level_desc:
Surface``), about 40 m above ground, the NCEP stand-in for 2 m temperature. Conversely a
single-level name on pressure levels becomes its level quantity (NCEP ``hgt``, geopotential
height, -> ``geopotential``, converted from gpm by :mod:`sowcast.data.units`).

Variables that map to nothing are dropped (bounds, ``time_bnds``, ``expver``...). Where
several map to one canonical name, an explicit ``rename`` wins, and among accumulations
the one over the data's own step (WB2's 6-hourly archive has ``total_precipitation_6hr``
beside ``_24hr``); anything else is an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pandas as pd
import xarray as xr

from sowcast.data.schema import CANONICAL_VARIABLES
from sowcast.errors import SowcastError

# Pressure-level quantity -> the same quantity near the surface, and back.
SURFACE_COUNTERPART = {
    "temperature": "2m_temperature",
    "specific_humidity": "2m_specific_humidity",
    "relative_humidity": "relative_humidity_2m",
    "u_component_of_wind": "10m_u_component_of_wind",
    "v_component_of_wind": "10m_v_component_of_wind",
}
LEVEL_COUNTERPART = {v: k for k, v in SURFACE_COUNTERPART.items()} | {"orography": "geopotential"}


def _alias_index() -> tuple[dict[str, str], dict[str, str]]:
    exact: dict[str, str] = {}
    folded: dict[str, str] = {}
    for var in CANONICAL_VARIABLES.values():
        for alias in (var.name, *var.aliases):
            exact.setdefault(alias, var.name)
            folded.setdefault(alias.lower(), var.name)
    return exact, folded


def _by_alias(candidates: list[str]) -> str | None:
    exact, folded = _alias_index()
    for name in candidates:
        if name in exact:
            return exact[name]
    for name in candidates:
        if name.lower() in folded:
            return folded[name.lower()]
    return None


def _by_standard_name(da: xr.DataArray, has_level: bool) -> str | None:
    std = da.attrs.get("standard_name")
    if not std or std == "unknown":
        return None
    matches = [v.name for v in CANONICAL_VARIABLES.values()
               if (v.standard_name == std or std in v.aliases) and v.has_level == has_level]
    if len(matches) > 1:
        methods = str(da.attrs.get("cell_methods", ""))
        if "maximum" in methods:
            matches = [m for m in matches if m.startswith("maximum_")]
        elif "minimum" in methods:
            matches = [m for m in matches if m.startswith("minimum_")]
        else:
            matches = [m for m in matches if not m.startswith(("maximum_", "minimum_"))]
    return matches[0] if len(matches) == 1 else None


def canonical_name(name: str, da: xr.DataArray, rename: Mapping[str, str] | None = None) -> str | None:
    """The canonical name of source variable ``name`` (see module doc), or None."""
    rename = dict(rename or {})
    has_level = "level" in da.dims
    if name in rename:
        target = str(rename[name])
        if target not in CANONICAL_VARIABLES:
            known = ", ".join(sorted(CANONICAL_VARIABLES))
            raise SowcastError(
                f"ingest.rename maps {name!r} to {target!r}, which is not a canonical name; known: {known}")
        return target
    candidates = [name] + [str(da.attrs[k]) for k in ("GRIB_shortName", "GRIB_cfVarName") if k in da.attrs]
    found = _by_alias(candidates) or _by_standard_name(da, has_level)
    if found is None:
        return None
    var = CANONICAL_VARIABLES[found]
    if var.has_level and not has_level and found in SURFACE_COUNTERPART:
        return SURFACE_COUNTERPART[found]
    if not var.has_level and has_level and found in LEVEL_COUNTERPART:
        return LEVEL_COUNTERPART[found]
    return found


def _accumulation_hours(name: str) -> int | None:
    """6 for WeatherBench 2's ``total_precipitation_6hr``; None without such a suffix."""
    m = re.search(r"_(\d+)hr?$", name)
    return int(m.group(1)) if m else None


def _pick(target: str, names: list[str], rename: Mapping[str, str], step: pd.Timedelta | None,
          what: str) -> str:
    """One source variable among several that map to ``target``.

    An explicit ``rename`` wins; else, for accumulations such as WB2's
    ``total_precipitation`` / ``_6hr`` / ``_24hr``, the one summed over the data's own step.
    """
    explicit = [n for n in names if n in rename]
    if len(explicit) == 1:
        return explicit[0]
    if step is not None and CANONICAL_VARIABLES[target].kind == "accumulation":
        hours = step / pd.Timedelta(hours=1)
        match = [n for n in names if _accumulation_hours(n) == hours]
        if not match and hours == 1:
            match = [n for n in names if _accumulation_hours(n) is None]
        if len(match) == 1:
            return match[0]
    raise SowcastError(
        f"{what}: {', '.join(map(repr, names))} all map to {target!r}; "
        f"choose one with ingest.rename, e.g. {{{names[0]}: {target}}}"
    )


def rename_variables(ds: xr.Dataset, rename: Mapping[str, str] | None = None, what: str = "source",
                     step: pd.Timedelta | None = None) -> tuple[xr.Dataset, dict[str, str]]:
    """Keep the variables that map to canonical names, renamed; returns (dataset, new -> old).

    ``step`` (the data's time step, if known) settles which of several accumulations is meant.
    """
    rename = dict(rename or {})
    candidates: dict[str, list[str]] = {}
    for name in ds.data_vars:
        target = canonical_name(str(name), ds[name], rename)
        if target is not None:
            candidates.setdefault(target, []).append(str(name))
    mapping = {t: names[0] if len(names) == 1 else _pick(t, names, rename, step, what)
               for t, names in candidates.items()}
    if not mapping:
        found = ", ".join(map(str, ds.data_vars)) or "none"
        raise SowcastError(
            f"{what}: no variable maps to a canonical name (found: {found}); "
            f"name them with ingest.rename, e.g. {{precip: total_precipitation}}"
        )
    out = ds[list(mapping.values())].rename({old: new for new, old in mapping.items() if old != new})
    return out, mapping
