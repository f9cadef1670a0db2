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
(O(1), never blocks); the thread uses non-blocking sockets. A viewer whose unsent backlog grows
beyond ``max_viewer_lag_bytes`` is dropped (it can reconnect and replay).
"""

from __future__ import annotations

import heapq
import ipaddress
import json
import os
import selectors
import socket
import stat
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from lstm_top.format import GOODBYE_KIND, HELLO_KIND, PROTOCOL_FORMAT, PROTOCOL_VERSION

# A viewer this far behind (bytes queued for it beyond its replay) is dropped: a stuck viewer
# must not grow the training process's memory without bound.
MAX_VIEWER_LAG_BYTES = 8 << 20
# Step records kept for replay; epochs, header and end record are always all kept.
MAX_REPLAY_STEPS = 20_000
# More viewers than this are turned away (each costs a descriptor and a replay copy).
MAX_VIEWERS = 32
# On close, how long queued records (the end record above all) may take to reach viewers.
CLOSE_FLUSH_S = 0.5
# With no viewer ready to take data, publish skips the wake-up (the cost training would feel)
# and the server thread collects the queue only every this many records.
INBOX_WAKE_EVERY = 1024

_SEND_FLAGS = getattr(socket, "MSG_NOSIGNAL", 0)  # a vanished viewer must not raise SIGPIPE
_STEP_PREFIX = b'{"kind":"step"'  # how the Logger encodes a step record (see format.py)


@dataclass(frozen=True, slots=True)
class ServeAddress:
    """A parsed ``unix:PATH`` or ``tcp://HOST:PORT`` address."""

    scheme: str  # "unix" or "tcp"
    path: str = ""
    host: str = ""
    port: int = 0
    allow_remote: bool = False

    def __str__(self) -> str:
        if self.scheme == "unix":
            return f"unix:{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"


def parse_address(address: str) -> ServeAddress:
    """``unix:/p.sock``, ``unix:///p.sock``, ``tcp://127.0.0.1:7000[?allow_remote=1]``."""
    if address.startswith("unix:"):
        path = address[len("unix:"):]
        if path.startswith("//"):
            path = path[2:]
        if not path:
            raise ValueError(f"{address!r}: a unix address needs a path, e.g. unix:/tmp/run.sock")
        return ServeAddress("unix", path=os.path.expanduser(path))
    if address.startswith("tcp://"):
        parts = urlsplit(address)
        try:
            port = parts.port
        except ValueError:
            port = None
        if not parts.hostname or port is None:
            raise ValueError(f"{address!r}: expected tcp://HOST:PORT, e.g. tcp://127.0.0.1:7000")
        query = parse_qs(parts.query)
        allow_remote = query.get("allow_remote", ["0"])[-1].lower() in ("1", "true", "yes")
        return ServeAddress("tcp", host=parts.hostname, port=port, allow_remote=allow_remote)
    raise ValueError(f"{address!r}: expected unix:/path.sock or tcp://127.0.0.1:PORT")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _encode_control(kind: str, **fields: object) -> bytes:
    return (json.dumps({"kind": kind, **fields}, separators=(",", ":")) + "\n").encode()


@dataclass(eq=False)
class _Viewer:
    sock: socket.socket
    limit: int  # drop when more than this many bytes are queued
    out: deque[memoryview] = field(default_factory=deque)
    queued: int = 0
    wants_write: bool = False


class HistoryServer:
    """Replays the history so far to each viewer that connects, then streams new records."""

    def __init__(self, address: str, *, max_viewer_lag_bytes: int = MAX_VIEWER_LAG_BYTES,
                 max_replay_steps: int = MAX_REPLAY_STEPS) -> None:
        self.requested = parse_address(address)
        self.max_viewer_lag_bytes = max_viewer_lag_bytes
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
        # Server-thread state: the replay store, ordered by sequence number.
        self._sequence = 0
        self._kept: list[tuple[int, bytes]] = []
        self._steps: deque[tuple[int, bytes]] = deque(maxlen=max(1, max_replay_steps))
        self._dropped_steps = 0
        self._viewers: dict[socket.socket, _Viewer] = {}
        self._selector = selectors.DefaultSelector()
        # Counters for tests and the curious.
        self.viewers_accepted = 0
        self.viewers_dropped_slow = 0
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
            listener.listen(16)
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
            listener.listen(16)
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
                for key, events in selector.select():
                    if key.data == "listen":
                        self._accept()
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
            while self._accept():
                pass
            self._flush_before_close()
        except Exception:
            pass  # a server bug must never reach training; the file is still written
        finally:
            self._shutdown()

    def _accept(self) -> bool:
        """Take one waiting connection; False when none was waiting."""
        try:
            sock, _ = self._listener.accept()
        except OSError:
            return False
        sock.setblocking(False)
        if len(self._viewers) >= MAX_VIEWERS:
            self._say_goodbye(sock, f"too many viewers (at most {MAX_VIEWERS})")
            sock.close()
            return True
        self._drain_inbox()  # the replay must include everything published so far
        records = b"".join(line for _, line in heapq.merge(self._kept, self._steps))
        hello = _encode_control(HELLO_KIND, format=PROTOCOL_FORMAT, version=PROTOCOL_VERSION,
                                session=self.session, dropped_steps=self._dropped_steps,
                                replay_bytes=len(records))
        replay = hello + records
        viewer = _Viewer(sock, limit=len(replay) + self.max_viewer_lag_bytes)
        self._viewers[sock] = viewer
        self._selector.register(sock, selectors.EVENT_READ, viewer)
        self.viewers_accepted += 1
        self._queue(viewer, replay)
        self._flush(viewer)
        return True

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
            self._sequence += 1
            if line.startswith(_STEP_PREFIX):
                if len(self._steps) == self._steps.maxlen:
                    self._dropped_steps += 1
                self._steps.append((self._sequence, line))
            else:
                self._kept.append((self._sequence, line))
            lines.append(line)
        if not lines:
            return
        batch = b"".join(lines)
        for viewer in list(self._viewers.values()):
            self._queue(viewer, batch)
            if viewer.queued > viewer.limit:
                self.viewers_dropped_slow += 1
                self._drop(viewer, f"viewer fell more than {self.max_viewer_lag_bytes >> 20} MiB "
                                   "behind; reconnect to replay the history")
            elif not viewer.wants_write:  # a blocked viewer is flushed when it can take more
                self._flush(viewer)

    def _queue(self, viewer: _Viewer, data: bytes) -> None:
        viewer.out.append(memoryview(data))
        viewer.queued += len(data)

    def _flush(self, viewer: _Viewer) -> None:
        try:
            while viewer.out:
                head = viewer.out[0]
                sent = viewer.sock.send(head, _SEND_FLAGS)
                viewer.queued -= sent
                if sent < len(head):
                    viewer.out[0] = head[sent:]
                    break
                viewer.out.popleft()
        except BlockingIOError:
            pass
        except OSError:
            self._drop(viewer, None)
            return
        wants_write = bool(viewer.out)
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

    @staticmethod
    def _say_goodbye(sock: socket.socket, reason: str) -> None:
        """Best effort: a viewer whose buffer is full will only notice the closed socket."""
        try:
            sock.send(_encode_control(GOODBYE_KIND, reason=reason), _SEND_FLAGS)
        except OSError:
            pass

    def _flush_before_close(self) -> None:
        for idle in (self._listener, self._wake_read):  # only viewers' writability matters now
            self._selector.unregister(idle)
        deadline = time.monotonic() + CLOSE_FLUSH_S
        while self._viewers and any(v.out for v in self._viewers.values()):
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
