"""Follow a growing JSON Lines history like ``tail -F``.

File events (``watcher.shared_events``: inotify on Linux) make updates prompt; a poll every
``POLL_INTERVAL_S`` is the safety net for events that never come (network file systems,
containers, some editors). Each look reads only what was appended since the last one; a trailing
partial line waits in the parser until its newline arrives.

What ``tail -F`` users expect, and what happens here:

* the file does not exist yet: state ``waiting`` until it appears;
* truncated in place, or replaced (rename + create, an editor's save, a rotation): the new
  content is read from its start. If it begins with the header of a *different* run, a fresh
  History starts (``SourceUpdate.new_run``) and the old one stays with whoever holds it; the
  same run's header (the Logger recreating a deleted file) continues the same History; a
  byte-identical copy of what was already read (an editor saving the file unchanged) continues
  where reading left off, so no record is read twice;
* deleted: state ``deleted``, what was read is kept; following resumes if it comes back.

A large file (``TAIL_FIRST_BYTES``) is shown from its newest part at once: ``history`` is first
a preview read from the file's tail, ``loading`` the fraction of the whole read done behind it;
when everything is read the whole run replaces the preview (a new History object).

After a rename, the old file is read to its end and followed until it has been quiet for
``ROTATION_QUIET_S`` (a writer that still holds it open may append), then the new one is read:
records written to the renamed file are not lost.

A last line without its newline waits for it — until the file has been quiet for
``UNFINISHED_LINE_QUIET_S`` (as every other format's follower): a whole JSON object there is
then read (a script that wrote ``"\n".join(lines)``, a run that ended so), as ``check`` reads it.
Should the writer only have paused, what it appends next decides: whitespace and the newline
end that line as read; anything else means the line was still being written, and the file is
read again from its start into a fresh History of the same run (``new_run`` False), so the
record is neither kept wrong nor counted twice.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from typing import TYPE_CHECKING

from lstm_top.format import Header, RecordError, decode_line, parse_json
from lstm_top.history import History
from lstm_top.sources.base import (
    DELETED,
    ENDED,
    ERROR,
    LIVE,
    UNFINISHED_LINE_QUIET_S,
    WAITING,
)
from lstm_top.sources.bulk import BulkJsonlParser as JsonlParser
from lstm_top.sources.bulk import read_tail
from lstm_top.sources.pool import FollowerPool, PooledSource

if TYPE_CHECKING:
    from lstm_top.sources.watcher import SharedEvents, WatchHandle


def _events() -> SharedEvents:
    """The process's file events, loaded with the first follower that watches (watchdog costs
    the first paint, which only reads, a hundredth of a second)."""
    from lstm_top.sources.watcher import shared_events

    return shared_events


# Look at the file at least this often even without a file event.
POLL_INTERVAL_S = 1.0
# Never look again sooner than this after the last look: an append after a quiet spell is read
# at once, a fast run's thousand appends a second are read twenty at a time (one update each).
READ_GAP_S = 0.05
# After this many looks in a row that waited for the gap and found new records, the follower
# stops listening to file events and polls every READ_GAP_S until a look finds nothing new
# (one event per appended line costs the event threads more than reading the lines). Polling
# every 0.1 s instead saved ~0.5 % of a core at 1,100 records a second but doubled the time a
# fast run's record takes to reach the History (`python -m bench --only latency`, appends 1 ms
# apart: a 50 ms median became 100.1 ms, over its 100 ms goal).
BUSY_LOOKS = 5
READ_CHUNK_BYTES = 1 << 22  # a backlog is parsed a batch at a time (sources.bulk)
# While reading a large backlog, report progress this often so the screen fills gradually.
PROGRESS_INTERVAL_S = 0.25
# How far into replaced content to look for its first line before deciding it has no header.
FIRST_LINE_LOOKAHEAD = 1 << 16

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
# After a rotation, the old file is followed until it has not grown for this long (longer than
# the Logger takes to notice the rename and reopen), at most ROTATION_MAX_WAIT_S.
ROTATION_QUIET_S = 1.5
ROTATION_MAX_WAIT_S = 10.0
# Bytes parsed per hold of the history lock (a few thousand records).
LOCKED_SLICE_BYTES = 1 << 18
_UTF8_BOM = b"\xef\xbb\xbf"
# A backlog this large is shown from its newest ``TAIL_PREVIEW_BYTES`` at once (``loading``
# tells how far the whole read is), then whole once read. Below it the whole read is as quick.
TAIL_FIRST_BYTES = 8 << 20
TAIL_PREVIEW_BYTES = 2 << 20


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a socket file" if stat.S_ISSOCK(mode) else "not a regular file"


def _whole_json_object(line: bytes) -> bool:
    """``line`` (no newline) is a complete JSON object: a record, not the start of one."""
    try:
        return isinstance(parse_json(line), dict)
    except RecordError:
        return False


def _header_key(line: bytes) -> tuple[str, float | None] | None:
    """(run, started) when ``line`` is a header record, else None."""
    try:
        record = decode_line(line)
    except RecordError:
        return None
    if isinstance(record, Header):
        return record.run, record.started
    return None


class FileFollower(PooledSource):
    """A history file followed as it grows. ``FileFollower(path).start(on_update)``."""

    def __init__(self, path: str, *, poll_interval: float = POLL_INTERVAL_S,
                 use_events: bool = True) -> None:
        super().__init__(path)
        self.path = os.path.abspath(path)
        self.poll_interval = poll_interval
        self.use_events = use_events
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        self._offset = 0  # bytes of the current file handed to the parser
        self._digest = hashlib.blake2b(digest_size=16)  # of those bytes, to recognise a copy
        self._parser = JsonlParser(self.history)
        self._run_key: tuple[str, float | None] | None = None  # header of the current History
        # Set while new content (truncated / replaced / recreated file) has begun and its first
        # line decides whether it is the same run or a new one: the reason, shown to the user.
        self._restart: str | None = None
        self._restart_digest: bytes = b""
        self._restart_offset = 0
        # The current parser got the end of its input (file deleted): a copy that comes back
        # must re-read the ``_unfinished_bytes`` it held as a partial line.
        self._parser_finished = False
        self._unfinished_bytes = 0
        # The last line, without its newline, was read once the file had been quiet: the next
        # bytes must only end it (whitespace, a newline), or the file is read again.
        self._unterminated_read = False
        self._watch: WatchHandle | None = None
        # A rotation seen, the old file not yet quiet: when, and since when it has not grown.
        self._rotation_seen_at: float | None = None
        self._rotation_quiet_since: float | None = None
        self._last_emit = 0.0
        self.reads = 0  # os.read calls, for tests and benchmarks
        self._loading_bytes = 0  # the size of the backlog being read behind its preview
        self.reading_backlog = True  # until the first look is done (LiveSource)
        self.grew_while_watched = False
        # A preview of this file's tail read before the follower started (the first paint's):
        # (history, identity, size when read); shown instead of reading the tail again.
        self._given_preview: tuple[History, tuple[int, int], int] | None = None
        # Set before ``start`` to be followed by a pool's thread instead of one of its own
        # (a sweep of many runs; see sources.pool).
        self.pool: FollowerPool | None = None

    def use_preview(self, history: History, identity: tuple[int, int], size: int) -> None:
        """Before ``start``: ``history`` is a preview of the newest part of this file, read
        when the file (``identity``: device, inode) was ``size`` bytes. A large backlog then
        starts from it rather than reading its tail a second time; the whole read replaces
        it as ever. Ignored if the file is no longer that one, or is not large."""
        self._given_preview = (history, identity, size)

    # ------------------------------------------------------------------ pooled

    def _pooled_look(self) -> None:
        self._ensure_watch()
        self.check_now()

    def pooled_wait(self) -> float:
        """Seconds until the next look without an event."""
        return self.poll_interval if self._rotation_seen_at is None \
            else min(self.poll_interval, 0.25)

    def close_pooled(self) -> None:
        _events().unwatch(self._watch)
        self._watch = None
        self._close_fd()

    # ------------------------------------------------------------------ thread

    def _run(self) -> None:
        try:
            self._ensure_watch()
            self.check_now()
            looked, busy, muted = time.monotonic(), 0, False
            while not self.stopping:
                # A rotation in progress: the renamed file gets no events under our name.
                self._wait(READ_GAP_S if muted else self.pooled_wait())
                gap = looked + READ_GAP_S - time.monotonic()
                if gap > 0:
                    self._stop.wait(gap)  # appends meanwhile are read together, after it
                if self.stopping:
                    break
                self._ensure_watch()
                looked, before = time.monotonic(), self._offset
                self.check_now()
                grew = self._offset != before
                busy = busy + 1 if grew and (gap > 0 or muted) else 0
                if not muted and busy >= BUSY_LOOKS and self._watch is not None:
                    _events().mute(self._watch)
                    muted = True
                elif muted and not grew:  # quiet again: events, and one more look
                    _events().unmute(self._watch)
                    muted = False
                    self.check_now()
        finally:
            _events().unwatch(self._watch)
            self._watch = None
            self._close_fd()

    def _ensure_watch(self) -> None:
        if self.use_events and self._watch is None:
            directory = os.path.dirname(self.path)
            if os.path.isdir(directory):
                self._watch = _events().watch(directory, self._on_event)

    def _on_event(self, path: str) -> None:
        if path == self.path:
            self._wake()

    # ------------------------------------------------------------------ one look at the file

    def check_now(self) -> None:
        """Look at the file once and read what is new. The reader thread calls this on every
        event and poll; a caller that has not started the thread may call it directly (tests,
        a synchronous tool) — never both at once."""
        try:
            self._look()
        finally:
            self.reading_backlog = False

    def _look(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._file_missing()
            return
        except OSError as exc:
            self._set_state(ERROR, f"cannot read {self.path}: {exc.strerror or exc}")
            return
        if stat.S_ISDIR(st.st_mode):
            self._set_state(ERROR, f"{self.path} is a directory")
            return
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block the open, /dev/zero never end
            self._close_fd()
            self._set_state(ERROR, f"{self.path} is {_special_kind(st.st_mode)}, not a history "
                                   "file; lstm-top reads regular files")
            return
        identity = (st.st_dev, st.st_ino)
        if self._fd is None:
            if not self._open():
                return
            if self._has_content():
                self._begin_new_content(f"{self.path} was recreated")
        elif identity != self._identity:
            if self._old_file_still_written():
                return  # look again at the next event or poll
            self._close_fd()
            if not self._open():
                return
            self._begin_new_content(f"{self.path} was replaced; following the new file")
        else:
            try:
                size = os.fstat(self._fd).st_size
            except OSError:
                size = self._offset
            if size < self._offset:
                self._begin_new_content(f"{self.path} was truncated; reading it from the start")
        self._read_available()
        self._read_quiet_unterminated_line()

    def _old_file_still_written(self) -> bool:
        """The path no longer names the open file. Like ``tail -F``, drain the old file to its
        end, and keep following it until it has been quiet for a while if it was renamed (a
        rotation), because a writer holding it open may still append: the Logger notices a
        rename within PATH_CHECK_INTERVAL_S. True while it should still be followed."""
        before = self._offset
        self._read_available()
        now = time.monotonic()
        if self._rotation_seen_at is None:
            self._rotation_seen_at = now
        if self._offset != before or self._rotation_quiet_since is None:
            self._rotation_quiet_since = now
        if (now - self._rotation_quiet_since < ROTATION_QUIET_S
                and now - self._rotation_seen_at < ROTATION_MAX_WAIT_S
                and self._old_file_still_named()):
            return True
        self._rotation_seen_at = self._rotation_quiet_since = None
        return False

    def _old_file_still_named(self) -> bool:
        """Renamed (a rotation: its writer may still append), not deleted or replaced by a
        file renamed over it (an editor's save, a copy)."""
        try:
            return self._fd is not None and os.fstat(self._fd).st_nlink > 0
        except OSError:
            return False

    def _open(self) -> bool:
        try:
            fd = os.open(self.path, os.O_RDONLY | _CLOEXEC)
        except FileNotFoundError:
            self._file_missing()
            return False
        except OSError as exc:
            self._set_state(ERROR, f"cannot read {self.path}: {exc.strerror or exc}")
            return False
        st = os.fstat(fd)
        self._fd = fd
        self._identity = (st.st_dev, st.st_ino)
        if self.last_activity is None:
            self.last_activity = st.st_mtime  # a file read after the fact: last written then
        return True

    def _close_fd(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None

    def _file_missing(self) -> None:
        if self._watch is not None and not os.path.isdir(self._watch.directory):
            # The folder went too, and its inotify watch with it: watch it again once it is back.
            _events().unwatch(self._watch)
            self._watch = None
        if self._fd is not None:
            # Renamed with nothing yet in its place (a rotation whose new file comes later,
            # from the writer or from logrotate's ``create`` a moment after): the writer may
            # still append to the renamed file, and the new one may continue the same run.
            if self._old_file_still_written():
                return
            gone = "moved away" if self._old_file_still_named() else "deleted"
            self._finish_old_file()
            self._close_fd()
            with self.history.lock:
                epochs = len(self.history.epochs)
            self._set_state(DELETED, f"{self.path} was {gone}; keeping the {epochs} epochs read")
        elif self.state not in (WAITING, DELETED):
            self._set_state(DELETED, f"{self.path} was deleted")
        elif self.message is None:
            self._set_state(WAITING, f"waiting for {self.path} to appear")

    def _has_content(self) -> bool:
        with self.history.lock:
            history = self.history
            return bool(history.headers_seen or len(history.epochs) or len(history.steps))

    def _finish_old_file(self) -> None:
        """The old content will never grow again: a final line without newline still counts
        (a half line is noted as a problem). Until this is called, a pending partial line may
        still be completed by a copy of the file replacing it; a whole JSON object there is
        read as an unterminated line, so a copy that only adds its newline does not read it
        twice."""
        if self._parser_finished:
            return
        self._parser_finished = True
        if _whole_json_object(self._parser.pending_line):
            self._unterminated_read = True
        self._unfinished_bytes = 0 if self._unterminated_read else self._parser.pending_bytes
        with self.history.lock:
            added = self._parser.finish()
        self._note_records(added)

    def _new_parser(self, history: History, first_line: int = 1) -> None:
        self._parser = JsonlParser(history, first_line)
        self._parser_finished = False
        self._unterminated_read = False

    def _read_quiet_unterminated_line(self) -> None:
        """A last line without newline in a file quiet for ``UNFINISHED_LINE_QUIET_S``: if it
        is a whole JSON object, read it (``_end_unterminated_line`` checks what follows)."""
        if (self._fd is None or self._restart is not None or self.loading is not None
                or self._unterminated_read or self._parser_finished
                or not self._parser.pending_bytes):
            return
        try:
            st = os.fstat(self._fd)
        except OSError:
            return
        if st.st_size != self._offset or time.time() - st.st_mtime < UNFINISHED_LINE_QUIET_S:
            return
        if not _whole_json_object(self._parser.pending_line):
            return  # a half line: it waits for the rest, however long
        self._unterminated_read = True
        with self._parser.history.lock:
            added = self._parser.finish()
        self._report(added, activity=st.st_mtime)

    def _end_unterminated_line(self) -> None:
        """After an unterminated last line was read: the bytes appended since either end it
        (whitespace, then its newline) or show it was still being written. Then the file is
        read again from its start into a new History of the same run, so that line is read
        as it really is, once."""
        assert self._fd is not None
        head = os.pread(self._fd, FIRST_LINE_LOOKAHEAD, self._offset)
        newline = head.find(b"\n")
        rest = head if newline < 0 else head[:newline]
        if not rest.strip(b" \t\r"):
            self._consume(head if newline < 0 else head[: newline + 1])
            self._unterminated_read = newline < 0
            return
        self.history = History(source=self.target)
        self._new_parser(self.history)
        self._offset, self._digest, self._run_key = 0, hashlib.blake2b(digest_size=16), None

    def _begin_new_content(self, reason: str) -> None:
        if self._restart is None:  # keep the fingerprint of the content actually read
            self._restart_digest = self._digest.digest()
            self._restart_offset = self._offset
        self._restart = reason
        self._offset = 0
        self._digest = hashlib.blake2b(digest_size=16)

    # ------------------------------------------------------------------ reading

    def _resolve_restart(self) -> bool:
        """Decide what the new content is; False while its first line is still incomplete."""
        assert self._fd is not None and self._restart is not None
        reason = self._restart
        size = os.fstat(self._fd).st_size
        if self._restart_offset and size >= self._restart_offset and self._same_prefix():
            # The same bytes as before (a copy, an unchanged save): continue where we were.
            self._restart = None
            self._offset = self._restart_offset
            if self._parser_finished:
                unterminated_read = self._unterminated_read
                self._offset -= self._unfinished_bytes
                # A partial line was counted when finished; read again, it keeps its number.
                self._new_parser(self.history, self._parser.line_number
                                 + (0 if self._unfinished_bytes else 1))
                self._unterminated_read = unterminated_read
            self._digest = self._prefix_digest(self._offset)
            self._set_state(LIVE, None if self.state == LIVE else reason)
            return True
        self._finish_old_file()
        head = os.pread(self._fd, FIRST_LINE_LOOKAHEAD, 0)
        newline = head.find(b"\n")
        if newline < 0 and len(head) < FIRST_LINE_LOOKAHEAD:
            return False  # the first line is still being written
        key = _header_key(head[:newline]) if newline >= 0 else None
        self._restart = None
        with self.history.lock:
            had_data = bool(len(self.history.epochs) or len(self.history.steps))
        if key is not None and key != self._run_key and (had_data or self._run_key is not None):
            self.history = History(source=self.target)
            self._new_parser(self.history)
            self._run_key = None
            self.last_activity = None
            self._emit(0, LIVE, f"a new run started in {self.path}", new_run=True)
            return True
        if key is not None and key == self._run_key:
            # The same run's header again (the Logger recreated the file): not a second run.
            self._new_parser(self.history, first_line=2)
            self._consume(head[: newline + 1])
        else:
            self._new_parser(self.history)
        self._set_state(LIVE, reason)
        return True

    def _same_prefix(self) -> bool:
        return self._prefix_digest(self._restart_offset).digest() == self._restart_digest

    def _prefix_digest(self, length: int) -> hashlib.blake2b:
        assert self._fd is not None
        digest = hashlib.blake2b(digest_size=16)
        position = 0
        while position < length:
            chunk = os.pread(self._fd, min(READ_CHUNK_BYTES, length - position), position)
            if not chunk:
                break
            digest.update(chunk)
            position += len(chunk)
        return digest

    def _consume(self, data: bytes) -> None:
        """Account for bytes taken from the file without parsing them as records."""
        self._offset += len(data)
        self._digest.update(data)

    def _read_available(self) -> None:
        if self._fd is None:
            return
        if self._restart is not None and not self._resolve_restart():
            return
        if self._unterminated_read:
            self._end_unterminated_line()
        if self._offset == 0 and not self._has_content():
            self._show_tail_first()
        added = 0
        was_live = self.state
        history = self._parser.history  # the whole run (``self.history`` may be its preview)
        while not self.stopping:
            chunk = os.pread(self._fd, READ_CHUNK_BYTES, self._offset)
            self.reads += 1
            if not chunk:
                break
            self._consume(chunk)
            full_chunk = len(chunk) == READ_CHUNK_BYTES
            if self._offset == len(chunk) and chunk.startswith(_UTF8_BOM):
                chunk = chunk[len(_UTF8_BOM):]  # Notepad's mark is not part of the first line
            # The lock is held per slice, not per 4 MiB chunk, so the viewer is never kept
            # waiting long, and a stop request is seen between slices.
            for start in range(0, len(chunk), LOCKED_SLICE_BYTES):
                if self.stopping:
                    return
                with history.lock:
                    added += self._parser.feed(chunk[start : start + LOCKED_SLICE_BYTES])
                    if self._run_key is None and history.headers_seen:
                        self._run_key = (history.run_name, history.started)
            if not full_chunk:
                break
            if added and time.monotonic() - self._last_emit > PROGRESS_INTERVAL_S:
                if self.loading is not None:
                    self.loading = min(self._offset / max(self._loading_bytes, 1), 0.99)
                self._report(added)
                added = 0
        if self.loading is not None:  # read whole: the run replaces its preview
            self.history, self.loading = history, None
            added = added or len(history.epochs) + len(history.steps)
        if added or was_live not in (LIVE, ENDED):
            self._report(added)

    def _show_tail_first(self) -> None:
        """A large backlog: show its newest part now (``TAIL_PREVIEW_BYTES``, a few tens of
        milliseconds to read) as ``history``, while the whole file is read behind it."""
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        given, self._given_preview = self._given_preview, None
        if size < TAIL_FIRST_BYTES:
            return
        if given is not None and given[1] == self._identity and given[2] <= size:
            preview = given[0]  # read already (the first paint): not a second time
        else:
            preview = History(source=self.target)
            head = os.pread(self._fd, FIRST_LINE_LOOKAHEAD, 0)
            newline = head.find(b"\n")
            if newline >= 0 and _header_key(head[:newline]) is not None:
                JsonlParser(preview).feed(head[: newline + 1])  # the run's name, start, config
            try:
                read_tail(self.path, TAIL_PREVIEW_BYTES, history=preview)
            except OSError:
                return  # the whole read below reports what is wrong
        self.history, self.loading, self._loading_bytes = preview, 0.0, size
        self._report(len(preview.epochs) + len(preview.steps))

    def _report(self, added: int, activity: float | None = None) -> None:
        self._note_records(added, activity)
        self._last_emit = time.monotonic()
        history = self._parser.history
        with history.lock:
            ended = history.finished and self.loading is None
        state = ENDED if ended else LIVE
        if self.state in (WAITING, DELETED, ERROR):
            self.message = None  # the notice about the missing file no longer applies
        self._emit(added, state)

    def _set_state(self, state: str, message: str | None) -> None:
        if state == self.state and message == self.message:
            return
        self._emit(0, state, message)
