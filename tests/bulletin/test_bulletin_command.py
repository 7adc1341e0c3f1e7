"""``sowcast bulletin`` on the real chain at a tiny size (tests/chain_helpers.py): the HTML
pages are self-contained, the PDFs open, the SMS fit one GSM-7 message, the French is French,
the numbers are those of locations.csv, an agency adds a language without code changes, and
bad input is one line that writes nothing."""

from __future__ import annotations

import csv
import html
import json
import math
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from PIL import Image

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parent))

from chain_helpers import LOCATIONS
from test_bulletin_catalogue import write_po

from sowcast.bulletin.gsm7 import gsm7_length, is_gsm7, to_gsm7
from sowcast.bulletin.pdf_document import count_pages
from sowcast.bulletin.translator import Translator
from sowcast.cli import bulletin_command
from sowcast.errors import SowcastError
from sowcast.verify.scorecard import Scorecard
from sowcast.verify.summary import ScorecardSummary

RPSS = {"week1": 0.214, "week2": 0.087, "weeks3-4": -0.031, "weeks5-6": 0.012}


def bulletin_cfg(products, output, **options) -> OmegaConf:
    b = {"products": str(products), "scorecard": None, "languages": ["en", "fr"],
         "agency": {"name": "Ghana Meteorological Agency", "signature": "GMet"}, "catalogue_dir": None,
         "output": str(output), "formats": ["html", "pdf", "sms"], "map_weeks": [2, 4],
         "rain_periods": ["week1", "week2", "weeks3-4", "weeks5-6"], "dpi": 100}
    b.update(options)
    return OmegaConf.create({"bulletin": b, "overwrite": False, "progress": False})


def write_scorecard(folder: Path, **summary) -> Path:
    """A scorecard as 'sowcast verify' writes it (its own Scorecard class; ``summary``: fields
    of its summary.json to set)."""
    card = Scorecard()
    for period, value in RPSS.items():
        card.add("rpss", "total_precipitation", period, value, perfect=1.0)
    card.add("onset_mae_days", "total_precipitation", "onset", 6.5, 9.25, n=40)
    folder.mkdir(parents=True)
    card.to_csv(folder / "scores.csv")
    headline = {f"rpss {p}": v for p, v in RPSS.items()}
    ScorecardSummary(starts=20, members=4, years=[2002, 2003], rules="sivakumar1988", weekly_rain=headline,
                     weekly_rain_all_points=headline, onset_mae_days=6.5, onset_mae_days_climatology=9.25,
                     onset_cases=40, onset_bias_days=-1.0, onset_bias_days_climatology=0.5,
                     dry_season_mm_per_day=1.0, **summary).write(folder)
    return folder


@pytest.fixture(scope="module")
def made(tmp_path_factory, chain):
    root = tmp_path_factory.mktemp("bulletin_chain")
    out = root / "bulletin"
    bulletin_command.run(bulletin_cfg(chain["products"], out, scorecard=str(write_scorecard(root / "scorecard"))))
    return {"products": chain["products"], "out": out, "root": root,
            "table": pd.read_csv(chain["products"] / "locations.csv")}


class _Page(HTMLParser):
    """Every attribute, the text of the location table's cells, and the tags seen."""

    def __init__(self):
        super().__init__()
        self.attrs, self.tags, self.rows, self._row, self._cell, self._in_body = [], set(), [], None, None, False

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs += [(tag, k, v or "") for k, v in attrs]
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_body = False
        elif tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse(path: Path) -> tuple[_Page, str]:
    text = path.read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    return page, text


def percent_of(cell: str) -> float:
    return float(re.sub(r"[^0-9.,]", "", cell).replace(",", "."))


