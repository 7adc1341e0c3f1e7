"""sowcast.options: a config group parsed once into a frozen dataclass, one-line errors naming
the key, and the help text written from the same fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from omegaconf import OmegaConf

from sowcast.errors import SowcastError
from sowcast.options import as_plain, default_mismatches, describe, is_null, option, parse


def _hhmm(value: Any, key: str) -> tuple[int, int]:
    hours, _, minutes = str(value).partition(":")
    if not (hours.isdigit() and minutes.isdigit()):
        raise SowcastError(f"{key} must be HH:MM, not {value!r}")
    return int(hours), int(minutes)


@dataclass(frozen=True)
class Schedule:
    daily_at: tuple[int, int] | None = option(None, "a UTC time HH:MM", convert=_hhmm)


@dataclass(frozen=True)
class Example:
    output: Path = option(Path("out"), "where it goes")
    overwrite: bool = option(False, "replace the output")
    members: int = option(16, "ensemble members", low=1)
    ridge: float = option(1.0, "prior weight", low=0.0)
    floor: float = field(default=0.02, metadata={"doc": "probability floor", "low": 0, "high": 0.3})
    threads: int | Literal["auto"] = option("auto", "threads or auto", low=1)
    lead: str = option("46D", "forecast length")
    store: Path | None = option(None, "a store")
    region: tuple[float, float, float, float] | None = option(None, "[lat_min, lat_max, lon_min, lon_max]")
    languages: tuple[str, ...] = option(("en", "fr"), "languages")
    weights: dict[str, float] = option({}, "prefix -> weight")
    rules: Any = option("sivakumar1988", "a name or a mapping")
    schedule: Schedule = field(default_factory=Schedule, metadata={"doc": "when to run"})


def test_defaults_when_the_section_is_empty_or_null():
    assert parse(Example, {}, "ex") == Example() == parse(Example, None, "ex")
    assert Example().weights == {} and Example().weights is not Example().weights  # a fresh dict each


def test_values_as_omegaconf_gives_them_are_coerced():
    cfg = OmegaConf.create({"ex": {"output": "~/fc", "overwrite": "no", "members": "8", "ridge": 2,
                                   "threads": 4, "store": "null", "region": [8, 16, -18, 16],
                                   "languages": "fr", "weights": {"total_precipitation": "2"},
                                   "rules": {"name": "anacim"}, "schedule": {"daily_at": "06:30"},
                                   "lead": 30}})
    ex = parse(Example, cfg.ex, "ex")
    assert ex.output == Path("~/fc").expanduser() and ex.overwrite is False and ex.members == 8
    assert ex.ridge == 2.0 and isinstance(ex.ridge, float) and ex.threads == 4 and ex.store is None
    assert ex.region == (8.0, 16.0, -18.0, 16.0) and ex.languages == ("fr",)
    assert ex.weights == {"total_precipitation": 2.0} and ex.rules == {"name": "anacim"}
    assert ex.schedule == Schedule(daily_at=(6, 30)) and ex.lead == "30"
    assert parse(Example, {"threads": "AUTO", "overwrite": "Yes"}, "ex").threads == "auto"


def test_interpolations_are_resolved_before_parsing():
    cfg = OmegaConf.create({"root": "data/demo", "ex": {"output": "${root}/fc", "members": "${n}"}, "n": 4})
    ex = parse(Example, cfg.ex, "ex")
    assert ex.output == Path("data/demo/fc") and ex.members == 4


@pytest.mark.parametrize("value", [None, "", "None", " null ", "NULL"])
def test_null_is_decided_in_one_place(value):
    assert is_null(value)
    assert parse(Example, {"store": value}, "ex").store is None
    assert parse(Example, {"schedule": value}, "ex").schedule == Schedule()


@pytest.mark.parametrize("value", ["nul", "0", 0, False, [], "none of it"])
def test_not_null(value):
    assert not is_null(value)


@pytest.mark.parametrize("section, message", [
    ({"nonsense": 1}, "unknown option ex.nonsense; known: output, overwrite, members, ridge, floor, threads, lead, "
                      "store, region, languages, weights, rules, schedule"),
    ({"zz": 1, "aa": 2}, "unknown options ex.aa, ex.zz; known: output,"),
    ({"overwrite": "maybe"}, "ex.overwrite must be true or false (or yes/no, on/off, 1/0), not 'maybe'"),
    ({"overwrite": None}, "ex.overwrite must be set, not null"),
    ({"members": 0}, "ex.members must be at least 1, not 0"),
    ({"members": 1.5}, "ex.members must be a whole number, not 1.5"),
    ({"floor": 0.5}, "ex.floor must be between 0 and 0.3, not 0.5"),
    ({"ridge": "much"}, "ex.ridge must be a number, not 'much'"),
    ({"threads": "many"}, "ex.threads must be whole number >= 1 or auto, not 'many'"),
    ({"threads": 0}, "ex.threads must be whole number >= 1 or auto, not 0"),
    ({"region": [1, 2]}, "ex.region must be a list of 4 values, not [1, 2]"),
    ({"region": [1, 2, 3, "x"]}, "ex.region[3] must be a number, not 'x'"),
    ({"lead": [1]}, "ex.lead must be text, not [1]"),
    ({"output": ["a"]}, "ex.output must be a path, not ['a']"),
    ({"weights": [1]}, "ex.weights must be a mapping, not [1]"),
    ({"weights": {"t": "heavy"}}, "ex.weights.t must be a number, not 'heavy'"),
    ({"schedule": {"daily_at": "noon"}}, "ex.schedule.daily_at must be HH:MM, not 'noon'"),
    ({"schedule": {"weekly": 1}}, "unknown option ex.schedule.weekly; known: daily_at"),
])
def test_bad_values_are_one_line_errors_naming_the_key(section, message):
    with pytest.raises(SowcastError) as info:
        parse(Example, section, "ex")
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_a_field_without_default_is_required():
    @dataclass(frozen=True)
    class Needs:
        bundle: Path = option(doc="the bundle")

    assert parse(Needs, {"bundle": "b"}, "n").bundle == Path("b")
    with pytest.raises(SowcastError, match=r"^n.bundle is not set$"):
        parse(Needs, {}, "n")


def test_the_top_level_group_has_no_prefix():
    with pytest.raises(SowcastError, match=r"^overwrite must be true or false"):
        parse(Example, {"overwrite": "2"}, "")


def test_describe_lists_every_option_with_default_doc_and_type():
    text = describe(Example, "ex")
    lines = text.splitlines()
    assert lines[0] == "ex:" and all(len(line) <= 100 for line in lines)
    row = {line.split(":")[0].strip(): line for line in lines[1:] if not line.strip().startswith("#")}
    assert set(row) == {"output", "overwrite", "members", "ridge", "floor", "threads", "lead", "store", "region",
                        "languages", "weights", "rules", "schedule", "daily_at"}
    assert row["members"].startswith("  members: 16") and row["members"].endswith("# ensemble members <whole number >= 1>")
    assert row["overwrite"].endswith("# replace the output <true/false>") and "overwrite: false" in row["overwrite"]
    assert row["floor"].endswith("<number in [0, 0.3]>") and "store: null" in row["store"]
    assert "languages: [en, fr]" in row["languages"] and "weights: {}" in row["weights"]
    assert row["daily_at"].startswith("    daily_at: null") and row["daily_at"].endswith("# a UTC time HH:MM")
    assert "threads: auto" in row["threads"] and "<whole number >= 1 or auto>" in row["threads"]
    assert row["lead"].endswith("# forecast length")  # text goes without saying
    assert describe(Example, "ex", ("lead",)).splitlines() == ["ex:", "  lead: 46D  # forecast length"]


def test_describe_wraps_long_docs_under_the_comment_column():
    @dataclass(frozen=True)
    class Long:
        k: int = option(1, "word " * 40)

    lines = describe(Long, "g").splitlines()
    assert len(lines) > 2 and all(len(line) <= 100 for line in lines)
    assert lines[1].startswith("  k: 1  # word") and all(line.startswith(" " * 8 + "# word") for line in lines[2:])


def test_default_mismatches_names_each_difference():
    assert default_mismatches(Example, {"output": "out", "members": 16, "threads": "auto", "lead": "${x}"}, "ex") == {
        f"ex.{k}": ("(absent)", v) for k, v in (("overwrite", False), ("ridge", 1.0), ("floor", 0.02), ("store", None),
                                                 ("region", None), ("languages", ["en", "fr"]), ("weights", {}),
                                                 ("rules", "sivakumar1988"), ("schedule", {"daily_at": None}))}
    full = {**as_plain(Example()), "members": 8}
    assert default_mismatches(Example, full, "ex") == {"ex.members": (8, 16)}


def test_describe_shows_the_keys_of_a_mapping_parsed_by_an_options_class():
    def parse_step(value: Any, key: str) -> dict:
        return {k: v for k, v in as_plain(parse(Schedule, value, key)).items() if k in value}

    @dataclass(frozen=True)
    class Outer:
        step: dict = option({"daily_at": None}, "the step", convert=parse_step, options=Schedule)

    assert parse(Outer, {"step": {"daily_at": "6:05"}}, "o").step == {"daily_at": [6, 5]}
    assert describe(Outer, "o").splitlines()[1:] == ["  step:             # the step",
                                                     "    daily_at: null  # a UTC time HH:MM"]


def test_the_type_text_says_each_alternative_once_at_its_own_level():
    """``list[str | None] | None`` (ingest.time_range): the items may be null, and so may the
    list; the help says so once each, the items' alternatives kept apart in parentheses."""
    @dataclass(frozen=True)
    class Span:
        time_range: list[str | None] | None = option(None, "[start, end]")
        limits: dict[str, int | None] = option({}, "per variable")
        levels: list[float] | None = option(None, "levels")

    rows = describe(Span, "s").splitlines()
    assert rows[1].endswith("# [start, end] <list of (text or null) or null>")
    assert rows[2].endswith("# per variable <mapping to (whole number or null)>")
    assert rows[3].endswith("# levels <list of number or null>")
    assert "null or null" not in "\n".join(rows)
    assert parse(Span, {"time_range": [None, "2010"]}, "s").time_range == [None, "2010"]
