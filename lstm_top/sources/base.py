"""The contract between a live source (file follower, socket client) and whoever shows it.

A source owns one background thread. It applies records to its History while holding
``history.lock`` and reports through the ``on_update`` callback, from its own thread; it never
touches a UI. A viewer turns the callback into a message for its own loop and coalesces.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from lstm_top.history import History

# Source states, as shown to the user.
WAITING = "waiting"  # the file does not exist yet / nothing to connect to yet
LIVE = "live"  # reading; records may still arrive
ENDED = "ended"  # the run wrote its end record, or a finished file was read whole
DELETED = "deleted"  # the file went away; what was read is kept
DISCONNECTED = "disconnected"  # socket lost; reconnecting with back-off
ERROR = "error"  # cannot be read at all; ``message`` says why


@dataclass(slots=True)
class SourceUpdate:
    source: LiveSource
    history: History  # the run being read now (a new object when ``new_run``)
    added: int  # records added since the previous update (many appends, one update)
    state: str
    message: str | None = None  # a notice for the user: truncated, rotated, reconnecting...
    new_run: bool = False  # another run started in the same place: keep the old history too


UpdateCallback = Callable[[SourceUpdate], None]


class LiveSource(ABC):
    """A run that may still grow. ``start`` spawns the reader; ``stop`` joins it (bounded)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.history = History(source=target)
        self.state = WAITING
        self.message: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_update: UpdateCallback | None = None
        # time.monotonic() of the last record applied; for "stalled" judgements
        self.last_record_at: float | None = None

    def start(self, on_update: UpdateCallback) -> None:
        self._on_update = on_update
        self._thread = threading.Thread(target=self._run_guarded, name=f"lstm-top:{self.target}",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _wake(self) -> None:
        """Interrupt a blocking wait in the reader thread (override where needed)."""

    def _run_guarded(self) -> None:
        try:
            self._run()
        except Exception as exc:  # a reader bug must show as a message, never a dead screen
            self._emit(0, ERROR, f"reader stopped: {type(exc).__name__}: {exc}")

    @abstractmethod
    def _run(self) -> None:
        """The reader loop; returns when ``stopping``."""

    def _emit(self, added: int, state: str, message: str | None = None,
              new_run: bool = False) -> None:
        self.state = state
        if message is not None:
            self.message = message
        callback = self._on_update
        if callback is not None:
            try:
                callback(SourceUpdate(self, self.history, added, state, message, new_run))
            except Exception:
                pass  # the viewer's problem must not kill the reader
