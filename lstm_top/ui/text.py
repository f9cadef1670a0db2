"""Untrusted strings (run, metric and subset names, messages) made safe to show.

Everything from a history file is shown as ``rich.text.Text`` (never parsed as markup). The
escaping itself is ``lstm_top.sanitize`` (escape sequences removed whole, control and bidi
characters shown as ``?``, cut to a number of terminal cells); ``clean`` adds what the UI wants
on top: a huge value is cut before any work, and line breaks and tabs read as spaces.
"""

from __future__ import annotations

from lstm_top.sanitize import safe_text, truncate

_BREAKS = str.maketrans({"\n": " ", "\r": " ", "\t": " ", "\x0b": " ", "\x0c": " "})


def clean(text: object, limit: int = 200) -> str:
    """Printable text only: escapes removed, other control characters as '?', at most ``limit``
    terminal cells (ending with '…' when cut)."""
    # Cut first (with room for escapes that will be removed): a huge value costs nothing.
    value = str(text)[: limit * 4 + 64].translate(_BREAKS)
    return truncate(safe_text(value), limit)
