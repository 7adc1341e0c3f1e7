"""The bulletin stage: the agency's bulletin of a products folder, in each language.

Output folder (replaced as a whole, atomically)::

    bulletin_<lang>.html   one self-contained page (inline style, images as data: URIs)
    bulletin_<lang>.pdf    the same content as a PDF
    sms.csv                location,language,message,characters,encoding: one GSM-7 SMS
                           (<= 160 characters) per location and language
    advice.csv             location,language,advice: the advice sentence of every location
    maps/*.png             the maps and the chart of each language, for the dashboard
    bulletin.json          issue date, languages, files, page counts, provenance, and the skill
                           (:func:`skill_json`: for the dashboard and ``/api/skill``)

For each language (catalogues sowcast/bulletin/locales/<lang>/LC_MESSAGES/sowcast.po, and
``bulletin.catalogue_dir`` for more) the page and the PDF hold the headline advice, maps of
the chance that the rains have started by weeks ``bulletin.map_weeks``, maps of the most likely
rain tercile for ``bulletin.rain_periods``, the table of each location's onset chances,
false-start and dry-spell risk, planting window and advice, a chart, the method and skill
(``bulletin.scorecard``: a ``sowcast verify`` folder; null: the products' own, which
``sowcast products`` copies from the bundle where ``sowcast verify verify.bundle=...`` added
one) and the provenance.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sowcast.bulletin.options import BulletinOptions
from sowcast.bulletin.products_folder import Products
from sowcast.bulletin.translator import Translator
from sowcast.errors import SowcastError
from sowcast.log import get_logger
from sowcast.output_lock import output_lock

if TYPE_CHECKING:
    from sowcast.bulletin.skill import Skill

_LOG = get_logger("bulletin")


@dataclass(frozen=True)
class BulletinResult:
    """What :func:`run` wrote: the folder, the products' issue date, the files, and per
    language the PDF's pages and the HTML page's bytes; the SMS written (all languages)."""

    output: Path
    issue_date: str
    languages: tuple[str, ...]
    files: tuple[str, ...]
    pdf_pages: dict[str, int] = field(default_factory=dict)
    html_bytes: dict[str, int] = field(default_factory=dict)
    sms_messages: int | None = None   # None: no SMS asked for


def _check_writable(output: Path) -> None:
    """The output can be made where it is asked for; a one-line error otherwise."""
    if output.exists() and not output.is_dir():
        raise SowcastError(f"bulletin.output {output} is a file, not a folder")
    parent = output.resolve().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise SowcastError(f"bulletin.output: cannot write in {parent}")


def _warn_incomplete(translators: dict[str, Translator]) -> None:
    for lang, t in translators.items():
        if t.missing:
            shown = ", ".join(f"{k} ({t.problems[k]})" if t.problems[k] != "missing" else k for k in t.missing)
            _LOG.warning(f"catalogue {lang!r} lacks {len(t.missing)} message(s), shown in English: {shown}")
        for note in t.notes:
            _LOG.warning(f"catalogue {lang!r}: {note}")


def write_advice_csv(path: Path, products: Products, translators: dict[str, Translator]) -> None:
    """advice.csv: location, language, advice: the advice sentence of every location in every
    language (what the service's API and dashboard show)."""
    from sowcast.bulletin.document import advice_sentence

    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["location", "language", "advice"])
        for lang, t in translators.items():
            for row in products.table.itertuples(index=False):
                out.writerow([row.location, lang, advice_sentence(t, row, products.dry_spell,
                                                                  products.meta.onset_ocean_shift_days)])


