"""How the UI opens a target: ``open_source``, with a refusal turned into an on-screen error.

``open_source`` raises for a malformed address; the app must show that as a message on the
run's screen, not a traceback, so such a target becomes a source that only reports the error.
"""

from __future__ import annotations

from lstm_top.sources.base import ERROR, LiveSource
from lstm_top.sources.files import SourceError
from lstm_top.sources.open import open_source


class RefusedSource(LiveSource):
    def __init__(self, target: str, reason: str) -> None:
        super().__init__(target)
        self.reason = reason

    def _run(self) -> None:
        self._emit(0, ERROR, self.reason)


def open_target(target: str) -> LiveSource:
    try:
        return open_source(target)
    except SourceError as exc:
        return RefusedSource(target, str(exc))
