"""GSM 03.38 text and the fitting of SMS advice into 160 characters."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from sowcast.bulletin.gsm7 import BASIC, EXTENSION, gsm7_length, is_gsm7, to_gsm7
from sowcast.bulletin.products_folder import DrySpellRule
from sowcast.bulletin.sms import SMS_LIMIT, sms_message
from sowcast.bulletin.translator import Translator


def test_the_default_alphabet_has_128_characters_and_keeps_french_letters_it_has():
    assert len(BASIC) == 128 and len(set(BASIC)) == 128
    assert set("éèàùìòÉÇ") <= set(BASIC)
    assert not set("âêîôûçëïœ") & set(BASIC + EXTENSION)


def test_to_gsm7_transliterates_what_the_alphabet_lacks():
    assert to_gsm7("Fête à Thiès: ça commencé, île, côté, Noël, cœur") == "Fete à Thiès: ca commencé, ile, coté, Noel, coeur"
    assert to_gsm7("80\u00a0%, 80\u202f%, l’été «x» – ŋ ɛ ɔ ɗ") == "80 %, 80 %, l'été \"x\" - ng e o d"
    assert to_gsm7("漢") == "?"
    assert is_gsm7(to_gsm7("Tamale 27/04 : semez maintenant, 80 % de chances"))
    assert not is_gsm7("semez â")


def test_extension_characters_count_two():
    assert gsm7_length("abc") == 3
    assert gsm7_length("5 €") == 4
    assert gsm7_length("[x]") == 5


def _row(**kw):
    base = {"location": "Tamale", "advice": "plant_now", "advice_probability": 0.8, "advice_week": 1,
                "false_start_risk": 0.1, "dry_spell_risk": 0.25}
    base.update(kw)
    return SimpleNamespace(**base)


ATTRS = DrySpellRule(days=10, lookahead_days=30)
ISSUE = pd.Timestamp("2001-04-27")


def test_an_sms_holds_place_date_advice_probability_risks_and_signature():
    fr = Translator.load("fr")
    message, cut = sms_message(fr, _row(), ATTRS, ISSUE, "GMet")
    assert not cut
    assert message.startswith("Tamale 27/04 : semez maintenant, 80 % de chances")
    assert "Risque de faux départ 10 %." in message and message.endswith("-GMet")
    assert is_gsm7(message) and gsm7_length(message) <= SMS_LIMIT
    en, _ = sms_message(Translator.load("en"), _row(), ATTRS, ISSUE, "GMet")
    assert en.startswith("Tamale 27/04: plant now, 80% chance") and "False-start risk 10%." in en


def test_a_long_sms_drops_the_risks_then_shortens_then_cuts_and_says_so():
    fr = Translator.load("fr")
    long_place = "Saint-Louis-du-Fleuve-et-des-Environs-Très-Lointains"
    message, cut = sms_message(fr, _row(location=long_place), ATTRS, ISSUE, "Agence nationale de la météorologie")
    assert gsm7_length(message) <= SMS_LIMIT and is_gsm7(message)
    assert "Risque de séquence sèche" not in message
    fr.messages["sms.plant_now"] = "semez maintenant " + "vraiment " * 30
    message, cut = sms_message(fr, _row(), ATTRS, ISSUE, "GMet")
    assert cut and message.endswith("... -GMet") and gsm7_length(message) <= SMS_LIMIT


def test_the_advice_a_risk_repeats_is_not_said_twice():
    en = Translator.load("en")
    message, _ = sms_message(en, _row(advice="wait_false_start_risk", advice_probability=0.4, advice_week=6),
                             ATTRS, ISSUE, "GMet")
    assert message.count("false start") == 1 and "False-start risk" not in message
    message, _ = sms_message(en, _row(advice="no_data", advice_probability=float("nan")), ATTRS, ISSUE, "GMet")
    assert message == "Tamale 27/04: no advice today, forecast or observations missing. -GMet"
