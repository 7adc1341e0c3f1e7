"""One language of the bulletin: its messages (English where missing) and its locale's
formats of dates and numbers (babel, CLDR data: ``27 April 2001`` / ``27 avril 2001``,
``80%`` / ``80 %``)."""

from __future__ import annotations

import datetime as dt
import math
import os

import pandas as pd

from sowcast.bulletin.catalogue import (
    SOURCE_LANGUAGE,
    Catalogue,
    load_catalogue,
    problems,
)


class Translator:
    """``t(id, **fields)`` gives the message in the language, falling back to English;
    ``missing`` lists the ids shown in English; ``notes`` what else went wrong."""

    def __init__(self, catalogue: Catalogue, source: Catalogue):
        from babel import Locale, UnknownLocaleError

        self.language = catalogue.language
        bad = problems(catalogue, source) if catalogue is not source else {}
        self.missing = sorted(bad)
        self.problems = bad
        self.messages = dict(source.messages)
        self.messages.update({k: v for k, v in catalogue.messages.items() if k in source.messages and k not in bad})
        self.notes: list[str] = []
        for ident in (catalogue.locale, catalogue.language, source.locale, "en"):
            try:
                self.locale = Locale.parse(ident.replace("-", "_"))
                break
            except (UnknownLocaleError, ValueError, TypeError, AttributeError):
                if ident is not None and ident in (catalogue.locale, catalogue.language):
                    note = f"no CLDR locale {ident!r}: dates and numbers in the English format"
                    if note not in self.notes:
                        self.notes.append(note)

    @classmethod
    def load(cls, lang: str, catalogue_dir: str | os.PathLike | None = None) -> Translator:
        source = load_catalogue(SOURCE_LANGUAGE, catalogue_dir)
        return cls(source if lang == SOURCE_LANGUAGE else load_catalogue(lang, catalogue_dir), source)

    def __call__(self, key: str, **fields) -> str:
        try:
            text = self.messages[key]
        except KeyError:
            raise KeyError(f"message {key!r} is not in the English bulletin catalogue") from None
        return text.format(**fields) if fields else text

    # ---------------------------------------------------------------- formats
    def date(self, value, fmt: str = "long") -> str:
        """A date in the locale's ``long`` form, or a CLDR pattern such as ``dd/MM``."""
        from babel.dates import format_date

        return format_date(_date(value), format=fmt, locale=self.locale)

    def date_range(self, start, end, skeleton: str = "MMMd") -> str:
        """``28 Apr – 4 May`` / ``28 avr. – 4 mai``: an interval in the locale's form."""
        from babel.dates import format_interval

        return format_interval(_date(start), _date(end), skeleton, locale=self.locale)

    def percent(self, value) -> str:
        """A probability in [0, 1] as a whole percentage; ``n/a`` for NaN."""
        from babel.numbers import format_percent

        if _missing(value):
            return self("common.not_available")
        return format_percent(float(value), locale=self.locale)

    def decimal(self, value, digits: int = 2) -> str:
        from babel.numbers import format_decimal

        if _missing(value):
            return self("common.not_available")
        pattern = "#,##0." + "0" * digits if digits else "#,##0"
        text = format_decimal(float(value), format=pattern, locale=self.locale)
        if not any(c in "123456789" for c in text):   # -0.004 at 2 digits: "0.00", not "-0.00"
            text = format_decimal(0.0, format=pattern, locale=self.locale)
        return text


def _missing(value) -> bool:
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return True


def _date(value) -> dt.date:
    return pd.Timestamp(value).date()
