"""``sowcast bulletin``: the agency's bulletin from a products folder, in each language.

Output folder (replaced as a whole, atomically)::

    bulletin_<lang>.html   one self-contained page (inline style, images as data: URIs)
    bulletin_<lang>.pdf    the same content as a PDF
    sms.csv                location,language,message,characters,encoding: one GSM-7 SMS
                           (<= 160 characters) per location and language
    maps/*.png             the maps and the chart of each language, for the dashboard
    bulletin.json          issue date, languages, files, page counts, provenance

``sowcast bulletin check`` checks that every catalogue gives every message.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from sowcast.config import plain
from sowcast.config_values import whole
from sowcast.errors import SowcastError
from sowcast.log import get_logger
from sowcast.output_lock import output_lock

_LOG = get_logger("bulletin")

BULLETIN_OPTIONS = ("products", "scorecard", "languages", "agency", "catalogue_dir", "output", "formats",
                    "map_weeks", "rain_periods", "dpi")
FORMATS = ("html", "pdf", "sms")


def _is_null(value: Any) -> bool:
    return value is None or str(value).strip() in ("", "None", "null")


def _options(cfg: DictConfig) -> dict:
    b = dict(plain(cfg.get("bulletin")) or {})
    unknown = sorted(set(b) - set(BULLETIN_OPTIONS))
    if unknown:
        raise SowcastError(f"unknown bulletin option(s) {', '.join(unknown)}; known: {', '.join(BULLETIN_OPTIONS)}")
    return b


def _list(value: Any, key: str, default: list) -> list:
    if _is_null(value):
        return list(default)
    items = [value] if isinstance(value, (str, int)) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise SowcastError(f"bulletin.{key} must be a list, not {value!r}")
    return list(dict.fromkeys(items))


def _agency(value: Any) -> tuple[str, str]:
    if isinstance(value, str):
        value = {"name": value}
    value = dict(value or {})
    name = str(value.get("name") or "").strip()
    if not name:
        raise SowcastError("bulletin.agency.name is not set: the agency's name shown in the bulletin")
    return name, str(value.get("signature") or name).strip()


def _catalogue_dir(b: dict) -> Path | None:
    return None if _is_null(b.get("catalogue_dir")) else Path(os.path.expanduser(str(b["catalogue_dir"])))


def _check_writable(output: Path) -> None:
    """The output can be made where it is asked for; a one-line error otherwise."""
    if output.exists() and not output.is_dir():
        raise SowcastError(f"bulletin.output {output} is a file, not a folder")
    parent = output.resolve().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise SowcastError(f"bulletin.output: cannot write in {parent}")


def _warn(message: str) -> None:
    _LOG.warning(message)  # "sowcast bulletin: warning: ..."


def run(cfg: DictConfig) -> int:
    """The agency's bulletin of a products folder, in each language:

        sowcast bulletin bulletin.products=products bulletin.languages=[en,fr] \\
            bulletin.agency.name="Ghana Meteorological Agency" bulletin.agency.signature=GMet

    For each language (catalogues sowcast/bulletin/locales/<lang>/LC_MESSAGES/sowcast.po, and
    bulletin.catalogue_dir for more): a self-contained HTML page and a PDF with the headline
    advice, maps of the chance that the rains have started by weeks bulletin.map_weeks, maps
    of the most likely rain tercile for bulletin.rain_periods, the table of each location's
    onset probabilities, false-start and dry-spell risk, planting window and advice, a chart,
    the method and skill (bulletin.scorecard: a 'sowcast verify' folder) and the provenance;
    SMS advice (one GSM-7 message of at most 160 characters per location and language) in
    sms.csv. Writes into bulletin.output (replaced as a whole). 'sowcast bulletin check'
    checks the catalogues.
    """
    from sowcast.atomic import atomic_path
    from sowcast.bulletin.document import Options, build_bulletin, check_options
    from sowcast.bulletin.html_page import render_html
    from sowcast.bulletin.pdf_document import render_pdf
    from sowcast.bulletin.products_folder import read_products
    from sowcast.bulletin.skill import read_scorecard
    from sowcast.bulletin.sms import sms_rows, write_sms_csv
    from sowcast.bulletin.translator import Translator

    b = _options(cfg)
    if _is_null(b.get("products")):
        raise SowcastError("bulletin.products is not set: give the folder written by 'sowcast products'")
    languages = [str(x).strip() for x in _list(b.get("languages"), "languages", ["en", "fr"])]
    formats = [str(x) for x in _list(b.get("formats"), "formats", list(FORMATS))]
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise SowcastError(f"unknown bulletin format(s) {', '.join(bad)}; known: {', '.join(FORMATS)}")
    agency, signature = _agency(b.get("agency"))
    map_weeks = [whole(w, "bulletin.map_weeks", 1) for w in _list(b.get("map_weeks"), "map_weeks", [2, 4])]
    dpi = whole(b.get("dpi") or 120, "bulletin.dpi", 50, 400)
    rain_periods = [str(p) for p in _list(b.get("rain_periods"), "rain_periods",
                                          ["week1", "week2", "weeks3-4", "weeks5-6"])]
    output = Path(os.path.expanduser(str(b.get("output") or "bulletin")))
    catalogue_dir = _catalogue_dir(b)

    # Everything that can fail on bad input fails here, before anything is written.
    translators = {lang: Translator.load(lang, catalogue_dir) for lang in languages}
    products = read_products(b["products"])
    options = Options(agency=agency, map_weeks=map_weeks, rain_periods=rain_periods, dpi=dpi)
    check_options(products, options)
    skill = None if _is_null(b.get("scorecard")) else read_scorecard(b["scorecard"], rain_periods)
    _check_writable(output)
    for lang, t in translators.items():
        if t.missing:
            shown = ", ".join(f"{k} ({t.problems[k]})" if t.problems[k] != "missing" else k for k in t.missing)
            _warn(f"catalogue {lang!r} lacks {len(t.missing)} message(s), shown in English: {shown}")
        for note in t.notes:
            _warn(f"catalogue {lang!r}: {note}")

    files, pages, sizes, sms_all = [], {}, {}, []
    try:
        with output_lock(output), atomic_path(output, overwrite=True, directory=True) as tmp:
            (tmp / "maps").mkdir()
            for lang, t in translators.items():
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
                    pages[lang] = render_pdf(bulletin, tmp / name, agency=agency)
                    files.append(name)
                if "sms" in formats:
                    rows, cut = sms_rows(products, t, signature)
                    sms_all += rows
                    if cut:
                        _warn(f"SMS advice cut to 160 characters in {lang!r} for {', '.join(cut)}")
            if "sms" in formats:
                write_sms_csv(tmp / "sms.csv", sms_all)
                files.append("sms.csv")
            write_advice_csv(tmp / "advice.csv", products, translators)
            files.append("advice.csv")
            meta = _metadata(products, languages, agency, signature, files, pages, sizes, len(sms_all),
                             translators, b.get("scorecard"))
            (tmp / "bulletin.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise SowcastError(f"cannot write the bulletin to {output}: {exc.strerror or exc}") from None
    parts = [f"{lang}: " + ", ".join(
        [*(["html"] if lang in sizes else []), *([f"pdf ({pages[lang]} pages)"] if lang in pages else [])])
        for lang in languages]
    sms = f"; {len(sms_all)} SMS" if "sms" in formats else ""
    _LOG.info(f"bulletin of {products.meta['issue_date']} in {output}: {'; '.join(parts)}{sms}")
    return 0


def write_advice_csv(path: Path, products, translators: dict) -> None:
    """advice.csv: location, language, advice: the advice sentence of every location in every
    language (what the service's API and dashboard show)."""
    import csv

    from sowcast.bulletin.document import advice_sentence

    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["location", "language", "advice"])
        for lang, t in translators.items():
            for row in products.table.itertuples(index=False):
                out.writerow([row.location, lang, advice_sentence(t, row, products.attrs)])


