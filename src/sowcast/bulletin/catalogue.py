"""Message catalogues of the bulletin: gettext ``.po`` files, one per language, read at run time.

Layout (the gettext one)::

    <folder>/<lang>/LC_MESSAGES/sowcast.po

The built-in folder is ``sowcast/bulletin/locales`` (English ``en``, the source language, and
French ``fr``); ``bulletin.catalogue_dir`` is an agency's folder of the same layout that adds
languages (Wolof ``wo``, Twi ``tw`` ...) or overrides messages of built-in ones, without a
code change. Message ids are keys (``advice.plant_now``); the English catalogue holds every
id. A message is left out (and so shown in English) when its ``msgstr`` is empty, when it is
marked ``fuzzy``, or when it uses a ``{field}`` the English one does not fill in. The
``Language:`` header names the CLDR locale that dates and numbers are formatted in.
"""

from __future__ import annotations

import os
import string
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from sowcast.errors import SowcastError

DOMAIN = "sowcast"
SOURCE_LANGUAGE = "en"


def builtin_dir() -> Path:
    return Path(str(resources.files("sowcast.bulletin") / "locales"))


def _po_file(folder: Path, lang: str) -> Path:
    return folder / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def _folders(catalogue_dir: str | os.PathLike | None) -> list[Path]:
    """The built-in folder, then the agency's (whose messages win)."""
    folders = [builtin_dir()]
    if catalogue_dir is not None:
        extra = Path(os.path.expanduser(str(catalogue_dir)))
        if not extra.is_dir():
            raise SowcastError(f"bulletin.catalogue_dir: no such folder {extra}")
        folders.append(extra)
    return folders


def available_languages(catalogue_dir: str | os.PathLike | None = None) -> list[str]:
    """Languages with a catalogue in the built-in folder or ``catalogue_dir``, sorted."""
    langs = set()
    for folder in _folders(catalogue_dir):
        langs.update(p.name for p in folder.iterdir() if _po_file(folder, p.name).is_file())
    return sorted(langs)


def placeholders(text: str) -> set[str]:
    """The ``{field}`` names of a message (str.format syntax)."""
    try:
        return {name.split(".")[0].split("[")[0] for _lit, name, _spec, _conv in string.Formatter().parse(text)
                if name}
    except ValueError:  # unbalanced braces: no usable field list
        return {"{"}


@dataclass
class Catalogue:
    """The messages of one language: ``messages`` (id -> text), the CLDR ``locale`` of its
    ``Language:`` header (None if absent) and the files it was read from."""

    language: str
    messages: dict[str, str] = field(default_factory=dict)
    locale: str | None = None
    files: list[Path] = field(default_factory=list)


def read_po_file(path: Path) -> tuple[dict[str, str], str | None]:
    """The translated, non-fuzzy messages of one ``.po`` file and its ``Language:``."""
    from babel.messages.pofile import PoFileError, read_po

    try:
        with open(path, "rb") as f:
            catalog = read_po(f, abort_invalid=True)
    except (PoFileError, OSError, UnicodeDecodeError, ValueError) as exc:
        raise SowcastError(f"cannot read the message catalogue {path}: {str(exc).splitlines()[0]}") from None
    messages = {}
    for message in catalog:
        if not message.id or not isinstance(message.id, str) or message.fuzzy:
            continue
        text = message.string if isinstance(message.string, str) else None
        if text:
            messages[message.id] = text
    return messages, catalog.locale_identifier or None


def load_catalogue(lang: str, catalogue_dir: str | os.PathLike | None = None) -> Catalogue:
    """The built-in catalogue of ``lang`` overridden by the agency's; a one-line error
    listing the available languages if neither exists."""
    lang = str(lang).strip()
    catalogue = Catalogue(lang)
    for folder in _folders(catalogue_dir):
        path = _po_file(folder, lang)
        if path.is_file():
            messages, locale = read_po_file(path)
            catalogue.messages.update(messages)
            catalogue.locale = locale or catalogue.locale
            catalogue.files.append(path)
    if not catalogue.files:
        raise SowcastError(f"no bulletin catalogue for language {lang!r}; available: "
                           f"{', '.join(available_languages(catalogue_dir))} (add {lang}/LC_MESSAGES/{DOMAIN}.po "
                           f"under bulletin.catalogue_dir)")
    return catalogue


def problems(catalogue: Catalogue, source: Catalogue) -> dict[str, str]:
    """Message id -> what is wrong, for each id of ``source`` that ``catalogue`` cannot give:
    ``missing``, or ``uses {x} unknown in English``."""
    out = {}
    for key, text in source.messages.items():
        if key not in catalogue.messages:
            out[key] = "missing"
            continue
        extra = placeholders(catalogue.messages[key]) - placeholders(text)
        if extra:
            out[key] = f"uses {', '.join('{' + x + '}' for x in sorted(extra))} unknown in English"
    return out


def unknown_ids(catalogue: Catalogue, source: Catalogue) -> list[str]:
    """Ids in ``catalogue`` that the English catalogue does not have (typos, stale ids)."""
    return sorted(set(catalogue.messages) - set(source.messages))


def check_catalogues(catalogue_dir: str | os.PathLike | None = None) -> dict[str, dict]:
    """For every available language: ``messages`` (how many it gives), ``problems`` (id ->
    what is wrong, see :func:`problems`) and ``unknown`` (ids English lacks)."""
    source = load_catalogue(SOURCE_LANGUAGE, catalogue_dir)
    report = {}
    for lang in available_languages(catalogue_dir):
        catalogue = load_catalogue(lang, catalogue_dir)
        report[lang] = {"messages": len(catalogue.messages), "problems": problems(catalogue, source),
                        "unknown": unknown_ids(catalogue, source)}
    return report
