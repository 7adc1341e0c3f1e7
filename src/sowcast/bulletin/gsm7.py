"""SMS text in the GSM 03.38 7-bit default alphabet (3GPP TS 23.038, section 6.2.1).

A message made only of these characters fits 160 septets in one SMS; a single other
character makes the gateway send the whole message as UCS-2, limited to 70 characters.
Characters of the extension table (``^{}\\[~]|€`` and form feed) are sent as an escape
plus a character: they count 2. :func:`to_gsm7` transliterates the rest (French ``â ê î ô
û ç ë ï``, Wolof ``ŋ``, Twi ``ɛ ɔ``, Hausa hooked letters, typographic quotes and spaces),
keeping the accented letters GSM-7 has (``é è à ù ì ò É Ç Ä Ö Ñ Ü ä ö ñ ü Å å Ø ø Æ æ ß``).
"""

from __future__ import annotations

import unicodedata

BASIC = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
         "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
EXTENSION = "\f^{}\\[~]|€"
_BASIC = frozenset(BASIC) - {"\x1b"}
_EXTENSION = frozenset(EXTENSION)

# Replacements applied before the generic accent stripping (which cannot split these).
_REPLACE = {
    "ç": "c", "œ": "oe", "Œ": "OE", "ŋ": "ng", "Ŋ": "Ng", "ɛ": "e", "Ɛ": "E", "ɔ": "o", "Ɔ": "O",
    "ɓ": "b", "Ɓ": "B", "ɗ": "d", "Ɗ": "D", "ƙ": "k", "Ƙ": "K", "ƴ": "y", "Ƴ": "Y", "ʼ": "'",
    "‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "«": '"', "»": '"',
    "‹": "'", "›": "'", "–": "-", "—": "-", "‑": "-", "−": "-", "…": "...", "•": "-", "°": "o",
    "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2007": " ", "\u200b": "", "\t": " ",
}


def is_gsm7(text: str) -> bool:
    """True when every character is in the default alphabet or its extension table."""
    return all(c in _BASIC or c in _EXTENSION for c in text)


def gsm7_length(text: str) -> int:
    """Septets the text takes in one SMS (extension characters count 2)."""
    return sum(2 if c in _EXTENSION else 1 for c in text)


def to_gsm7(text: str) -> str:
    """``text`` in the GSM-7 alphabet: letters GSM-7 has are kept, others lose their accents
    or are spelled out (table above); anything left becomes ``?``."""
    out = []
    for c in text:
        if c in _BASIC or c in _EXTENSION:
            out.append(c)
            continue
        c = _REPLACE.get(c, c)
        if all(x in _BASIC or x in _EXTENSION for x in c):
            out.append(c)
            continue
        bare = "".join(x for x in unicodedata.normalize("NFKD", c) if not unicodedata.combining(x))
        out.append(bare if bare and is_gsm7(bare) else "?")
    return "".join(out)