def _metadata(products, languages, agency, signature, files, pages, sizes, n_sms, translators, scorecard) -> dict:
    import pandas as pd

    import sowcast
    from sowcast.bulletin.document import rule_citation

    meta = products.meta
    return {
        "product": "sowcast bulletin", "issue_date": meta["issue_date"], "languages": languages,
        "agency": {"name": agency, "signature": signature},
        "files": files, "pdf_pages": pages, "html_bytes": sizes, "sms_messages": n_sms,
        "missing_messages": {lang: t.missing for lang, t in translators.items()},
        "provenance": {
            "products": str(products.folder.resolve()),
            "scorecard": None if _is_null(scorecard) else str(Path(str(scorecard)).resolve()),
            "bundle_sha256": meta.get("bundle_sha256") or meta.get("forecast_bundle_sha256"),
            "init_time": meta.get("init_time"), "products_sowcast_version": meta.get("sowcast_version"),
            "rules": meta.get("rules"), "rules_citation": rule_citation(products),
            "rules_source": meta.get("rules_source"),
            "sowcast_version": sowcast.__version__,
        },
        "created": f"{pd.Timestamp.now('UTC'):%Y-%m-%dT%H:%M:%SZ}",
    }


def check(cfg: DictConfig) -> int:
    """Check that every bulletin catalogue (the built-in ones and bulletin.catalogue_dir's)
    gives every message of the English one, with no {field} English does not fill in:

        sowcast bulletin check bulletin.catalogue_dir=agency/locales

    Prints one line per language; exit status 1 when one is incomplete.
    """
    from sowcast.bulletin.catalogue import check_catalogues

    report = check_catalogues(_catalogue_dir(_options(cfg)))
    complete = True
    for lang, r in report.items():
        problems, unknown = r["problems"], r["unknown"]
        if not problems and not unknown:
            print(f"{lang}: complete ({r['messages']} messages)")
            continue
        complete = complete and not problems
        details = [f"{k} ({v})" for k, v in problems.items()] + [f"{k} (not an English id)" for k in unknown]
        print(f"{lang}: {len(problems)} of the English messages missing or wrong, {len(unknown)} unknown: "
              f"{', '.join(details)}")
    return 0 if complete else 1
