"""Season rule presets, overrides, agency yaml files and one-line errors (sowcast.products.season_rules)."""

from __future__ import annotations

import dataclasses
import re
from importlib import resources

import pytest
import yaml

from sowcast.errors import SowcastError
from sowcast.products.season_rules import (
    KNOWN_KEYS,
    SeasonRules,
    list_presets,
    load_rules,
    rules_from_config,
)

PRESETS = ["agrhymet_sahel", "anacim", "picsa", "sivakumar1988"]


def flat(mapping, prefix=""):
    out = {}
    for k, v in mapping.items():
        out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def test_presets_are_listed_and_load():
    assert list_presets() == PRESETS
    for name in PRESETS:
        rules = load_rules(name)
        assert isinstance(rules, SeasonRules) and rules.name == name and len(rules.source) > 50


@pytest.mark.parametrize("name", PRESETS)
def test_every_parameter_is_written_out_with_a_comment(name):
    path = resources.files("sowcast") / "conf" / "products" / "rules" / f"{name}.yaml"
    text = path.read_text()
    assert set(flat(yaml.safe_load(text))) == set(KNOWN_KEYS)
    lines = text.splitlines()
    for before, line in zip(["#"] + lines, lines):
        leaf = re.match(r"^\s*([a-z_]+): +[^\s>]", line)
        if leaf and leaf.group(1) not in ("name", "source"):
            assert "#" in line or before.startswith("#"), f"{name}: no comment on {line!r}"


def test_presets_differ_as_specified():
    siv, agr, ana, pic = (load_rules(n) for n in ("sivakumar1988", "agrhymet_sahel", "anacim", "picsa"))
    assert (siv.dry_day_mm, siv.onset.earliest, siv.onset.accumulation_mm, siv.onset.accumulation_days,
            siv.onset.max_dry_spell_days, siv.onset.lookahead_days) == (0.1, "05-01", 20, 3, 7, 30)
    assert (agr.dry_day_mm, agr.onset.accumulation_mm, agr.onset.accumulation_days,
            agr.onset.max_dry_spell_days, agr.onset.lookahead_days) == (0.85, 20, 3, 20, 30)
    assert (agr.cessation.earliest, agr.cessation.capacity_mm, agr.cessation.evaporation_mm) == ("09-01", 70, 5)
    assert (ana.dry_day_mm, ana.onset.max_dry_spell_days, ana.onset.lookahead_days) == (1.0, 6, 21)
    assert (ana.onset.accumulation_mm, ana.onset.accumulation_days, ana.onset.date_convention) == (20, 3, "first_wet_day")
    assert (pic.onset.max_dry_spell_days, pic.onset.lookahead_days, pic.onset.accumulation_days) == (9, 21, 2)
    assert pic.onset.date_convention == "window_end" and pic.dry_day_mm == 0.85
    assert siv.cessation == ana.cessation == agr.cessation  # AGRHYMET balance where none is defined
    assert all(r.onset.latest == "09-30" and r.max_missing_fraction == 0.1 for r in (siv, agr, ana, pic))
    # No published definition asks for a wet first day in the window (issue 15).
    assert not any(r.onset.first_day_wet for r in (siv, agr, ana, pic))
    assert [r.onset.date_convention for r in (siv, agr, ana)] == ["first_wet_day"] * 3


def test_overrides_nested_dotted_and_command_line():
    base = load_rules("anacim")
    a = load_rules("anacim", {"onset": {"earliest": "05-15"}, "dry_day_mm": 1.1})
    b = load_rules("anacim", {"onset.earliest": "05-15", "dry_day_mm": 1.1})
    c = load_rules("anacim", ["onset.earliest=05-15", "dry_day_mm=1.1"])
    assert a == b == c and a.onset.earliest == "05-15" and a.dry_day_mm == 1.1 and a.name == "anacim"
    assert a.onset.lookahead_days == base.onset.lookahead_days
    d = load_rules(base, ["onset.first_day_wet=false", "onset.date_convention=window_end", "cessation.capacity_mm=90"])
    assert (d.onset.first_day_wet, d.onset.date_convention, d.cessation.capacity_mm) == (False, "window_end", 90)
    assert load_rules("picsa", {"name": "picsa_niger"}).name == "picsa_niger"


