"""Records in: finished files, growing files, sockets — all feeding a History."""

from lstm_top.sources.files import SourceError, read_history
from lstm_top.sources.jsonl import JsonlParser

__all__ = ["JsonlParser", "SourceError", "read_history"]