def test_the_output_folder_holds_every_file_and_its_description(made):
    out = made["out"]
    meta = json.loads((out / "bulletin.json").read_text())
    assert meta["issue_date"] == "2001-04-27" and meta["languages"] == ["en", "fr"]
    for lang in ("en", "fr"):
        for name in (f"bulletin_{lang}.html", f"bulletin_{lang}.pdf"):
            assert name in meta["files"] and (out / name).is_file()
        maps = sorted(p.name for p in (out / "maps").glob(f"*_{lang}.png"))
        assert maps == sorted([f"onset_week2_{lang}.png", f"onset_week4_{lang}.png", f"rain_week1_{lang}.png",
                               f"rain_week2_{lang}.png", f"rain_weeks3-4_{lang}.png", f"rain_weeks5-6_{lang}.png",
                               f"onset_chart_{lang}.png"])
        assert meta["pdf_pages"][lang] == count_pages((out / f"bulletin_{lang}.pdf").read_bytes())
    assert meta["provenance"]["bundle_sha256"] and meta["provenance"]["rules"] == "sivakumar1988"
    assert meta["provenance"]["rules_citation"] == "Sivakumar (1988)"
    assert not list(out.parent.glob(".bulletin.tmp-*"))


def test_advice_csv_holds_every_location_in_every_language(made):
    advice = pd.read_csv(made["out"] / "advice.csv")
    table = made["table"]
    for lang in ("en", "fr"):
        rows = advice[advice.language == lang]
        assert rows["location"].tolist() == table["location"].tolist()
    en = advice[advice.language == "en"].set_index("location")["advice"]
    fr = advice[advice.language == "fr"].set_index("location")["advice"]
    parakou = table.set_index("location").loc["Parakou"]
    assert parakou["advice"] == "buy_seed_now"
    assert en["Parakou"].lower().startswith("buy seed now") and fr["Parakou"].lower().startswith("achetez")
    assert "Parakou" not in fr["Parakou"] and "GMet" not in fr["Parakou"]  # a sentence, not the SMS


def test_html_pages_reference_nothing_outside_themselves(made):
    for lang in ("en", "fr"):
        page, text = parse(made["out"] / f"bulletin_{lang}.html")
        refs = [(t, k, v) for t, k, v in page.attrs if k in ("src", "href", "srcset", "xlink:href", "data", "action",
                                                                  "poster", "background")]
        assert refs, "the page has no images or links at all"
        for tag, key, value in refs:
            assert value.startswith(("data:", "#")), (tag, key, value[:60])
        assert not {"script", "link", "iframe", "object", "embed"} & page.tags
        without_data = re.sub(r"data:[^\"')\s]+", "", text)
        assert "http://" not in without_data and "https://" not in without_data
        assert not re.search(r"//[a-z0-9-]+(\.[a-z0-9-]+)+", without_data, re.IGNORECASE)
        assert "@import" not in text and "url(" not in text
        assert sum(1 for t, k, v in page.attrs if t == "img" and v.startswith("data:image/png;base64,")) == 7


def test_pdfs_open_and_have_pages(made):
    for lang, title in (("en", b"Rain and planting bulletin"), ("fr", b"Bulletin des pluies et des semis")):
        data = (made["out"] / f"bulletin_{lang}.pdf").read_bytes()
        assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
        assert count_pages(data) >= 2
        assert b"/Title (" + title in data and (b"/Lang (fr)" in data) == (lang == "fr")


def test_french_is_french_and_english_english(made):
    _, en = parse(made["out"] / "bulletin_en.html")
    _, fr = parse(made["out"] / "bulletin_fr.html")
    assert '<html lang="fr">' in fr and '<html lang="en-GB">' in en
    assert "Conseils par localité" in fr and "Advice by location" not in fr
    assert "Publié le 27 avril 2001 par Ghana Meteorological Agency" in fr
    assert "Advice by location" in en and "Issued on 27 April 2001 by Ghana Meteorological Agency" in en
    assert "Semez maintenant" in fr and "Plant now" in en


