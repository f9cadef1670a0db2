"""Incremental JSON Lines parsing: bytes in (any chunking), records into a History.

Shared by the file reader, the file follower and the socket client, so every way in treats a
partial line, a malformed line and an unknown field the same way.
"""

from __future__ import annotations

from lstm_top.format import MAX_LINE_BYTES, NewerFormatError, RecordError, decode_line
from lstm_top.history import History


class JsonlParser:
    """Feeds complete lines to a History; holds back a trailing partial line until its newline.

    A line over MAX_LINE_BYTES is skipped as it streams past, without being buffered whole.
    """

    def __init__(self, history: History, first_line: int = 1) -> None:
        self.history = history
        self.line_number = first_line - 1  # number of the last complete line seen
        self._pending = bytearray()
        self._discarding = False  # inside an over-long line: drop bytes until its newline
        self.newer_format: str | None = None

    @property
    def pending_bytes(self) -> int:
        return len(self._pending)

    def feed(self, data: bytes) -> int:
        """Parse every complete line in ``data`` (plus what was pending); return records added."""
        added = 0
        start = 0
        while True:
            newline = data.find(b"\n", start)
            if newline < 0:
                break
            if self._discarding:
                self._discarding = False
                self._pending.clear()
                start = newline + 1
                continue
            if self._pending:
                self._pending += data[start:newline]
                line = bytes(self._pending)
                self._pending.clear()
            else:
                line = data[start:newline]
            start = newline + 1
            added += self._take(line)
        if start < len(data) and not self._discarding:
            self._pending += data[start:]
            # + 1: room for the "\r" of a CRLF line, which does not count against the limit
            if len(self._pending) > MAX_LINE_BYTES + 1:
                self._pending.clear()
                self._discarding = True
                self.line_number += 1
                self.history.note_problem(self.line_number,
                                          f"line longer than {MAX_LINE_BYTES} bytes")
        return added

    def _take(self, line: bytes) -> int:
        self.line_number += 1
        if line.endswith(b"\r"):
            line = line[:-1]
        if len(line) > MAX_LINE_BYTES:  # before the blank test: same verdict however chunked
            self.history.note_problem(self.line_number, f"line longer than {MAX_LINE_BYTES} bytes")
            return 0
        if not line.strip():
            return 0
        try:
            record = decode_line(line)
        except NewerFormatError as exc:
            self.newer_format = str(exc)
            self.history.note_problem(self.line_number, str(exc))
            return 0
        except RecordError as exc:
            self.history.note_problem(self.line_number, str(exc))
            return 0
        except Exception as exc:  # a parser bug must cost one line, never the run view
            self.history.note_problem(self.line_number, f"unreadable ({type(exc).__name__})")
            return 0
        self.history.apply(record, self.line_number)
        return 1

    def finish(self) -> int:
        """End of input: a final line without newline is still a record (a finished file)."""
        if self._discarding or not self._pending:
            self._pending.clear()
            self._discarding = False
            return 0
        line = bytes(self._pending)
        self._pending.clear()
        return self._take(line)
