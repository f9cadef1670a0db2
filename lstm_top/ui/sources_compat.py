"""How the UI opens a target: ``open_source``, with a refusal turned into an on-screen error.

``open_source`` raises for a malformed address; the app must show that as a message on the
run's screen, not a traceback, so such a target becomes a source that only reports the error.
"""

from __future__ import annotations

from lstm_top.history import History
from lstm_top.sources.base import DELETED, ENDED, ERROR, LiveSource, UpdateCallback
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


class FrozenSource(LiveSource):
    """An earlier run whose file now holds another one: what was read, kept as it was."""

    def __init__(self, target: str, history: History) -> None:
        super().__init__(target)
        self.history = history
        # Without an end record it did not finish; it was replaced.
        self.state = ENDED if history.end_status is not None else DELETED
        self.message = "replaced by a new run in the same file"

    def start(self, on_update: UpdateCallback | None = None) -> None:
        """Nothing to follow."""

    def _run(self) -> None:
        """Never started."""