def test_table_names_and_numbers_are_those_of_locations_csv(made):
    table = made["table"]
    names = pd.read_csv(LOCATIONS, comment="#")["name"].tolist()
    assert table["location"].tolist() == names
    weeks = [c for c in table.columns if re.fullmatch(r"onset_by_week\d+", c)]
    for lang in ("en", "fr"):
        page, _ = parse(made["out"] / f"bulletin_{lang}.html")
        assert [r[0] for r in page.rows] == names
        for row, (_, expected) in zip(page.rows, table.iterrows(), strict=True):
            cells = row[1:]
            for cell, column in zip(cells, [*weeks, "false_start_risk", "dry_spell_risk"], strict=False):
                value = expected[column]
                if isinstance(value, float) and math.isnan(value):
                    assert cell in ("n/a", "n.d.")
                else:
                    assert abs(percent_of(cell) - 100 * value) <= 0.5 + 1e-9, (lang, row[0], column, cell)
            start = expected["planting_window_start"]
            if isinstance(start, str) and start:
                assert str(pd.Timestamp(start).day) in cells[len(weeks) + 2]
            assert f"{round(100 * expected['advice_probability'])}" in cells[-1]
    _, en = parse(made["out"] / "bulletin_en.html")
    english = Translator.load("en")
    for code, n in table["advice"].value_counts().items():
        assert f"{english(f'advice_label.{code}')}: {n} of {len(table)} locations (" in en
    parakou = table.set_index("location").loc["Parakou"]
    assert parakou["onset_by_week1"] < 1  # the chain gives at least one number that is not 0 or 100 %


def test_method_states_the_scorecard_skill_and_provenance(made):
    _, en = parse(made["out"] / "bulletin_en.html")
    _, fr = parse(made["out"] / "bulletin_fr.html")
    assert "Week 1 0.21; Week 2 0.09; Weeks 3-4 -0.03; Weeks 5-6 0.01" in en
    assert "Semaine 1 0,21" in fr and "2002–2003" in en
    assert "6.5 days" in en and "9.2" in en
    sha = json.loads((made["products"] / "products.json").read_text())["bundle_sha256"][:12]
    assert sha in en and sha in fr
    # the rule is shown by its citation, never by its machine name
    assert "Sivakumar (1988)" in en and "Sivakumar (1988)" in fr
    assert "sivakumar1988" not in en and "sivakumar1988" not in fr


def test_bulletin_json_carries_the_skill_the_method_states(made):
    """bulletin.json ``skill`` (the dashboard's and /api/skill's): the scorecard's numbers as
    issued (raw here: the scorecard has no calibrated rows), and the very paragraphs of the
    method section in each language."""
    from sowcast.bulletin.document import skill_text
    from sowcast.bulletin.skill import read_scorecard

    skill = json.loads((made["out"] / "bulletin.json").read_text())["skill"]
    assert skill["assessed"] is True and skill["years"] == [2002, 2003] and skill["members"] == 4
    assert skill["rain_terciles"]["calibrated"] is False
    assert {p: v["value"] for p, v in skill["rain_terciles"]["rpss"].items()} == pytest.approx(RPSS)
    assert skill["onset"]["mae_days"] == 6.5 and skill["onset"]["usual_mae_days"] == 9.25
    card = read_scorecard(made["root"] / "scorecard", list(RPSS))
    members = json.loads((made["products"] / "products.json").read_text())["members"]
    for lang in ("en", "fr"):
        assert skill["statement"][lang] == skill_text(Translator.load(lang), card, list(RPSS), members)
    _, en = parse(made["out"] / "bulletin_en.html")
    assert all(p in en for p in skill["statement"]["en"])


