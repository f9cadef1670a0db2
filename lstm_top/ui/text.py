"""Untrusted strings (run, metric and subset names, messages) made safe to show.

Everything from a history file is shown as ``rich.text.Text`` (never parsed as markup); this
module also strips escape sequences and control characters, which would otherwise reach the
terminal (an OSC 52 sequence can write the clipboard).
"""

from __future__ import annotations

import re
import unicodedata

_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?"
                      r"|\x9b[0-?]*[ -/]*[@-~]|\x9d[^\x07\x9c]*[\x07\x9c]?")


def clean(text: object, limit: int = 200) -> str:
    """Printable text only: escapes removed, other control characters as '?', at most ``limit``."""
    # Cut first (with room for escapes that will be removed): a huge value costs nothing.
    value = _ESCAPES.sub("", str(text)[: limit * 4 + 64])
    value = "".join(_printable(ch) for ch in value)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _printable(char: str) -> str:
    if char == " " or char.isprintable():
        return char
    if char in "\t\n\r" or unicodedata.category(char).startswith("Z"):
        return " "
    return "?"
