"""Serve a run's history to viewers over a local socket, from inside the training process.

Standard library only (it runs in the training script). ``Logger(path, serve=ADDRESS)`` creates
a ``HistoryServer(ADDRESS)`` and calls ``publish(line)`` after each record; the file is still
written — the file is the record, the socket is a convenience.

Addresses:

* ``unix:/path/to/run.sock`` — a unix socket, mode 0600. The directory must not be writable by
  other users unless it is sticky (like ``/tmp``), so nobody can swap the socket. An existing
  path is reused only if it is a stale socket of ours; another user's file, a non-socket, or a
  socket someone is still serving on are refused.
* ``tcp://127.0.0.1:PORT`` — loopback only (``localhost``, ``::1`` too; port 0 picks one, see
  ``HistoryServer.address``). Any local user can connect to a TCP port; prefer a unix socket on
  a shared machine. Binding another interface needs the explicit override
  ``tcp://0.0.0.0:PORT?allow_remote=1`` — the history (config included) is then readable by
  anyone who can reach the port; there is no authentication.

Protocol (one JSON object per line, UTF-8): on connect the server sends a hello line, then every
record kept so far, then each new record as it is published::

    {"kind":"hello","format":"lstm-top","version":1,"session":"9f3c...","dropped_steps":0,
     "replay_bytes":5120}

``session`` identifies this server's lifetime (a restarted training gets a new one);
``replay_bytes`` is the length of the replay that follows the hello line. The replay
keeps the header, every epoch record and the end record, but only the last
``max_replay_steps`` step records; ``dropped_steps`` says how many older ones were left out.
Before closing a viewer on purpose the server tries to send
``{"kind":"goodbye","reason":"..."}``.

Training never waits for a viewer: ``publish`` appends to a queue and wakes the server thread
(O(1), never blocks); the thread uses non-blocking sockets. What viewers cost the training
process is bounded whatever they do:

* the replay is one store of immutable blocks shared by every viewer (a viewer holds a
  snapshot of references, never a copy), so idle viewers cost a descriptor and a tuple each;
* a viewer that has more than ``max_viewer_lag_bytes`` of records published since it
  connected still unsent — it never reads, or reads slower than training writes — is dropped
  with a goodbye (it can reconnect and replay); those records are shared objects too;
* connections are taken ``ACCEPTS_PER_WAKE`` at a time, and no step of the server thread
  (accepting, trimming the replay, sending) works for long without releasing the GIL, so a
  connect/disconnect storm does not stall ``log()``;
* beyond ``max_viewers`` a viewer gets the goodbye "too many viewers" (the listen backlog is
  deep enough for a crowd to hear it), and when the process runs out of descriptors
  (EMFILE) accepting pauses with a growing back-off instead of spinning.
"""

from __future__ import annotations

import errno
import json
import os
import selectors
import socket
import stat
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from lstm_top.protocol import (
    GOODBYE_KIND,
    HELLO_KIND,
    PROTOCOL_FORMAT,
    PROTOCOL_VERSION,
    ServeAddress,
    is_loopback,
    parse_address,
)

# A viewer this far behind (bytes published since it connected, still unsent) is dropped: a
# stuck viewer must not grow the training process's memory without bound.
MAX_VIEWER_LAG_BYTES = 8 << 20
# Step records kept for replay; epochs, header and end record are always all kept.
MAX_REPLAY_STEPS = 20_000
# More viewers than this are turned away with a goodbye line (each costs a descriptor).
MAX_VIEWERS = 32
# Pending connections the kernel holds for us. Above MAX_VIEWERS, so that a crowd connecting at
# once is answered "too many viewers" by us instead of "resource temporarily unavailable".
LISTEN_BACKLOG = 128
# Connections taken per wake-up of the server thread, so a connect storm is served in slices.
ACCEPTS_PER_WAKE = 16
# Out of descriptors (EMFILE): stop accepting for this long, doubling up to the maximum.
ACCEPT_BACKOFF_MIN_S = 0.05
ACCEPT_BACKOFF_MAX_S = 2.0
# The replay is kept in immutable blocks of about this size, shared by every viewer.
REPLAY_BLOCK_BYTES = 64 << 10
# Bytes sent to one viewer before the thread turns to the others.
FLUSH_BYTES_PER_TURN = 1 << 20
# On close, how long queued records (the end record above all) may take to reach viewers.
CLOSE_FLUSH_S = 0.5
# With no viewer ready to take data, publish skips the wake-up (the cost training would feel)
# and the server thread collects the queue only every this many records.
INBOX_WAKE_EVERY = 1024

