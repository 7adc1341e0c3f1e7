"""The ``bulletin:`` config group (conf/bulletin/default.yaml) as one typed schema.

Each field's default is written here once and equals the YAML's (tests/test_option_defaults.py);
:func:`sowcast.options.parse` checks types, bounds and unknown keys; :meth:`BulletinOptions.from_config`
adds the rest of what the stage needs before it starts. Errors are one line naming ``bulletin.<key>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from sowcast.errors import SowcastError
from sowcast.options import option, parse

GROUP = "bulletin"
Format = Literal["html", "pdf", "sms"]
LISTS = ("languages", "formats", "map_weeks", "rain_periods")


@dataclass(frozen=True)
class Agency:
    """Who issues the bulletin."""

    name: str = option("National Meteorological Agency", "shown in the bulletin")
    signature: str | None = option("NMA", "ends each SMS (\"... -NMA\"); keep it short; null: the name")


def _agency(value: Any, key: str) -> Agency:
    """A mapping {name, signature}, or the name alone; the signature is the name where not
    given; a one-line error without a name."""
    value = {"name": value} if isinstance(value, str) else value
    if isinstance(value, Mapping) and "signature" not in value:
        value = {**value, "signature": None}
    agency = parse(Agency, value, key)
    name = agency.name.strip()
    if not name:
        raise SowcastError(f"{key}.name is not set: the agency's name shown in the bulletin")
    return Agency(name, str(agency.signature or name).strip())


@dataclass(frozen=True)
class BulletinOptions:
    """What ``sowcast bulletin`` makes, from what (sowcast/bulletin/stage.py)."""

    products: Path | None = option(Path("products"), "the folder written by 'sowcast products'")
    scorecard: Path | None = option(None, "a 'sowcast verify' folder (scores.csv, summary.json) for the skill "
                                          "statement; null: the products' scorecard (the bundle's, 'sowcast verify "
                                          "verify.bundle=...'), and without one the bulletin says the skill is not "
                                          "yet assessed")
    languages: tuple[str, ...] = option(("en", "fr"), "catalogues under sowcast/bulletin/locales or catalogue_dir")
    agency: Agency = field(default_factory=Agency, metadata={"doc": "the issuing agency (or its name alone)",
                                                             "convert": _agency})
    catalogue_dir: Path | None = option(None, "folder <lang>/LC_MESSAGES/sowcast.po: more languages, or the "
                                              "agency's own wording")
    output: Path = option(Path("bulletin"), "folder (replaced as a whole): bulletin_<lang>.html/.pdf, sms.csv, "
                                            "advice.csv, maps/, bulletin.json")
    formats: tuple[Format, ...] = option(("html", "pdf", "sms"), "what to write for each language")
    map_weeks: tuple[int, ...] = option((2, 4), "onset maps: chance that the rains have started by the end of "
                                                "these weeks", low=1)
    rain_periods: tuple[str, ...] = option(("week1", "week2", "weeks3-4", "weeks5-6"),
                                           "rain tercile maps (periods of weekly.nc)")
    dpi: int = option(120, "resolution of the map and chart images", low=50, high=400)

    @classmethod
    def parse(cls, section: Mapping[str, Any] | None) -> BulletinOptions:
        """The group parsed (:func:`sowcast.options.parse`): types, bounds, unknown keys."""
        return parse(cls, section, GROUP)

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> BulletinOptions:
        """The group parsed, with the products folder set and each list non-empty and without
        repeats (languages stripped of spaces); a one-line error otherwise."""
        options = cls.parse(section)
        if options.products is None:
            raise SowcastError(f"{GROUP}.products is not set: give the folder written by 'sowcast products'")
        lists = {}
        for key in LISTS:
            values = getattr(options, key)
            if not values:
                raise SowcastError(f"{GROUP}.{key} must be a list, not {list(values)!r}")
            lists[key] = tuple(dict.fromkeys(v.strip() if key == "languages" else v for v in values))
        return replace(options, **lists)