def test_sms_are_one_gsm7_message_per_location_and_language(made):
    with open(made["out"] / "sms.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["location", "language", "message", "characters", "encoding"]
    names = made["table"]["location"].tolist()
    assert [(r["location"], r["language"]) for r in rows] == [(n, lang) for lang in ("en", "fr") for n in names]
    probability = dict(zip(names, made["table"]["advice_probability"], strict=True))
    for r in rows:
        message = r["message"]
        assert is_gsm7(message) and gsm7_length(message) <= 160 and int(r["characters"]) == gsm7_length(message)
        assert r["encoding"] == "GSM-7"
        assert message.startswith(to_gsm7(r["location"]) + " 27/04") and message.endswith("-GMet")
        assert f"{round(100 * probability[r['location']])}" in message
    fr = [r["message"] for r in rows if r["language"] == "fr"]
    assert all("pluies" in m for m in fr)


def test_maps_show_borders_over_land_and_sea(made):
    image = np.asarray(Image.open(made["out"] / "maps" / "rain_week1_en.png").convert("RGB")).astype(int)
    assert image.shape[1] >= 400
    ocean = (np.abs(image - [0xDB, 0xE9, 0xF6]).sum(axis=2) < 12).mean()
    borders = (np.abs(image - [0x33, 0x33, 0x33]).sum(axis=2) < 40).mean()
    assert 0.02 < ocean < 0.6 and borders > 0.002


def test_an_agency_language_renders_without_code_changes(made, tmp_path, capsys):
    folder = tmp_path / "locales"
    write_po(folder, "wo", {"bulletin.title": "Xibaar bu taw ak ji", "section.table": "Digal yi ci dëkk yi",
                            "sms.plant_now": "jiwlen leegi ({p}), taw bi ñëw na", "sms.head": "{place} {date}:"})
    out = tmp_path / "bulletin"
    bulletin_command.run(bulletin_cfg(made["products"], out, languages=["wo"], catalogue_dir=str(folder),
                                      formats=["html", "sms"], map_weeks=[2], rain_periods=["week1"]))
    err = capsys.readouterr().err
    assert err.count("catalogue 'wo' lacks") == 1 and "section.method" in err
    _page, text = parse(out / "bulletin_wo.html")
    assert '<html lang="wo">' in text and "Xibaar bu taw ak ji" in text and "Digal yi ci dëkk yi" in text
    assert "Method and skill" in text  # English where the catalogue has no message
    assert "27 Awril, 2001" in text  # Wolof dates from CLDR
    assert "The skill of these forecasts has not yet been assessed" in text
    with open(out / "sms.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {r["language"] for r in rows} == {"wo"} and len(rows) == len(made["table"])
    assert any("jiwlen leegi" in r["message"] and "taw bi ñew na" in r["message"] for r in rows)
    assert all(is_gsm7(r["message"]) and gsm7_length(r["message"]) <= 160 for r in rows)
    assert not (out / "bulletin_wo.pdf").exists()


def test_urls_in_texts_are_not_references(made):
    from dataclasses import replace

    from sowcast.bulletin.document import build_bulletin
    from sowcast.bulletin.html_page import render_html
    from sowcast.bulletin.options import Agency, BulletinOptions
    from sowcast.bulletin.products_folder import read_products

    products = read_products(made["products"])
    products.meta = replace(products.meta, rules_source="ANACIM (see http://example.org/onset.html)")
    options = BulletinOptions(agency=Agency("NMA"), map_weeks=(), rain_periods=())
    text = render_html(build_bulletin(products, Translator.load("en"), options))
    assert "http://" not in text and "//example.org" not in text and "example.org/onset.html" in text


@pytest.mark.parametrize("change, message", [
    ({"products": "/no/such/folder"}, "no such folder"),
    ({"products": "FOREIGN"}, "not a 'sowcast products' folder"),
    ({"products": "OTHER"}, "was not written by 'sowcast products'"),
    ({"languages": ["en", "xx"]}, "no bulletin catalogue for language 'xx'; available: en, fr"),
    ({"output": "FILE/bulletin"}, "bulletin.output: cannot write in"),
    ({"formats": ["html", "docx"]}, "bulletin.formats[1] must be one of html, pdf, sms, not 'docx'"),
    ({"map_weeks": [9]}, "bulletin.map_weeks [9] not in the planting map"),
    ({"rain_periods": ["week9"]}, "bulletin.rain_periods ['week9'] not in weekly.nc"),
    ({"scorecard": "/no/such/scorecard"}, "no scores.csv"),
    ({"scorecard": "IN_SAMPLE"}, "scores years that are not held out (training: see its 'sowcast verify' warnings)"),
    ({"colour": "red"}, "unknown option bulletin.colour; known: products, scorecard"),
])
def test_bad_input_is_one_line_and_writes_nothing(made, tmp_path, change, message):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("hello")
    other = tmp_path / "other"
    other.mkdir()
    (other / "products.json").write_text(json.dumps({"product": "sowcast verify"}))
    (tmp_path / "file").write_text("a file")
    in_sample = write_scorecard(tmp_path / "in_sample", held_out=False, in_sample_years={"training": [2002, 2003]})
    subst = {"FOREIGN": str(foreign), "OTHER": str(other), "FILE/bulletin": str(tmp_path / "file" / "bulletin"),
             "IN_SAMPLE": str(in_sample)}
    change = {k: subst.get(v, v) if isinstance(v, str) else v for k, v in change.items()}
    out = tmp_path / "out"
    cfg = bulletin_cfg(**{"products": made["products"], "output": out, **change})
    with pytest.raises(SowcastError) as err:
        bulletin_command.run(cfg)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not out.exists() and not list(tmp_path.glob(".out.tmp-*"))


def test_each_advice_gives_its_members_and_range_and_the_maps_their_dry_season(made):
    """The percentage's range from the products' members (Wilson, 90 %) after each advice that
    rests on members; the method says how few members leave room; the rain caption names the
    dry season that the maps hatch (issue 18)."""
    members = json.loads((made["products"] / "products.json").read_text())["members"]
    for lang, lead, method in (("en", f"From {members} forecast runs: likely between ",
                                f"a 50% chance from {members} runs could be anywhere between"),
                               ("fr", f"D'après {members} prévisions\u00a0: probablement entre ",
                                f"une probabilité de 50\u00a0% tirée de {members} prévisions")):
        page, text = parse(made["out"] / f"bulletin_{lang}.html")
        assert html.unescape(method) in html.unescape(text)
        ranged = 0
        for row, (_, expected) in zip(page.rows, made["table"].iterrows(), strict=True):
            advice = html.unescape(row[-1])
            if lead not in advice:
                assert expected["advice"] == "no_data" or expected["advice_probability"] == 1, advice
                continue
            low, high = (percent_of(v) for v in re.findall(r"\d+(?:[.,]\d+)?", advice.split(lead, 1)[1])[:2])
            assert low <= round(100 * expected["advice_probability"]) <= high, advice
            ranged += 1
        assert ranged >= 1
        assert ("Hatched: the dry season" if lang == "en" else "Hachures\u00a0: saison sèche") in html.unescape(text)


@pytest.mark.parametrize("shift, box, english_text, french_text", [
    (None, None, None, None),
    (4.3, None, "are moved 4 days later", "décalées de 4 jours plus tard"),
    (-6.6, [-3, 3, -20, 0], "are moved 7 days earlier", "avancées de 7 jours"),
    (0.8, [-3, 3, -20, 0], "near its usual temperature", "proche de sa température habituelle"),
    (4.3, [10, 20.5, -40, -20], "The ocean at 10°N–20.5°N, 40°W–20°W has been warmer",
     "L'océan dans la zone 10°N–20,5°N, 40°O–20°O a été plus chaud"),
])
def test_the_method_says_how_the_ocean_moved_the_usual_onset_dates(made, shift, box, english_text, french_text):
    """products.json's onset_ocean_shift_days (the calibration's ocean predictor) in both languages,
    naming where the index is read: ATL3 (and a folder written before the box was recorded) as
    the equatorial Atlantic, another box by its bounds."""
    from dataclasses import replace

    from sowcast.bulletin.document import method_text
    from sowcast.bulletin.products_folder import read_products

    products = read_products(made["products"])
    products.meta = replace(products.meta, onset_ocean_shift_days=shift, onset_ocean_box=box)
    en = " ".join(method_text(Translator.load("en"), products, None, []))
    fr = " ".join(method_text(Translator.load("fr"), products, None, []))
    if shift is None:
        assert "Atlantic" not in en and "Atlantique" not in fr
        return
    assert english_text in en and french_text in fr
    if box is None or box == [-3, 3, -20, 0]:
        assert "The equatorial Atlantic (3°S–3°N, 20°W–0°) has been" in en
        assert "L'Atlantique équatorial (3°S–3°N, 20°O–0°)" in fr


@pytest.mark.parametrize("reforecast_members", [None, 4, 32])
def test_the_method_says_when_the_scores_are_of_another_ensemble_size(made, reforecast_members):
    """The scorecard's skill is of its reforecasts' size; a forecast of another size (calibrated
    for its own) gets a sentence saying so, in both languages."""
    from dataclasses import replace

    from sowcast.bulletin.document import method_text
    from sowcast.bulletin.products_folder import read_products
    from sowcast.bulletin.skill import read_scorecard

    products = read_products(made["products"])
    products.meta = replace(products.meta, members=32)
    skill = read_scorecard(made["root"] / "scorecard", ["week1", "week2"])
    assert skill.members == 4                                   # summary.json's
    skill = replace(skill, members=reforecast_members)
    en = " ".join(method_text(Translator.load("en"), products, skill, ["week1", "week2"]))
    fr = " ".join(method_text(Translator.load("fr"), products, skill, ["week1", "week2"]))
    differs = reforecast_members == 4
    assert ("These scores come from reforecasts of 4 members; this forecast has 32" in en) == differs
    assert ("reprévisions à 4 membres" in fr) == differs
    assert "These scores come from" not in en or differs


@pytest.mark.parametrize("calibrated", [False, True])
def test_the_method_gives_the_skills_interval_over_the_years_and_warns_where_it_reaches_zero(made, calibrated):
    """The issued probabilities' skill (calibrated where there is a calibration, else raw) with
    its 90 % interval over the reforecast years, in both languages; a range that reaches 0 gets
    the caution even where the skill itself is above 0."""
    from dataclasses import replace

    from sowcast.bulletin.document import method_text
    from sowcast.bulletin.products_folder import read_products
    from sowcast.bulletin.skill import read_scorecard

    products = read_products(made["products"])
    skill = read_scorecard(made["root"] / "scorecard", ["week1", "week2"])
    assert skill.rpss_interval == {}                            # a scorecard without intervals: none shown
    intervals = {"week1": (0.05, 0.19), "week2": (-0.02, 0.09)}
    skill = replace(skill, rpss={"week1": 0.12, "week2": 0.04}, years=[2009, 2010],
                    **({"rpss_calibrated": {"week1": 0.1, "week2": 0.03}, "rpss_calibrated_interval": intervals}
                       if calibrated else {"rpss_interval": intervals}))
    en = " ".join(method_text(Translator.load("en"), products, skill, ["week1", "week2"]))
    fr = " ".join(method_text(Translator.load("fr"), products, skill, ["week1", "week2"]))
    assert "With 2 years of reforecasts these scores are uncertain" in en
    assert "lie in these ranges: Week 1 0.05 to 0.19; Week 2 -0.02 to 0.09." in en
    assert "Avec 2 années de prévisions rétrospectives" in fr and "Semaine 1 de 0,05 à 0,19" in fr
    assert "Where that range reaches zero, the forecast may be no better than the usual climate." in en
    assert "Là où cet intervalle atteint zéro" in fr
    narrow = replace(skill, **({"rpss_calibrated_interval": {"week1": (0.05, 0.19), "week2": (0.01, 0.09)}}
                               if calibrated else {"rpss_interval": {"week1": (0.05, 0.19), "week2": (0.01, 0.09)}}))
    assert "range reaches zero" not in " ".join(method_text(Translator.load("en"), products, narrow, ["week1", "week2"]))


def _onset_card(folder: Path, calibrated: bool, bias=(-3.6, -7.1, -0.7), skill=(0.05, 0.02, 0.08)) -> Path:
    """A scorecard with the onset rows 'sowcast verify' writes: raw (worse than the usual
    date, no clear bias), and ``calibrated`` ones with ``bias`` and ``skill`` (value, low, high)."""
    card = Scorecard()
    card.add("onset_mae_days", "total_precipitation", "onset", 13.8, 13.0, n=2542)
    card.add("onset_bias_days", "total_precipitation", "onset", -1.2, -5.5, n=2542, interval=(-4.0, 1.5))
    card.add("onset_mae_skill", "total_precipitation", "onset", -0.06, n=2542, skill=math.nan, interval=(-0.12, -0.01))
    if calibrated:
        card.add("onset_mae_days_calibrated", "total_precipitation", "onset", 12.3, 13.0, n=2542)
        card.add("onset_bias_days_calibrated", "total_precipitation", "onset", bias[0], -5.5, n=2542,
                 interval=bias[1:])
        card.add("onset_mae_skill_calibrated", "total_precipitation", "onset", skill[0], n=2542, skill=math.nan,
                 interval=skill[1:])
    folder.mkdir(parents=True)
    card.to_csv(folder / "scores.csv")
    return folder


def _method(made, skill) -> tuple[str, str]:
    from sowcast.bulletin.document import method_text
    from sowcast.bulletin.products_folder import read_products

    products = read_products(made["products"])
    return tuple(" ".join(method_text(Translator.load(lang), products, skill, ["week1"])) for lang in ("en", "fr"))


def test_the_method_gives_the_skill_of_the_chances_of_onset_by_week_as_issued(made, tmp_path):
    """The Brier skill of "onset by week k" (the planting table's chances): the calibrated rows
    where the scorecard has them, with a caution where one is 0 or below; none without rows."""
    from dataclasses import replace

    from sowcast.bulletin.skill import read_scorecard

    card = Scorecard()
    card.add("onset_mae_days", "total_precipitation", "onset", 13.8, 13.0, n=100)
    for week, raw, calibrated in (("week1", 0.080, 0.070), ("week2", 0.150, 0.100), ("week3", 0.140, 0.160)):
        card.add("onset_by_week_brier", "total_precipitation", week, raw, 0.140, n=100)
        card.add("onset_by_week_brier_calibrated", "total_precipitation", week, calibrated, 0.140, n=100)
    (tmp_path / "card").mkdir()
    card.to_csv(tmp_path / "card" / "scores.csv")
    skill = read_scorecard(tmp_path / "card", ["week1"])
    assert skill.onset_by_week == pytest.approx({"week1": 0.5, "week2": 2 / 7, "week3": -1 / 7})
    en, fr = _method(made, skill)
    assert ("Skill of the chance that the rains have started by the end of each week (the table's figures) in "
            "those years (Brier skill score against the usual dates' chances; 0: no better, 1: perfect): "
            "Week 1 0.50; Week 2 0.29; Week 3 -0.14.") in en
    assert "Where that score is 0 or below, those chances were no better than the usual dates'." in en
    assert "Semaine 1 0,50\u202f; Semaine 2 0,29\u202f; Semaine 3 -0,14." in fr and "nul ou négatif" in fr
    good = replace(skill, onset_by_week={"week1": 0.5, "week2": 0.29})
    assert "no better than the usual dates'" not in _method(made, good)[0]
    assert "Brier" not in _method(made, replace(skill, onset_by_week={}))[0]


def test_the_chances_of_onset_by_week_come_with_their_range_and_a_caution_where_it_reaches_zero(made, tmp_path):
    """A scorecard's ``onset_by_week_bss`` rows give the skill and its 90 % range over the years:
    both are stated, with a caution where a range reaches 0 though every skill is above it (none
    where every range stays above 0); bulletin.json carries the ranges."""
    from dataclasses import replace

    from sowcast.bulletin.skill import read_scorecard
    from sowcast.bulletin.stage import skill_json

    card = Scorecard()
    card.add("onset_mae_days", "total_precipitation", "onset", 13.8, 13.0, n=100)
    for week, bss, low, high in (("week1", 0.12, 0.05, 0.20), ("week2", 0.08, -0.03, 0.15)):
        card.add("onset_by_week_brier_calibrated", "total_precipitation", week, 0.1, 0.2, n=100)  # skill 0.5
        card.add("onset_by_week_bss_calibrated", "total_precipitation", week, bss, n=100, skill=bss,
                 interval=(low, high))
    (tmp_path / "card").mkdir()
    card.to_csv(tmp_path / "card" / "scores.csv")
    skill = read_scorecard(tmp_path / "card", ["week1"])
    assert skill.onset_by_week == {"week1": 0.12, "week2": 0.08}
    assert skill.onset_by_week_interval == {"week1": (0.05, 0.20), "week2": (-0.03, 0.15)}
    en, fr = _method(made, skill)
    assert "(Brier skill score against the usual dates' chances; 0: no better, 1: perfect): Week 1 0.12; Week 2 0.08." in en
    assert "Their 90 % ranges when the years are resampled: Week 1 0.05 to 0.20; Week 2 -0.03 to 0.15." in en
    assert "Where that range reaches zero, those chances may be no better than the usual dates'." in en
    assert "0 or below" not in en
    assert "Semaine 1 de 0,05 à 0,20" in fr and "ne font peut-être pas mieux que celles des dates habituelles" in fr
    sure = replace(skill, onset_by_week_interval={"week1": (0.05, 0.20), "week2": (0.01, 0.15)})
    assert "may be no better than the usual dates'" not in _method(made, sure)[0]
    onset = skill_json(skill, {"en": Translator.load("en")}, ["week1"], None)["onset"]
    assert onset["by_week_brier_skill"] == {"week1": 0.12, "week2": 0.08}
    assert (onset["by_week_brier_skill_low"], onset["by_week_brier_skill_high"]) == (
        {"week1": 0.05, "week2": -0.03}, {"week1": 0.20, "week2": 0.15})


def test_the_method_says_how_early_the_issued_onset_dates_came_and_whether_they_beat_the_usual_date(made, tmp_path):
    """The issued (calibrated) onset's bias, with its interval and the usual date's, where the
    interval excludes 0; no caution while its MAE's skill interval stays above 0."""
    from sowcast.bulletin.skill import read_scorecard

    skill = read_scorecard(_onset_card(tmp_path / "cal", calibrated=True), ["week1"])
    onset = skill.onset_issued
    assert onset.calibrated and (onset.bias, onset.bias_low, onset.bias_high) == (-3.6, -7.1, -0.7)
    assert onset.bias_reference == -5.5 and (onset.mae_skill, onset.mae_skill_low) == (0.05, 0.02)
    en, fr = _method(made, skill)
    assert ("came on average 3.6 days before the rains started (90 % range over the years: 0.7 to 7.1 days "
            "early). The usual (climatological) date came 5.5 days early in the same years.") in en
    assert "en moyenne 3,6 jours avant le début réel" in fr and "de 0,7 à 7,1 jours d'avance" in fr
    assert "the onset forecast was no better" not in en and "the onset forecast may be no better" not in en
    assert "pas fait mieux" not in fr and "pourrait ne pas faire mieux" not in fr


@pytest.mark.parametrize("case, bias_text, caution", [
    # raw only: its bias interval reaches 0 (no bias sentence), its MAE worse than the usual date's
    ("raw", None, "In those years the onset forecast was no better than the usual date."),
    # calibrated, late and clear; the MAE's skill above 0 but its interval reaching it
    ("late", "came on average 2.5 days after the rains started (90 % range over the years: 0.5 to 4.0 days late)",
     "With so few years, the onset forecast may be no better than the usual date."),
])
def test_the_onset_caution_follows_the_issued_onsets_skill(made, tmp_path, case, bias_text, caution):
    from sowcast.bulletin.skill import read_scorecard

    folder = _onset_card(tmp_path / case, calibrated=case != "raw", bias=(2.5, 0.5, 4.0), skill=(0.03, -0.01, 0.07))
    skill = read_scorecard(folder, ["week1"])
    assert skill.onset_issued.calibrated == (case != "raw")
    en, fr = _method(made, skill)
    assert caution in en
    assert ("days before the rains started" not in en) and (bias_text is None) == ("days after the rains" not in en)
    if bias_text:
        assert bias_text in en and "jours de retard" in fr
    assert ("n'a pas fait mieux" in fr) == (case == "raw")


def test_a_scorecard_without_onset_rows_adds_no_onset_sentence(made):
    from sowcast.bulletin.skill import read_scorecard

    skill = read_scorecard(made["root"] / "scorecard", ["week1"])
    assert skill.onset_issued is None
    en, _fr = _method(made, skill)
    assert "rains started" not in en and "the onset forecast" not in en
