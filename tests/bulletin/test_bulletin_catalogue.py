"""Message catalogues: complete built-in ones, agency catalogues that add or override
languages, English for what is missing, locale formats, and ``sowcast bulletin check``."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from sowcast.bulletin.catalogue import (
    available_languages,
    check_catalogues,
    load_catalogue,
    placeholders,
)
from sowcast.bulletin.translator import Translator
from sowcast.cli import bulletin_command
from sowcast.errors import SowcastError
from sowcast.products.planting import ADVICE_CODES


def write_po(folder: Path, lang: str, messages: dict[str, str], language: str | None = None) -> Path:
    path = folder / lang / "LC_MESSAGES" / "sowcast.po"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ['msgid ""', 'msgstr ""', f'"Language: {language or lang}\\n"',
             '"Content-Type: text/plain; charset=UTF-8\\n"', ""]
    for key, text in messages.items():
        lines += [f'msgid "{key}"', f'msgstr "{text}"', ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_builtin_catalogues_are_complete_and_cover_every_advice_code():
    report = check_catalogues()
    assert set(report) >= {"en", "fr"}
    for lang, r in report.items():
        assert r["problems"] == {} and r["unknown"] == [], lang
    en = load_catalogue("en").messages
    for code in ADVICE_CODES:
        for prefix in ("advice", "advice_label", "sms"):
            assert f"{prefix}.{code}" in en
    assert placeholders(en["advice.buy_seed_now"]) == {"p", "weeks"}


def test_french_formats_dates_and_numbers_the_french_way():
    fr, en = Translator.load("fr"), Translator.load("en")
    assert fr.date("2001-04-27") == "27 avril 2001" and en.date("2001-04-27") == "27 April 2001"
    assert fr.percent(0.8) in ("80\u00a0%", "80\u202f%") and en.percent(0.8) == "80%"
    assert fr.decimal(0.125, 2) == "0,12" and en.decimal(-0.031, 2) == "-0.03"
    assert fr("table.location") == "Localité" and en("table.location") == "Location"
    assert fr.percent(float("nan")) == "n.d."


def test_unknown_language_is_one_line_listing_the_available_ones():
    with pytest.raises(SowcastError) as err:
        Translator.load("xx")
    assert "'xx'" in str(err.value) and "en, fr" in str(err.value) and "\n" not in str(err.value)


def test_an_agency_catalogue_adds_a_language_and_overrides_a_message(tmp_path):
    write_po(tmp_path, "wo", {"table.location": "Dëkk", "section.table": "Digal yi ci dëkk yi"})
    write_po(tmp_path, "fr", {"table.location": "Commune"})
    assert available_languages(tmp_path) == ["en", "fr", "wo"]
    wo = Translator.load("wo", tmp_path)
    assert wo("table.location") == "Dëkk" and wo("table.advice") == "Advice"   # English for the rest
    assert "table.advice" in wo.missing and "table.location" not in wo.missing
    assert wo.date("2001-04-27") == "27 Awril, 2001"   # the Wolof CLDR locale
    fr = Translator.load("fr", tmp_path)
    assert fr("table.location") == "Commune" and fr("table.advice") == "Conseil" and fr.missing == []


def test_fuzzy_empty_and_wrong_field_messages_fall_back_to_english(tmp_path):
    path = write_po(tmp_path, "zz", {"table.advice": "", "advice.wait": "Attends {p} {oops}"}, language="en")
    path.write_text(path.read_text() + '#, fuzzy\nmsgid "table.location"\nmsgstr "Fuzzy"\n', encoding="utf-8")
    zz = Translator.load("zz", tmp_path)
    assert zz("table.advice") == "Advice" and zz("table.location") == "Location"
    assert zz("advice.wait", p="5%", weeks=3).startswith("Wait: 5% chance")
    assert "{oops}" in zz.problems["advice.wait"]


def test_a_language_without_a_cldr_locale_uses_english_formats_and_says_so(tmp_path):
    write_po(tmp_path, "qq", {"table.location": "Q"})
    qq = Translator.load("qq", tmp_path)
    assert qq.date("2001-04-27") == "27 April 2001" and qq.notes and "qq" in qq.notes[0]


def test_a_broken_catalogue_is_a_one_line_error(tmp_path):
    path = write_po(tmp_path, "wo", {})
    path.write_text('msgid "a"\nmsgstr "x"\nnot po at all\n', encoding="utf-8")
    with pytest.raises(SowcastError, match="cannot read the message catalogue"):
        Translator.load("wo", tmp_path)


def test_bulletin_check_reports_incomplete_catalogues(tmp_path, capsys):
    cfg = OmegaConf.create({"bulletin": {"catalogue_dir": None}})
    assert bulletin_command.check(cfg) == 0
    out = capsys.readouterr().out
    assert "en: complete" in out and "fr: complete" in out
    write_po(tmp_path, "wo", {"table.location": "Dëkk", "no.such.id": "x"})
    cfg = OmegaConf.create({"bulletin": {"catalogue_dir": str(tmp_path)}})
    assert bulletin_command.check(cfg) == 1
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("wo:"))
    assert "section.method (missing)" in line and "no.such.id (not an English id)" in line


NBSP, NNBSP = "\u00a0", "\u202f"


def french_typography_faults(text: str) -> list[str]:
    """Where ``text`` breaks the French rule: a no-break space (U+00A0 or U+202F), never a
    plain one or none, before ':', ';', '?' and '!' (URLs' '://' aside)."""
    faults = []
    for i, c in enumerate(text):
        if c in ":;?!" and not text.startswith("://", i) and (i == 0 or text[i - 1] not in (NBSP, NNBSP)):
            faults.append(text[max(0, i - 12):i + 3])
    return faults


def test_every_french_string_has_the_french_typographic_spaces():
    """Every French message, rendered with its fields, and each rule preset's French source."""
    from sowcast.products.season_rules import list_presets, load_rules

    fr, en = Translator.load("fr"), Translator.load("en")
    fields = {"p": fr.percent(0.62), "weeks": 3, "week": 2, "dry_days": 10, "lookahead": 30, "n": 2, "total": 5,
              "names": "Tamale et Wa", "advice": fr("advice_label.wait"), "date": fr.date("2009-05-15"),
              "agency": "ANACIM", "period": fr("period.week", n=1), "place": "Tamale", "signature": "NMA",
              "rules": "Sivakumar (1988)", "dates": fr.date_range("2009-05-16", "2009-05-22"),
              "threshold": fr.percent(0.5), "false_start_max": fr.percent(0.3), "first": 3, "last": 4,
              "members": 8, "init": fr.date("2009-05-15"), "years": "2002–2003", "scores": "x",
              "value": fr.decimal(-0.61), "mae": "6,5", "reference": "9,2", "version": "0.1.0", "page": 1,
              "low": fr.percent(0.25), "high": fr.percent(0.75), "mm": 1,
              "reforecast": 4, "days": 5, "ocean": "L'Atlantique équatorial", "box": "3°S–3°N, 20°O–0°",
              "ranges": "x"}
    faults = {}
    for key in en.messages:
        if key.startswith("format."):
            continue
        text = fr(key, **{k: v for k, v in fields.items() if k in placeholders(fr.messages[key])})
        if french_typography_faults(text):
            faults[key] = french_typography_faults(text)
    for name in list_presets():
        source = load_rules(name).source_fr
        assert source, name
        source = source.replace("(PICSA): Field Manual", "")  # an English title, quoted as published
        if french_typography_faults(source):
            faults[f"rules {name}"] = french_typography_faults(source)
    assert faults == {}
    joined = fr("method.skill_separator").join([fr("method.skill_item", period="Semaine 1", value="-0,61"),
                                                fr("method.skill_item", period="Semaine 2", value="0,10")])
    assert joined == f"Semaine 1 -0,61{NNBSP}; Semaine 2 0,10"
    assert french_typography_faults("Date d'émission : 2009") == [" d'émission : 2"]


def test_french_verification_words_skill_is_competence():
    """'fiabilité' is reliability, never skill: the skill texts say 'compétence'."""
    fr = Translator.load("fr")
    for key in ("section.method", "method.skill_none", "method.skill_rain", "method.skill_caution"):
        assert "compétence" in fr.messages[key].lower() and "fiabilité" not in fr.messages[key].lower(), key
    assert fr("prov.map_data_source") == "Natural Earth (domaine public)"


def test_the_products_advice_wording_is_the_english_catalogue():
    """The products' sentences (no babel) and the English bulletin's are the same text."""
    from sowcast.products.advice import ENGLISH, advice_sentence

    en = load_catalogue("en").messages
    assert {k: en[f"advice.{k}"] for k in ENGLISH} == ENGLISH
    t = Translator.load("en")
    for code in ADVICE_CODES:
        assert advice_sentence(code, 0.62, 3, 10, 30, 0) == advice_sentence(
            code, 0.62, 3, 10, 30, 0, message=lambda c: t(f"advice.{c}"), percent=t.percent)
    assert advice_sentence("wait", 0.62, 3, skillful=0) == ("Wait: 62% chance the rains start within 3 weeks. "
                                                            + ENGLISH["no_skill"])


@pytest.mark.parametrize("shift, english, french", [
    (None, "no better than the usual dates here: plan by the normal calendar", "suivez le calendrier habituel"),
    (1.4, "no better than the usual dates here: plan by the normal calendar", "suivez le calendrier habituel"),
    (4.6, "which this year's ocean moves 5 days later: plan by those", "décale de 5 jours plus tard"),
    (-3.2, "which this year's ocean moves 3 days earlier: plan by those", "avance de 3 jours"),
])
def test_without_skill_the_advice_points_to_the_usual_dates_as_the_ocean_moved_them(shift, english, french):
    """Where the onset calibration moved the usual dates for this year's ocean
    (``onset_ocean_shift_days``), a forecast without skill falls back to those moved dates, and
    the note says so (under 2 days: the usual dates), in the products' and both bulletin wordings."""
    from sowcast.products.advice import advice_sentence

    text = advice_sentence("wait", 0.4, 3, skillful=0, ocean_shift_days=shift)
    assert text.startswith("Wait: 40% chance the rains start within 3 weeks. ") and english in text
    t = Translator.load("fr")
    fr = advice_sentence("wait", 0.4, 3, skillful=0, ocean_shift_days=shift, message=lambda c: t(f"advice.{c}"),
                         percent=t.percent)
    assert french in fr
    assert advice_sentence("wait", 0.4, 3, skillful=1, ocean_shift_days=shift) == "Wait: 40% chance the rains start within 3 weeks."
