"""The planting advice as one sentence: the one wording that the products (``locations.csv``),
the API, the bulletin and its ``advice.csv`` all show.

:func:`advice_sentence` fills in a message ``advice.<code>`` (and adds ``advice.no_skill``
where the calibration found no skill). Its default messages are :data:`ENGLISH`, the English
bulletin catalogue's (a test keeps the two the same); the bulletin passes its translator's
messages and percent format for the other languages (``62%`` in English, ``62 %`` with a
no-break space in French). Needs no babel, so the products can run without the bulletin.
"""

from __future__ import annotations

import math
from collections.abc import Callable

ENGLISH: dict[str, str] = {
    "plant_now": "Plant now: {p} chance the rains have started or start within 1 week.",
    "buy_seed_now": "Buy seed now: {p} chance the rains start within {weeks} weeks.",
    "wait": "Wait: {p} chance the rains start within {weeks} weeks.",
    "wait_false_start_risk": "Wait: {p} chance of a false start (rain, then a long dry spell) within {weeks} weeks.",
    "wait_dry_spell_risk": "Wait: {p} chance of a dry spell longer than {dry_days} days within {lookahead} days "
                           "of the start of the rains.",
    "season_started_dry_spell_risk": "The season has started: {p} chance of a dry spell longer than {dry_days} "
                                     "days within {lookahead} days of the onset.",
    "no_onset_expected": "No onset expected: {p} chance the rains do not start within {weeks} weeks.",
    "no_data": "No advice: the forecast or the observations are missing.",
    # added where the calibration found no skill at the advice's week
    "no_skill": "The forecast is no better than the usual dates here: plan by the normal calendar.",
    # the same where the usual dates were moved for this year's ocean (calibrate.onset_ocean)
    "no_skill_ocean_later": "The forecast adds nothing here to the usual dates, which this year's ocean moves "
                            "{days} days later: plan by those.",
    "no_skill_ocean_earlier": "The forecast adds nothing here to the usual dates, which this year's ocean moves "
                              "{days} days earlier: plan by those.",
}
NO_SKILL_NOTES = ("no_skill", "no_skill_ocean_later", "no_skill_ocean_earlier")
OCEAN_SHIFT_MIN_DAYS = 2   # a smaller move is "the usual dates" (as the bulletin's method says)
# advice that rests on no onset-by-week forecast, so no "no skill" note
NO_SKILL_NOTE_NEVER = ("no_data", "season_started_dry_spell_risk")


def english_percent(p) -> str:
    """``0.62`` -> ``62%``; ``n/a`` for a missing value (the English catalogue's format)."""
    try:
        value = float(p)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if math.isnan(value) else f"{round(100 * value):d}%"


def no_skill_note(ocean_shift_days=None) -> tuple[str, int]:
    """``(code, days)`` of the note where the forecast has no skill: the usual dates, or the
    usual dates as this year's ocean moved them (``ocean_shift_days``, the products'
    ``onset_ocean_shift_days``) when that is at least :data:`OCEAN_SHIFT_MIN_DAYS`."""
    try:
        shift = float(ocean_shift_days)
    except (TypeError, ValueError):
        return "no_skill", 0
    days = round(abs(shift)) if math.isfinite(shift) else 0
    if days < OCEAN_SHIFT_MIN_DAYS:
        return "no_skill", 0
    return ("no_skill_ocean_later" if shift > 0 else "no_skill_ocean_earlier"), days


def advice_sentence(code: str, probability, weeks, dry_days="?", lookahead="?", skillful=None, *,
                    message: Callable[[str], str] | None = None,
                    percent: Callable[[float], str] = english_percent, ocean_shift_days=None) -> str:
    """The advice ``code`` as a sentence; ``skillful == 0`` adds the "no better than the usual
    dates" note (the usual dates moved by the ocean, with ``ocean_shift_days``: :func:`no_skill_note`).
    ``message(code)`` gives the template of a code (default :data:`ENGLISH`)."""
    message = message or ENGLISH.__getitem__
    code = str(code) if str(code) in ENGLISH and code not in NO_SKILL_NOTES else "no_data"
    text = message(code).format(p=percent(probability), weeks=int(weeks), dry_days=dry_days, lookahead=lookahead)
    try:
        no_skill = skillful is not None and not math.isnan(float(skillful)) and int(skillful) == 0
    except (TypeError, ValueError):
        no_skill = False
    if no_skill and code not in NO_SKILL_NOTE_NEVER:
        note, days = no_skill_note(ocean_shift_days)
        text = f"{text} {message(note).format(days=days)}"
    return text
