"""SMS advice, one message per location and language, ready for a bulk-SMS gateway.

A message is ``<place> <date>: <advice>. [false-start risk.] [dry-spell risk.] -<signature>``
(each part a catalogue message: ``sms.head``, ``sms.<advice code>``, ``sms.false_start``,
``sms.dry_spell``, ``sms.signature``), put into the GSM 03.38 alphabet (:mod:`.gsm7`) so that
it goes out as one 7-bit SMS of at most 160 characters. When it is too long the optional
risks go first (dry spell, then false start), then the place name is shortened; only then
is the advice cut, with ``...`` (and a note)."""

from __future__ import annotations

import csv
import math
import os

from sowcast.bulletin.gsm7 import gsm7_length, to_gsm7
from sowcast.bulletin.products_folder import DrySpellRule, Products
from sowcast.bulletin.translator import Translator
from sowcast.products.planting import ADVICE_CODES

SMS_LIMIT = 160
COLUMNS = ("location", "language", "message", "characters", "encoding")


def _join(parts: list[str]) -> str:
    return to_gsm7(" ".join(p for p in parts if p))


def _risks(t: Translator, code: str, row) -> list[str]:
    """The optional risk sentences, the false start first; none the advice already states."""
    if code == "no_data":
        return []
    out = []
    if code not in ("wait_false_start_risk", "season_started_dry_spell_risk") and not _nan(row.false_start_risk):
        out.append(t("sms.false_start", p=t.percent(row.false_start_risk)))
    if code not in ("wait_dry_spell_risk", "season_started_dry_spell_risk") and not _nan(row.dry_spell_risk):
        out.append(t("sms.dry_spell", p=t.percent(row.dry_spell_risk)))
    return out


def sms_message(t: Translator, row, dry_spell: DrySpellRule, issue, signature: str,
                limit: int = SMS_LIMIT) -> tuple[str, bool]:
    """The message of one location (a row of locations.csv) and whether its advice was cut."""
    code = str(row.advice) if str(row.advice) in ADVICE_CODES else "no_data"
    advice = t(f"sms.{code}", p=t.percent(row.advice_probability), weeks=int(row.advice_week),
               dry_days=dry_spell.days, lookahead=dry_spell.lookahead_days)
    date = t.date(issue, t("format.sms_date"))
    sign = t("sms.signature", signature=signature)
    risks = _risks(t, code, row)
    for keep in range(len(risks), -1, -1):  # drop the risks from the last until it fits
        message = _join([t("sms.head", place=row.location, date=date), advice, *risks[:keep], sign])
        if gsm7_length(message) <= limit:
            return message, False
    place = str(row.location)
    while len(place) > 8:  # then shorten the place name
        place = place[:-1]
        message = _join([t("sms.head", place=place + ".", date=date), advice, sign])
        if gsm7_length(message) <= limit:
            return message, False
    head = t("sms.head", place=place + ".", date=date)
    cut = to_gsm7(advice)  # last resort: cut the advice
    while cut and gsm7_length(_join([head, cut + "...", sign])) > limit:
        cut = cut[:-1].rstrip()
    return _join([head, cut + "...", sign]), True


def _nan(value) -> bool:
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return True


def sms_rows(products: Products, t: Translator, signature: str) -> tuple[list[dict], list[str]]:
    """One row per location (columns :data:`COLUMNS`) and the locations whose advice was cut."""
    rows, cut = [], []
    for row in products.table.itertuples(index=False):
        message, was_cut = sms_message(t, row, products.dry_spell, products.issue, signature)
        if was_cut:
            cut.append(str(row.location))
        rows.append({"location": row.location, "language": t.language, "message": message,
                     "characters": gsm7_length(message), "encoding": "GSM-7"})
    return rows, cut


def write_sms_csv(path: str | os.PathLike, rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