@pytest.mark.parametrize("override, key", [
    ({"onset.earlest": "05-01"}, "onset.earlest"),
    ({"onset": {"lookahead": 3}}, "onset.lookahead"),
    ({"dry_day_mm": -1}, "dry_day_mm"),
    ({"dry_day_mm": 0}, "dry_day_mm"),
    ({"dry_day_mm": "one"}, "dry_day_mm"),
    ({"onset.accumulation_mm": -5}, "onset.accumulation_mm"),
    ({"onset.accumulation_days": 0}, "onset.accumulation_days"),
    ({"onset.lookahead_days": 2.5}, "onset.lookahead_days"),
    ({"onset.max_dry_spell_days": -1}, "onset.max_dry_spell_days"),
    ({"onset.min_wet_days": 4}, "onset.min_wet_days"),
    ({"onset.earliest": "13-01"}, "onset.earliest"),
    ({"onset.earliest": "05/01"}, "onset.earliest"),
    ({"onset.latest": "02-29"}, "onset.latest"),
    ({"onset.latest": "04-01"}, "onset.latest"),
    ({"onset.date_convention": "window_start"}, "onset.date_convention"),
    ({"onset.first_day_wet": "yes"}, "onset.first_day_wet"),
    ({"dry_spell_risk.lookahead_days": 0}, "dry_spell_risk.lookahead_days"),
    ({"cessation.capacity_mm": 0}, "cessation.capacity_mm"),
    ({"cessation.evaporation_mm": -5}, "cessation.evaporation_mm"),
    ({"cessation.earliest": "04-01"}, "cessation.earliest"),
    ({"max_missing_fraction": 1.5}, "max_missing_fraction"),
    (["onset.earliest"], "onset.earliest"),
])
def test_bad_overrides_are_one_line_errors_naming_the_key(override, key):
    with pytest.raises(SowcastError) as err:
        load_rules("sivakumar1988", override)
    message = str(err.value)
    assert key in message and "\n" not in message


def test_unknown_key_suggests_the_right_one():
    with pytest.raises(SowcastError, match="did you mean 'onset.earliest'"):
        load_rules("picsa", {"onset.earlest": "05-01"})


def test_agency_preset_from_a_yaml_path(tmp_path):
    own = flat(yaml.safe_load((resources.files("sowcast") / "conf/products/rules/anacim.yaml").read_text()))
    own.update({"name": "dmn_niger", "onset.earliest": "05-15", "dry_day_mm": 0.85})
    nested: dict = {}
    for k, v in own.items():
        *head, last = k.split(".")
        node = nested
        for h in head:
            node = node.setdefault(h, {})
        node[last] = v
    path = tmp_path / "dmn_niger.yaml"
    path.write_text(yaml.safe_dump(nested))
    rules = load_rules(path)
    assert rules.name == "dmn_niger" and rules.onset.earliest == "05-15" and rules.onset.lookahead_days == 21
    assert load_rules(str(path), {"onset.lookahead_days": 30}).onset.lookahead_days == 30
    # A short file on top of a shipped preset.
    short = tmp_path / "short.yml"
    short.write_text("base: agrhymet_sahel\nname: agency\nonset:\n  latest: '10-15'\n")
    r = load_rules(short)
    assert (r.name, r.onset.latest, r.onset.max_dry_spell_days) == ("agency", "10-15", 20)


def test_bad_sources_are_one_line_errors(tmp_path):
    (tmp_path / "partial.yaml").write_text("name: x\ndry_day_mm: 1\nonset:\n  earliest: '05-01'\n")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    (tmp_path / "loop.yaml").write_text("base: nowhere\n")
    cases = [("nosuchpreset", "unknown season rules preset"), (tmp_path / "absent.yaml", "no season rules file"),
             (tmp_path / "partial.yaml", "onset.accumulation_mm"), (tmp_path / "list.yaml", "mapping"),
             (tmp_path / "loop.yaml", "nowhere"), (42, "preset name")]
    for source, words in cases:
        with pytest.raises(SowcastError) as err:
            load_rules(source)
        assert words in str(err.value) and "\n" not in str(err.value)


def test_round_trip_and_frozen():
    for name in PRESETS:
        rules = load_rules(name)
        assert rules_from_config(rules.to_dict()) == rules
    with pytest.raises(dataclasses.FrozenInstanceError):
        rules.dry_day_mm = 3
    with pytest.raises(SowcastError, match="onset.earliest"):
        config = load_rules("picsa").to_dict()
        config["onset"]["earliest"] = "5-1"
        rules_from_config(config)


def test_every_preset_has_a_citation_for_readers():
    """Readers see the citation ("Sivakumar (1988)"); the name stays the machine key."""
    labels = {name: load_rules(name).label for name in PRESETS}
    assert labels["sivakumar1988"] == "Sivakumar (1988)" and labels["anacim"] == "ANACIM"
    assert labels["agrhymet_sahel"] == "AGRHYMET"
    assert all(label != name for name, label in labels.items())
    assert load_rules({"base": "anacim", "name": "mine", "citation": ""}).label == "mine"
