"""Records in: finished files, growing files, sockets — all feeding a History.

``sources/formats.py`` is the registry of input formats (``classify``, ``read_history``);
``sources/open.py`` turns a target into a live source.
"""

from lstm_top.sources.base import SourceError
from lstm_top.sources.formats import classify, read_history
from lstm_top.sources.jsonl import JsonlParser

__all__ = ["JsonlParser", "SourceError", "classify", "read_history"]
