"""Make untrusted strings safe to show: run names, metric and subset names, config values.

Everything lstm-top displays that came from a history file or a socket was written by someone
else's code. A name must never drive the terminal (ANSI/CSI colour codes, OSC 52 clipboard
writes, OSC 8 links, cursor movement), never reorder the text around it (bidi overrides), never
be interpreted as Textual markup, and never break a layout by its length.

Standard library only (no Textual import), so ``lstm-top check`` and the hook can use it.

* :func:`safe_text` - one line of plain text: escape sequences removed whole, every other
  control character (C0, DEL, C1, bidi controls, zero-width format characters, lone
  surrogates, line and paragraph separators) replaced by a visible ``?``.
* :func:`truncate` - shorten to a number of terminal cells, ending with ``…``.
* :func:`safe_name` - both: what a label or table cell should show.
* :func:`escape_markup` - for the rare place that builds Textual markup around a value; prefer
  ``Content(text)`` / ``Text(text)``, which never parse markup at all.
"""

from __future__ import annotations

import re
import unicodedata

ELLIPSIS = "…"
REPLACEMENT = "?"
DEFAULT_NAME_CELLS = 48

# A whole escape sequence, 7-bit (ESC-introduced) or 8-bit (C1-introduced), so that its
# parameters do not show up as litter ("[31m") after the ESC itself is gone:
#   CSI  ESC [ / U+009B  params, intermediates, final byte
#   OSC  ESC ] / U+009D  ... terminated by BEL, ST (ESC \ or U+009C), or the end of the string
#   DCS/SOS/PM/APC  ESC P X ^ _ / U+0090 U+0098 U+009E U+009F  ... terminated by ST
#   any other ESC + one character (ESC 7, ESC c, ESC ( B's first part, ...)
_ESCAPE_SEQUENCE = re.compile(
    r"""
    (?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?
  | (?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?
  | (?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[^\x1b\x9c]*(?:\x1b\\|\x9c)?
  | \x1b[\x20-\x2f]*[\x30-\x7e]?
    """,
    re.VERBOSE,
)

# Characters that change how the text around them is drawn without being drawn themselves.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                           "\u2066\u2067\u2068\u2069")


def _safe_char(ch: str) -> str:
    if ch == " " or (ch.isprintable() and ch not in _BIDI_CONTROLS):
        return ch
    category = unicodedata.category(ch)
    if category == "Zs":  # no-break and other spaces: harmless, show as a space
        return " "
    if ch == "\t":
        return " "
    return REPLACEMENT


def safe_text(text: object) -> str:
    """One line of text with no character that can drive the terminal or reorder the line."""
    value = text if isinstance(text, str) else str(text)
    if value.isprintable() and value.isascii():
        return value  # the common case, cheap
    value = _ESCAPE_SEQUENCE.sub("", value)
    return "".join(_safe_char(ch) for ch in value)


def char_cells(ch: str) -> int:
    """Terminal cells one character takes: 0 for combining marks, 2 for wide East Asian."""
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def cell_width(text: str) -> int:
    if text.isascii():
        return len(text)
    return sum(char_cells(ch) for ch in text)


def truncate(text: str, max_cells: int) -> str:
    """``text`` cut to at most ``max_cells`` terminal cells, marked with a trailing ``…``."""
    if cell_width(text) <= max_cells:
        return text  # a text of no width (a soft hyphen, a combining mark) fits even 0 cells
    if max_cells <= 0:
        return ""
    budget = max_cells - 1  # the ellipsis takes one cell
    kept: list[str] = []
    used = 0
    for ch in text:
        cells = char_cells(ch)
        if used + cells > budget:
            break
        kept.append(ch)
        used += cells
    return "".join(kept) + ELLIPSIS


def safe_name(text: object, max_cells: int = DEFAULT_NAME_CELLS) -> str:
    """A run, metric, subset or config name ready for a label: safe and at most max_cells."""
    return truncate(safe_text(text), max_cells)


def escape_markup(text: str) -> str:
    """Escape ``text`` for Textual (>= 2) content markup, so it renders literally.

    Textual treats a backslash right before ``[`` as an escape and every other backslash as a
    literal one, so escaping each ``[`` is exact. (``textual.markup.escape`` leaves ``[$var]``,
    ``[B]`` and ``[ bold ]`` alone, which Textual then interprets, and doubles backslashes,
    which Textual then shows doubled.) Call it after :func:`safe_name`, not before: truncation
    could otherwise cut an escape in half.
    """
    return text.replace("[", "\\[")