def _metadata(products: Products, options: BulletinOptions, result: BulletinResult,
              translators: dict[str, Translator], scorecard: Path | None, skill: Skill | None) -> dict:
    """bulletin.json."""
    import pandas as pd

    import sowcast
    from sowcast.bulletin.document import rule_citation

    meta = products.meta
    return {
        "product": "sowcast bulletin", "issue_date": meta.issue_date, "languages": list(options.languages),
        "agency": {"name": options.agency.name, "signature": options.agency.signature},
        "files": list(result.files), "pdf_pages": result.pdf_pages, "html_bytes": result.html_bytes,
        "sms_messages": result.sms_messages or 0,
        "missing_messages": {lang: t.missing for lang, t in translators.items()},
        "provenance": {
            "products": str(products.folder.resolve()),
            "scorecard": None if scorecard is None else str(scorecard.resolve()),
            "bundle_sha256": meta.bundle_sha256 or meta.forecast_bundle_sha256,
            "init_time": meta.init_time, "products_sowcast_version": meta.sowcast_version,
            "rules": meta.rules, "rules_citation": rule_citation(products),
            "rules_source": meta.rules_source,
            "sowcast_version": sowcast.__version__,
        },
        "skill": skill_json(skill, translators, list(options.rain_periods), meta.members),
        "created": f"{pd.Timestamp.now('UTC'):%Y-%m-%dT%H:%M:%SZ}",
    }


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def skill_json(skill: Skill | None, translators: dict[str, Translator], periods: list[str],
               members: int | None) -> dict:
    """bulletin.json's ``skill`` (the dashboard's and ``/api/skill``'s): whether the forecasts
    were assessed on held-out years, the scores of what is issued (the calibrated terciles and
    onset where the scorecard has them, else the raw ones) with their 90 % intervals over the
    years, and the bulletin's own skill paragraphs (of ``periods``) in each of its languages. The
    tercile scores are those of every period ``skill`` holds (the dashboard's detail shows them all)."""
    from sowcast.bulletin.document import skill_text

    statement = {lang: skill_text(t, skill, periods, members) for lang, t in translators.items()}
    if skill is None or (not skill.rpss and not math.isfinite(skill.onset_mae)):
        return {"assessed": False, "statement": statement}
    calibrated = bool(skill.rpss_calibrated)
    values, intervals = ((skill.rpss_calibrated, skill.rpss_calibrated_interval) if calibrated
                         else (skill.rpss, skill.rpss_interval))
    rpss = {p: {"value": _number(v), "low": _number(intervals.get(p, (math.nan,) * 2)[0]),
                "high": _number(intervals.get(p, (math.nan,) * 2)[1])} for p, v in values.items()}
    onset = skill.onset_issued
    onset_json = None
    if math.isfinite(skill.onset_mae):
        issued_mae = skill.onset_mae_calibrated if onset is not None and onset.calibrated else skill.onset_mae
        onset_json = {"calibrated": bool(onset is not None and onset.calibrated), "mae_days": _number(issued_mae),
                      "usual_mae_days": _number(skill.onset_reference), "cases": skill.onset_cases}
        if onset is not None:
            onset_json |= {"bias_days": _number(onset.bias), "bias_low": _number(onset.bias_low),
                           "bias_high": _number(onset.bias_high), "usual_bias_days": _number(onset.bias_reference),
                           "mae_skill": _number(onset.mae_skill), "mae_skill_low": _number(onset.mae_skill_low),
                           "mae_skill_high": _number(onset.mae_skill_high)}
        if skill.onset_by_week:   # the chances the planting table shows: Brier skill against the usual dates'
            onset_json["by_week_brier_skill"] = {w: _number(v) for w, v in skill.onset_by_week.items()}
            nan = (math.nan, math.nan)   # its 90 % interval over the years (null in older scorecards)
            onset_json["by_week_brier_skill_low"] = {w: _number(skill.onset_by_week_interval.get(w, nan)[0])
                                                     for w in skill.onset_by_week}
            onset_json["by_week_brier_skill_high"] = {w: _number(skill.onset_by_week_interval.get(w, nan)[1])
                                                      for w in skill.onset_by_week}
    return {"assessed": True, "years": list(skill.years), "members": skill.members,
            "rain_terciles": {"calibrated": calibrated, "rpss": rpss}, "onset": onset_json, "statement": statement}


def _write_language(tmp: Path, products: Products, lang: str, t: Translator, options: BulletinOptions, skill,
                    files: list[str], pages: dict, sizes: dict) -> tuple[list[dict], list[str]]:
    """The figures, page and PDF of one language into ``tmp`` (names added to ``files``); its SMS
    rows and the locations whose SMS advice was cut."""
    from sowcast.bulletin.document import build_bulletin
    from sowcast.bulletin.html_page import render_html
    from sowcast.bulletin.pdf_document import render_pdf
    from sowcast.bulletin.sms import sms_rows

    formats = options.formats
    if "html" in formats or "pdf" in formats:
        bulletin = build_bulletin(products, t, options, skill)
        for figure in bulletin.figures:
            name = f"maps/{figure.name}_{lang}.png"
            (tmp / name).write_bytes(figure.png)
            files.append(name)
    if "html" in formats:
        name = f"bulletin_{lang}.html"
        (tmp / name).write_text(render_html(bulletin), encoding="utf-8")
        sizes[lang] = (tmp / name).stat().st_size
        files.append(name)
    if "pdf" in formats:
        name = f"bulletin_{lang}.pdf"
        pages[lang] = render_pdf(bulletin, tmp / name, agency=options.agency.name)
        files.append(name)
    return sms_rows(products, t, options.agency.signature) if "sms" in formats else ([], [])


def run(options: BulletinOptions) -> BulletinResult:
    """The bulletin of ``options.products`` in each of ``options.languages``, written into
    ``options.output`` (replaced as a whole): module doc. Everything that can fail on bad
    input fails before anything is written."""
    from sowcast.atomic import atomic_path
    from sowcast.bulletin.document import check_options
    from sowcast.bulletin.products_folder import read_products
    from sowcast.bulletin.skill import read_scorecard
    from sowcast.bulletin.sms import write_sms_csv
    from sowcast.products.folder import scorecard_folder

    translators = {lang: Translator.load(lang, options.catalogue_dir) for lang in options.languages}
    products = read_products(options.products)
    check_options(products, options)
    scorecard = options.scorecard or scorecard_folder(products.folder, products.meta)   # the bundle's, via the products
    # every period of the products: bulletin.json gives them all, the document those of rain_periods
    skill = None if scorecard is None else read_scorecard(scorecard, list(products.periods.index))
    _check_writable(options.output)
    _warn_incomplete(translators)

    files, pages, sizes, sms_all = [], {}, {}, []
    try:
        with output_lock(options.output), atomic_path(options.output, overwrite=True, directory=True) as tmp:
            (tmp / "maps").mkdir()
            for lang, t in translators.items():
                rows, cut = _write_language(tmp, products, lang, t, options, skill, files, pages, sizes)
                sms_all += rows
                if cut:
                    _LOG.warning(f"SMS advice cut to 160 characters in {lang!r} for {', '.join(cut)}")
            if "sms" in options.formats:
                write_sms_csv(tmp / "sms.csv", sms_all)
                files.append("sms.csv")
            write_advice_csv(tmp / "advice.csv", products, translators)
            files.append("advice.csv")
            result = BulletinResult(options.output, products.meta.issue_date, options.languages, tuple(files),
                                    pages, sizes, len(sms_all) if "sms" in options.formats else None)
            meta = _metadata(products, options, result, translators, scorecard, skill)
            (tmp / "bulletin.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise SowcastError(f"cannot write the bulletin to {options.output}: {exc.strerror or exc}") from None
    return result
