"""``sowcast bulletin``: the agency's bulletin from a products folder, in each language
(:mod:`sowcast.bulletin.stage`, which lists the files it writes); ``sowcast bulletin check``
checks that every catalogue gives every message."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegaconf import DictConfig

from sowcast.log import get_logger

if TYPE_CHECKING:
    from sowcast.bulletin.options import BulletinOptions
    from sowcast.bulletin.stage import BulletinResult

_LOG = get_logger("bulletin")


def run(cfg: DictConfig) -> int:
    """The agency's bulletin of a products folder, in each language:

        sowcast bulletin bulletin.products=products bulletin.languages=[en,fr] \\
            bulletin.agency.name="Ghana Meteorological Agency" bulletin.agency.signature=GMet

    An HTML page and a PDF per language (headline advice, onset maps for bulletin.map_weeks,
    rain tercile maps for bulletin.rain_periods, the table of every location, a chart, the
    method and skill from bulletin.scorecard, the provenance), SMS advice in sms.csv and the
    advice of every location in advice.csv, written into bulletin.output (replaced as a whole).
    """
    from sowcast.bulletin.options import BulletinOptions
    from sowcast.bulletin.stage import run as make_bulletin

    options = BulletinOptions.from_config(cfg.get("bulletin"))
    finish(options, make_bulletin(options))
    return 0


def finish(options: BulletinOptions, r: BulletinResult) -> None:
    """What the command logs after the stage (the demo too): the files of each language."""
    parts = [f"{lang}: " + ", ".join([*(["html"] if lang in r.html_bytes else []),
                                      *([f"pdf ({r.pdf_pages[lang]} pages)"] if lang in r.pdf_pages else [])])
             for lang in r.languages]
    sms = "" if r.sms_messages is None else f"; {r.sms_messages} SMS"
    _LOG.info(f"bulletin of {r.issue_date} in {r.output}: {'; '.join(parts)}{sms}")


def check(cfg: DictConfig) -> int:
    """Check that every bulletin catalogue (the built-in ones and bulletin.catalogue_dir's)
    gives every message of the English one, with no {field} English does not fill in:

        sowcast bulletin check bulletin.catalogue_dir=agency/locales

    Prints one line per language; exit status 1 when one is incomplete.
    """
    from sowcast.bulletin.catalogue import check_catalogues
    from sowcast.bulletin.options import BulletinOptions

    report = check_catalogues(BulletinOptions.parse(cfg.get("bulletin")).catalogue_dir)
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
