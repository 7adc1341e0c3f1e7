"""Season rules: the parameter sets behind onset, false starts, dry spells and cessation.

A rule set is a frozen :class:`SeasonRules` read from a yaml preset in
``sowcast/conf/products/rules/<name>.yaml`` (see :func:`list_presets`), from an agency's own
yaml file, or from a mapping, with optional overrides::

    rules = load_rules("agrhymet_sahel", {"onset.earliest": "05-15", "dry_day_mm": 1.0})
    rules = load_rules("path/to/my_agency.yaml")            # may say ``base: anacim``
    rules = load_rules("picsa", ["onset.lookahead_days=30"])  # command-line style

Keys (``.`` = nesting; defaults in brackets, the rest are required)::

    name, source [""]            preset name and full citation
    citation [name]              how a reader is shown the rule: "Sivakumar (1988)"
    source_fr [""]               the source in French (the French bulletin's; else ``source``)
    base                         (yaml/mapping only) start from this preset, then apply the rest
    dry_day_mm                   a day is wet if rain >= dry_day_mm, dry if below
    max_missing_fraction [0.1]   a year whose search window has more missing days is "missing"
    onset.earliest               MM-DD, first day a candidate's window may start
    onset.latest ["09-30"]       MM-DD, last day a candidate's window may end
    onset.accumulation_mm        rain over the window must be >= this ...
    onset.accumulation_days      ... over this many days
    onset.min_wet_days [1]       wet days needed in the window
    onset.first_day_wet [true]   the window's first day must be wet (in no shipped preset)
    onset.max_dry_spell_days     the look-ahead may hold no dry spell LONGER than this ...
    onset.lookahead_days         ... within this many days after the onset date (0: no check)
    onset.date_convention ["window_end"]  onset date: window_end | first_wet_day (the
                                 window's first wet day, so a spell from inside it counts)
    dry_spell_risk.days [10]     after the onset, a dry spell longer than this is a risk ...
    dry_spell_risk.lookahead_days [30]  ... within this many days after the onset date
    cessation.earliest ["09-01"] MM-DD, cessation is searched from this date
    cessation.capacity_mm [70]   soil water bucket capacity
    cessation.evaporation_mm [5] daily evaporation taken from the bucket

The cessation defaults are the AGRHYMET water balance (see :mod:`.cessation`). Every check
raises a one-line :class:`~sowcast.errors.SowcastError` naming the bad key.

Each preset's yaml quotes its published definition (Sivakumar 1988; AGRHYMET; ANACIM/ENACTS;
PICSA) and says how an ambiguous text was read; ``benchmarks/niger_onset_table.py`` checks
every preset against an independent implementation of that reading on the Niger records.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from sowcast.errors import SowcastError

DATE_CONVENTIONS = ("window_end", "first_wet_day")


def _rules_dir():
    return resources.files("sowcast") / "conf" / "products" / "rules"


def list_presets() -> list[str]:
    """Names of the presets shipped in ``sowcast/conf/products/rules/*.yaml``."""
    return sorted(p.name[:-5] for p in _rules_dir().iterdir() if p.name.endswith(".yaml"))


def month_day(value: Any, key: str) -> str:
    """Check an ``MM-DD`` date (29 Feb refused: it is not in every year); return it."""
    text = str(value).strip()
    try:
        ok = len(text) == 5 and text[2] == "-" and pd.Timestamp(f"2001-{text}").strftime("%m-%d") == text
    except ValueError:
        ok = False
    if not ok:
        raise SowcastError(f"season rules: {key} must be a date MM-DD such as 05-01 (not 29 Feb), not {value!r}")
    return text


def _number(value: Any, key: str, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise SowcastError(f"season rules: {key} must be a number, not {value!r}")
    if value < 0 or (positive and value == 0):
        raise SowcastError(f"season rules: {key} must be {'positive' if positive else '>= 0'}, not {value!r}")
    return float(value)


def _count(value: Any, key: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
        raise SowcastError(f"season rules: {key} must be a whole number of days, not {value!r}")
    if value < minimum:
        raise SowcastError(f"season rules: {key} must be >= {minimum}, not {value!r}")
    return int(value)


def _flag(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise SowcastError(f"season rules: {key} must be true or false, not {value!r}")
    return value


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)  # frozen dataclasses normalise their fields here


@dataclass(frozen=True)
class OnsetRules:
    """Onset: the first rain-condition window not followed by a long dry spell."""

    earliest: str
    accumulation_mm: float
    accumulation_days: int
    max_dry_spell_days: int
    lookahead_days: int
    latest: str = "09-30"
    min_wet_days: int = 1
    first_day_wet: bool = True
    date_convention: str = "window_end"

    def __post_init__(self):
        _set(self, "earliest", month_day(self.earliest, "onset.earliest"))
        _set(self, "latest", month_day(self.latest, "onset.latest"))
        if self.latest <= self.earliest:
            raise SowcastError(f"season rules: onset.latest {self.latest} must come after onset.earliest "
                               f"{self.earliest} in the same year")
        _set(self, "accumulation_mm", _number(self.accumulation_mm, "onset.accumulation_mm"))
        _set(self, "accumulation_days", _count(self.accumulation_days, "onset.accumulation_days", 1))
        _set(self, "min_wet_days", _count(self.min_wet_days, "onset.min_wet_days"))
        if self.min_wet_days > self.accumulation_days:
            raise SowcastError(f"season rules: onset.min_wet_days {self.min_wet_days} exceeds "
                               f"onset.accumulation_days {self.accumulation_days}")
        _set(self, "first_day_wet", _flag(self.first_day_wet, "onset.first_day_wet"))
        _set(self, "max_dry_spell_days", _count(self.max_dry_spell_days, "onset.max_dry_spell_days"))
        _set(self, "lookahead_days", _count(self.lookahead_days, "onset.lookahead_days"))
        if self.date_convention not in DATE_CONVENTIONS:
            raise SowcastError(f"season rules: onset.date_convention must be one of "
                               f"{', '.join(DATE_CONVENTIONS)}, not {self.date_convention!r}")


@dataclass(frozen=True)
class DrySpellRisk:
    """Risk after planting: a dry spell longer than ``days`` within ``lookahead_days`` of onset."""

    days: int = 10
    lookahead_days: int = 30

    def __post_init__(self):
        _set(self, "days", _count(self.days, "dry_spell_risk.days"))
        _set(self, "lookahead_days", _count(self.lookahead_days, "dry_spell_risk.lookahead_days", 1))


@dataclass(frozen=True)
class CessationRules:
    """Water-balance cessation (AGRHYMET): a bucket of ``capacity_mm`` losing ``evaporation_mm`` a day."""

    earliest: str = "09-01"
    capacity_mm: float = 70.0
    evaporation_mm: float = 5.0

    def __post_init__(self):
        _set(self, "earliest", month_day(self.earliest, "cessation.earliest"))
        _set(self, "capacity_mm", _number(self.capacity_mm, "cessation.capacity_mm", positive=True))
        _set(self, "evaporation_mm", _number(self.evaporation_mm, "cessation.evaporation_mm", positive=True))


@dataclass(frozen=True)
class SeasonRules:
    """One complete rule set (see the module docstring for every key)."""

    name: str
    dry_day_mm: float
    onset: OnsetRules
    source: str = ""
    citation: str = ""
    source_fr: str = ""
    max_missing_fraction: float = 0.1
    dry_spell_risk: DrySpellRisk = field(default_factory=DrySpellRisk)
    cessation: CessationRules = field(default_factory=CessationRules)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise SowcastError(f"season rules: name must be a non-empty string, not {self.name!r}")
        for key in ("source", "citation", "source_fr"):
            if not isinstance(getattr(self, key), str):
                raise SowcastError(f"season rules: {key} must be a string, not {getattr(self, key)!r}")
        _set(self, "dry_day_mm", _number(self.dry_day_mm, "dry_day_mm", positive=True))
        frac = _number(self.max_missing_fraction, "max_missing_fraction")
        if frac > 1:
            raise SowcastError(f"season rules: max_missing_fraction must be within [0, 1], not {frac!r}")
        _set(self, "max_missing_fraction", frac)
        if self.cessation.earliest <= self.onset.earliest:
            raise SowcastError(f"season rules: cessation.earliest {self.cessation.earliest} must come after "
                               f"onset.earliest {self.onset.earliest} in the same year")

    @property
    def label(self) -> str:
        """The rule as a reader sees it: its citation, else its name."""
        return self.citation.strip() or self.name

    def to_dict(self) -> dict[str, Any]:
        """The rules as a nested plain mapping (what :func:`rules_from_config` reads)."""
        return dataclasses.asdict(self)


_SECTIONS = {"onset": OnsetRules, "dry_spell_risk": DrySpellRisk, "cessation": CessationRules}
_TOP = [f.name for f in dataclasses.fields(SeasonRules) if f.name not in _SECTIONS]
KNOWN_KEYS = tuple(_TOP + [f"{s}.{f.name}" for s, cls in _SECTIONS.items() for f in dataclasses.fields(cls)])
_REQUIRED = tuple(f"{s}.{f.name}" if s else f.name
                  for s, cls in [("", SeasonRules), *_SECTIONS.items()] for f in dataclasses.fields(cls)
                  if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                  and f.name not in _SECTIONS)


def _flatten(mapping: Mapping, what: str, prefix: str = "") -> dict[str, Any]:
    """Nested and/or dotted keys -> {"onset.earliest": ...}; unknown keys are errors."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        full = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, what, full + "."))
            continue
        if full not in KNOWN_KEYS:
            close = difflib.get_close_matches(full, KNOWN_KEYS, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(KNOWN_KEYS)}"
            raise SowcastError(f"{what}: unknown season rule key {full!r} ({hint})")
        flat[full] = value
    return flat


def _parse_overrides(overrides: Mapping | Sequence[str] | None) -> dict[str, Any]:
    if overrides is None:
        return {}
    if isinstance(overrides, Mapping):
        return _flatten(overrides, "season rule overrides")
    if isinstance(overrides, str):
        overrides = [overrides]
    parsed: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = str(item).partition("=")
        if not sep or not key.strip():
            raise SowcastError(f"season rule override {item!r} must read key=value, e.g. onset.earliest=05-15")
        try:
            parsed[key.strip()] = yaml.safe_load(raw) if raw.strip() else raw
        except yaml.YAMLError:
            parsed[key.strip()] = raw
    return _flatten(parsed, "season rule overrides")


def _read_yaml(path: Path | Any, what: str) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SowcastError(f"cannot read {what} {path}: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise SowcastError(f"{what} {path} must hold a mapping of season rule keys")
    return data


def _preset_mapping(name: str) -> dict:
    if name not in list_presets():
        raise SowcastError(f"unknown season rules preset {name!r} (presets: {', '.join(list_presets())}; "
                           "or give the path of a yaml file)")
    return _read_yaml(_rules_dir() / f"{name}.yaml", "season rules preset")


def _resolve(mapping: Mapping, what: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """A mapping's flat keys, on top of its ``base`` preset's if it names one."""
    mapping = dict(mapping)
    base = mapping.pop("base", None)
    flat = _flatten(mapping, what)
    if base is None:
        return flat
    if not isinstance(base, str) or base in seen:
        raise SowcastError(f"{what}: base must name a preset (and not loop), not {base!r}")
    return {**_resolve(_preset_mapping(base), f"preset {base}", (*seen, base)), **flat}


def _build(flat: dict[str, Any], what: str) -> SeasonRules:
    missing = [k for k in _REQUIRED if k not in flat]
    if missing:
        raise SowcastError(f"{what}: missing season rule key(s) {', '.join(missing)}")
    sections = {s: cls(**{k.split(".", 1)[1]: v for k, v in flat.items() if k.startswith(s + ".")})
                for s, cls in _SECTIONS.items()}
    top = {k: v for k, v in flat.items() if "." not in k}
    return SeasonRules(**top, **sections)


def rules_from_config(mapping: Mapping) -> SeasonRules:
    """Rules from a nested mapping (a preset's content, or one with ``base: <preset>``)."""
    if not isinstance(mapping, Mapping):
        raise SowcastError(f"season rules must be a mapping of keys, not {type(mapping).__name__}")
    return _build(_resolve(mapping, "season rules"), "season rules")


def load_rules(preset_or_mapping: str | os.PathLike | Mapping | SeasonRules,
               overrides: Mapping | Sequence[str] | None = None) -> SeasonRules:
    """Rules from a preset name, a yaml path, a mapping or a SeasonRules, then ``overrides``.

    ``overrides``: nested or dotted keys (``{"onset.earliest": "05-15"}``) or ``key=value``
    strings. The result's ``name`` is kept unless overridden.
    """
    src = preset_or_mapping
    if isinstance(src, SeasonRules):
        base, what = src.to_dict(), f"season rules {src.name}"
    elif isinstance(src, Mapping):
        base, what = dict(src), "season rules"
    elif isinstance(src, (str, os.PathLike)):
        text = os.fspath(src)
        if text.endswith((".yaml", ".yml")) or os.sep in text or Path(text).is_file():
            path = Path(text).expanduser()
            if not path.is_file():
                raise SowcastError(f"no season rules file at {path}")
            base, what = _read_yaml(path, "season rules file"), f"season rules file {path}"
        else:
            base, what = _preset_mapping(text), f"season rules preset {text}"
    else:
        raise SowcastError(f"season rules must be a preset name, a yaml path or a mapping, "
                           f"not {type(src).__name__}")
    flat = {**_resolve(base, what), **_parse_overrides(overrides)}
    return _build(flat, what)