_SEND_FLAGS = getattr(socket, "MSG_NOSIGNAL", 0)  # a vanished viewer must not raise SIGPIPE
_STEP_PREFIX = b'{"kind":"step"'  # how the Logger encodes a step record (see format.py)
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def _encode_control(kind: str, **fields: object) -> bytes:
    return (json.dumps({"kind": kind, **fields}, separators=(",", ":")) + "\n").encode()


class _ReplayStore:
    """The records every new viewer is sent first, as immutable blocks shared by all viewers.

    A viewer takes a *snapshot* (a tuple of ``bytes`` blocks) when it connects and sends from
    it; nothing is copied per viewer, so 32 idle viewers cost 32 tuples, not 32 histories.
    Records are appended to an open tail that is sealed into a block every ``BLOCK_BYTES``.
    The newest ``max_steps`` step records are kept; older ones are removed lazily, a block at
    a time (a snapshot already taken keeps the blocks it holds).
    """

    def __init__(self, max_steps: int) -> None:
        self.max_steps = max(1, max_steps)
        self._blocks: list[bytes] = []
        self._block_steps: list[int] = []
        self._tail: list[bytes] = []
        self._tail_bytes = 0
        self._tail_steps = 0
        self.steps = 0  # step records in the store
        self.dropped_steps = 0
        self.nbytes = 0
        self._snapshot: tuple[bytes, ...] | None = ()

    def append(self, line: bytes) -> None:
        is_step = line.startswith(_STEP_PREFIX)
        self._tail.append(line)
        self._tail_bytes += len(line)
        self.nbytes += len(line)
        if is_step:
            self._tail_steps += 1
            self.steps += 1
        self._snapshot = None
        if self._tail_bytes >= REPLAY_BLOCK_BYTES:
            self._seal()
        # Slack before trimming, so a run of steps costs one block rewrite per block, not one
        # per record; ``snapshot`` trims exactly.
        if self.steps > self.max_steps + max(self.max_steps // 4, 1):
            self.trim()

    def _seal(self) -> None:
        if self._tail:
            self._blocks.append(b"".join(self._tail))
            self._block_steps.append(self._tail_steps)
            self._tail, self._tail_bytes, self._tail_steps = [], 0, 0

    def trim(self) -> None:
        """Remove the oldest step records beyond ``max_steps`` (header, epochs, end stay)."""
        excess = self.steps - self.max_steps
        if excess <= 0:
            return
        self._seal()
        self._snapshot = None
        position = 0
        while excess > 0 and position < len(self._blocks):
            count = self._block_steps[position]
            if not count:
                position += 1
                continue
            drop = min(count, excess)
            lines = self._blocks[position].splitlines(keepends=True)
            kept: list[bytes] = []
            for line in lines:
                if drop and line.startswith(_STEP_PREFIX):
                    drop -= 1
                    continue
                kept.append(line)
            removed = min(count, excess)
            data = b"".join(kept)
            self.nbytes -= len(self._blocks[position]) - len(data)
            self.steps -= removed
            self.dropped_steps += removed
            excess -= removed
            if data:
                self._blocks[position] = data
                self._block_steps[position] = count - removed
                position += 1
            else:
                del self._blocks[position]
                del self._block_steps[position]
            time.sleep(0)  # a long trim lets the training thread in between blocks

    def snapshot(self) -> tuple[bytes, ...]:
        """The replay as it is now: shared, immutable, cached until the next record."""
        if self._snapshot is None:
            self.trim()
            if self._tail:
                tail = b"".join(self._tail)
                # The joined tail replaces its lines, so the next snapshot does not join again.
                self._tail = [tail]
                self._snapshot = (*self._blocks, tail)
            else:
                self._snapshot = tuple(self._blocks)
        return self._snapshot


@dataclass(eq=False)
class _Viewer:
    sock: socket.socket
    replay: tuple[bytes, ...]  # shared with the store and other viewers: never copied
    next_block: int = 0
    current: memoryview | None = None  # the piece being sent
    live: deque[bytes] = field(default_factory=deque)  # records published after connecting
    live_bytes: int = 0
    wants_write: bool = False

    def pending(self) -> bool:
        return (self.current is not None or self.next_block < len(self.replay)
                or bool(self.live))


class HistoryServer:
    """Replays the history so far to each viewer that connects, then streams new records."""

    def __init__(self, address: str, *, max_viewer_lag_bytes: int = MAX_VIEWER_LAG_BYTES,
                 max_replay_steps: int = MAX_REPLAY_STEPS,
                 max_viewers: int = MAX_VIEWERS) -> None:
        self.requested = parse_address(address)
        self.max_viewer_lag_bytes = max_viewer_lag_bytes
        self.max_viewers = max_viewers
        self.session = os.urandom(8).hex()
        self._unix_identity: tuple[int, int] | None = None
        self._listener = self._bind(self.requested)
        self.address = self._bound_address()
        # Filled by publish (any thread), drained by the server thread.
        self._inbox: deque[bytes] = deque()
        self._wake_pending = False
        # True while some viewer can take data now: only then is each record worth a wake-up.
        self._eager = False
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        self._closed = False
        # Server-thread state.
        self._replay = _ReplayStore(max_replay_steps)
        self._accept_paused_until: float | None = None
        self._accept_backoff = ACCEPT_BACKOFF_MIN_S
        self._viewers: dict[socket.socket, _Viewer] = {}
        self._selector = selectors.DefaultSelector()
        # Counters for tests and the curious.
        self.viewers_accepted = 0
        self.viewers_dropped_slow = 0
        self.viewers_turned_away = 0
        self.accept_pauses = 0  # times accepting stopped for lack of descriptors
        self._thread = threading.Thread(target=self._serve, name=f"lstm-top-serve:{self.address}",
                                        daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ training side

    def publish(self, line: bytes) -> None:
        """Queue one encoded record (with its newline) for every viewer. O(1), never blocks."""
        if self._closed:
            return
        self._inbox.append(line)
        if not self._wake_pending and (self._eager or len(self._inbox) >= INBOX_WAKE_EVERY):
            # The server thread sets ``_eager`` and clears ``_wake_pending`` *before* draining,
            # so a record appended after a drain finds them so and wakes it: none is stranded.
            self._wake_pending = True
            try:
                self._wake_write.send(b"\0", _SEND_FLAGS)
            except OSError:
                pass  # wake buffer full: the thread is already due to wake

    def close(self, timeout: float = 2.0) -> None:
        """Send what is queued (bounded by CLOSE_FLUSH_S), disconnect everyone, remove the
        socket file. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._wake_write.send(b"\0", _SEND_FLAGS)
        except OSError:
            pass
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def viewer_count(self) -> int:
        return len(self._viewers)

    # ------------------------------------------------------------------ binding

    def _bind(self, address: ServeAddress) -> socket.socket:
        if address.scheme == "unix":
            return self._bind_unix(address.path)
        if not is_loopback(address.host) and not address.allow_remote:
            raise ValueError(f"refusing to serve on {address.host}: not a loopback address. "
                             f"Use tcp://127.0.0.1:{address.port}, a unix socket, or pass "
                             f"?allow_remote=1 to expose the history to the network")
        family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((address.host, address.port))
            listener.listen(LISTEN_BACKLOG)
            listener.setblocking(False)
        except BaseException:
            listener.close()
            raise
        return listener

    def _bind_unix(self, path: str) -> socket.socket:
        path = os.path.abspath(path)
        directory = os.path.dirname(path)
        try:
            dir_stat = os.stat(directory)
        except FileNotFoundError:
            raise ValueError(f"{directory} does not exist") from None
        shared_writable = dir_stat.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        if shared_writable and not dir_stat.st_mode & stat.S_ISVTX:
            raise ValueError(f"{directory} is writable by other users; put the socket in a "
                             "directory only you can write to")
        self._remove_stale_socket(path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(path)
            # Not listening yet, so nobody can connect before the mode is tightened.
            os.chmod(path, 0o600)
            listener.listen(LISTEN_BACKLOG)
            listener.setblocking(False)
            st = os.lstat(path)
            self._unix_identity = (st.st_dev, st.st_ino)
        except BaseException:
            listener.close()
            raise
        return listener

    @staticmethod
    def _remove_stale_socket(path: str) -> None:
        try:
            existing = os.lstat(path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(existing.st_mode):
            raise ValueError(f"{path} exists and is not a socket; refusing to replace it")
        if existing.st_uid != os.getuid():
            raise ValueError(f"{path} belongs to another user; refusing to replace it")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(0.5)
        try:
            probe.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            try:
                os.unlink(path)  # a leftover of a process that is gone
            except FileNotFoundError:
                pass
            return
        except OSError as exc:
            raise ValueError(f"{path}: cannot tell whether it is in use ({exc})") from None
        finally:
            probe.close()
        raise ValueError(f"another process is already serving on {path}")

    def _bound_address(self) -> str:
        if self.requested.scheme == "unix":
            return f"unix:{os.path.abspath(self.requested.path)}"
        host, port = self._listener.getsockname()[:2]
        return str(ServeAddress("tcp", host=host, port=port))

    # ------------------------------------------------------------------ server thread

    def _serve(self) -> None:
        selector = self._selector
        selector.register(self._listener, selectors.EVENT_READ, "listen")
        selector.register(self._wake_read, selectors.EVENT_READ, "wake")
        try:
            while not self._closed:
                timeout = None
                if self._accept_paused_until is not None:
                    timeout = self._accept_paused_until - time.monotonic()
                    if timeout <= 0:
                        self._resume_accepting()
                        timeout = None
                for key, events in selector.select(timeout):
                    if key.data == "listen":
                        self._accept_some()
                    elif key.data == "wake":
                        self._drain_wake()
                    elif isinstance(key.data, _Viewer):
                        viewer = key.data
                        if events & selectors.EVENT_READ:
                            self._read_from(viewer)
                        if events & selectors.EVENT_WRITE and viewer.sock in self._viewers:
                            self._flush(viewer)
                # Records published while nobody was ready are sent now that someone may be.
                self._eager = any(not v.wants_write for v in self._viewers.values())
                self._drain_inbox()
            self._drain_inbox()
            # Viewers still in the listen backlog connected before the run ended: they get the
            # whole run too, instead of a connection closed without a greeting.
            if self._accept_paused_until is None:
                while self._accept():
                    pass
            self._flush_before_close()
        except Exception:
            pass  # a server bug must never reach training; the file is still written
        finally:
            self._shutdown()

    def _accept_some(self) -> None:
        """A bounded number of waiting connections per wake-up: a connect storm must leave
        the thread (and the GIL) to everything else between batches."""
        for _ in range(ACCEPTS_PER_WAKE):
            if not self._accept():
                return

    def _accept(self) -> bool:
        """Take one waiting connection; False when none was waiting (or none can be now)."""
        try:
            sock, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            if exc.errno in _OUT_OF_RESOURCES:
                self._pause_accepting()
            return False
        self._accept_backoff = ACCEPT_BACKOFF_MIN_S
        sock.setblocking(False)
        if len(self._viewers) >= self.max_viewers:
            self.viewers_turned_away += 1
            self._say_goodbye(sock, f"too many viewers (at most {self.max_viewers})")
            sock.close()
            return True
        self._drain_inbox()  # the replay must include everything published so far
        replay = self._replay.snapshot()
        hello = _encode_control(HELLO_KIND, format=PROTOCOL_FORMAT, version=PROTOCOL_VERSION,
                                session=self.session, dropped_steps=self._replay.dropped_steps,
                                replay_bytes=sum(map(len, replay)))
        viewer = _Viewer(sock, replay, current=memoryview(hello))
        self._viewers[sock] = viewer
        self._selector.register(sock, selectors.EVENT_READ, viewer)
        self.viewers_accepted += 1
        self._flush(viewer)
        return True

    def _pause_accepting(self) -> None:
        """Out of descriptors (EMFILE) or memory: the listener stays readable, so selecting
        on it would spin. Stop listening for a while, doubling the pause each time."""
        try:
            self._selector.unregister(self._listener)
        except (KeyError, ValueError):
            pass
        self.accept_pauses += 1
        self._accept_paused_until = time.monotonic() + self._accept_backoff
        self._accept_backoff = min(self._accept_backoff * 2, ACCEPT_BACKOFF_MAX_S)

    def _resume_accepting(self) -> None:
        self._accept_paused_until = None
        self._selector.register(self._listener, selectors.EVENT_READ, "listen")

    def _drain_wake(self) -> None:
        try:
            while self._wake_read.recv(4096):
                pass
        except OSError:
            pass
        self._drain_inbox()

    def _drain_inbox(self) -> None:
        self._wake_pending = False
        lines = []
        inbox = self._inbox
        while inbox:
            line = inbox.popleft()
            self._replay.append(line)
            lines.append(line)
        if not lines:
            return
        batch = b"".join(lines)  # one object shared by every viewer's queue
        for viewer in list(self._viewers.values()):
            viewer.live.append(batch)
            viewer.live_bytes += len(batch)
            if viewer.live_bytes > self.max_viewer_lag_bytes:
                self.viewers_dropped_slow += 1
                self._drop(viewer, f"viewer fell more than {self.max_viewer_lag_bytes >> 20} MiB "
                                   "behind; reconnect to replay the history")
            elif not viewer.wants_write:  # a blocked viewer is flushed when it can take more
                self._flush(viewer)

    def _next_piece(self, viewer: _Viewer) -> memoryview | None:
        if viewer.next_block < len(viewer.replay):
            viewer.next_block += 1
            piece = memoryview(viewer.replay[viewer.next_block - 1])
            if viewer.next_block == len(viewer.replay):
                viewer.replay = ()  # sent: let trimmed blocks go
                viewer.next_block = 0
            return piece
        if viewer.live:
            batch = viewer.live.popleft()
            viewer.live_bytes -= len(batch)
            return memoryview(batch)
        return None

    def _flush(self, viewer: _Viewer) -> None:
        budget = FLUSH_BYTES_PER_TURN  # fairness: one fast viewer must not starve the others
        try:
            while budget > 0:
                head = viewer.current
                if head is None:
                    head = viewer.current = self._next_piece(viewer)
                    if head is None:
                        break
                sent = viewer.sock.send(head[:budget], _SEND_FLAGS)
                budget -= sent
                if sent < len(head):
                    viewer.current = head[sent:]
                    if sent < min(len(head), FLUSH_BYTES_PER_TURN):
                        break  # the socket buffer is full
                else:
                    viewer.current = None
        except BlockingIOError:
            pass
        except OSError:
            self._drop(viewer, None)
            return
        wants_write = viewer.pending()
        if wants_write != viewer.wants_write:
            viewer.wants_write = wants_write
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if wants_write else 0)
            self._selector.modify(viewer.sock, events, viewer)

    def _read_from(self, viewer: _Viewer) -> None:
        try:
            data = viewer.sock.recv(4096)  # viewers have nothing to say; this notices EOF
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(viewer, None)

    def _drop(self, viewer: _Viewer, reason: str | None) -> None:
        if self._viewers.pop(viewer.sock, None) is None:
            return
        try:
            self._selector.unregister(viewer.sock)
        except (KeyError, ValueError):
            pass
        if reason is not None:
            self._say_goodbye(viewer.sock, reason)
        viewer.sock.close()
        viewer.replay, viewer.live, viewer.current = (), deque(), None

    @staticmethod
    def _say_goodbye(sock: socket.socket, reason: str) -> None:
        """Best effort: a viewer whose buffer is full will only notice the closed socket."""
        try:
            sock.send(_encode_control(GOODBYE_KIND, reason=reason), _SEND_FLAGS)
        except OSError:
            pass

    def _flush_before_close(self) -> None:
        # Only viewers' writability matters now.
        idle = [self._wake_read] + ([self._listener] if self._accept_paused_until is None else [])
        for listener in idle:
            self._selector.unregister(listener)
        deadline = time.monotonic() + CLOSE_FLUSH_S
        while self._viewers and any(v.pending() for v in self._viewers.values()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            for key, _ in self._selector.select(min(remaining, 0.05)):
                if isinstance(key.data, _Viewer) and key.data.sock in self._viewers:
                    self._flush(key.data)

    def _shutdown(self) -> None:
        for viewer in list(self._viewers.values()):
            self._drop(viewer, None)
        self._selector.close()
        self._listener.close()
        if self._unix_identity is not None:
            path = os.path.abspath(self.requested.path)
            try:
                st = os.lstat(path)
                if (st.st_dev, st.st_ino) == self._unix_identity:
                    os.unlink(path)  # ours still: a newer server may have replaced it
            except OSError:
                pass
        self._wake_read.close()
        self._wake_write.close()
