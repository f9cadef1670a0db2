"""Records in: finished files, growing files, sockets — all feeding a History.

``sources/formats.py`` is the registry of input formats (``classify``, ``read_history``);
``sources/open.py`` turns a target into a live source.

The names below load on first use: a module of this package (``sources.base``, ``sources.bulk``
for the first paint) is imported without every reader of every format behind ``formats``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lstm_top.sources.base import SourceError
    from lstm_top.sources.formats import classify, read_history
    from lstm_top.sources.jsonl import JsonlParser

__all__ = ["JsonlParser", "SourceError", "classify", "read_history"]
_HOMES = {"JsonlParser": "jsonl", "SourceError": "base", "classify": "formats",
          "read_history": "formats"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
