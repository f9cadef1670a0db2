"""Read a run streamed by a training process (``Logger(..., serve=ADDRESS)``).

The server greets with a hello line (see ``lstm_top.hook.serve``); anything else is refused
with a clear error rather than waited on. The replay of the history so far follows, then each
new record. When the connection drops without the run's end record, the state is
``disconnected`` and the client reconnects with back-off; after the end record the state stays
``ended`` while the client still looks, less often, for a training restarted on the same
address. A server that comes back with a new
session is a restarted training — a new run (``SourceUpdate.new_run``); the same session (this
viewer was dropped for lagging, or the network blinked) replays the same run into a fresh
History that replaces the old one once the replay is complete.
"""

from __future__ import annotations

import selectors
import socket
import time
from typing import Any

from lstm_top.format import FORMAT_VERSION, parse_json
from lstm_top.history import History
from lstm_top.protocol import (
    GOODBYE_KIND,
    HELLO_KIND,
    PROTOCOL_FORMAT,
    PROTOCOL_VERSION,
    ServeAddress,
    parse_address,
)
from lstm_top.sources.base import (
    DISCONNECTED,
    ENDED,
    ERROR,
    LIVE,
    WAITING,
    LiveSource,
    last_written_at,
)
from lstm_top.sources.jsonl import JsonlParser

CONNECT_TIMEOUT_S = 2.0
# A server that accepts but does not greet within this is not an lstm-top server.
HELLO_TIMEOUT_S = 3.0
MAX_HELLO_BYTES = 1 << 16
RECV_BYTES = 1 << 18
# Reconnection back-off: first retry soon (a restart takes a second), then less often.
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 5.0

_GOODBYE_PREFIX = b'{"kind":"' + GOODBYE_KIND.encode() + b'"'

# Why a connection ended.
_LOST, _ENDED, _REFUSED, _STOPPED = "lost", "ended", "refused", "stopped"


class _StreamParser(JsonlParser):
    """JSON Lines with the server's control lines taken out of the record stream."""

    goodbye: str | None = None

    def _take(self, line: bytes) -> int:
        if line.startswith(_GOODBYE_PREFIX):
            try:
                self.goodbye = str(parse_json(line).get("reason") or "closed by the server")
            except Exception:
                self.goodbye = "closed by the server"
            return 0
        return super()._take(line)


class HandshakeError(Exception):
    """The other end is not an lstm-top history server."""


class SocketSource(LiveSource):
    """A run read from ``unix:/path.sock`` or ``tcp://127.0.0.1:PORT``."""

    def __init__(self, target: str, *, backoff_max: float = BACKOFF_MAX_S) -> None:
        super().__init__(target)
        self.address: ServeAddress = parse_address(target)  # ValueError for a bad address
        self.backoff_max = backoff_max
        self.session: str | None = None
        self.connections = 0  # successful handshakes, for tests and the status line
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)

    def _wake(self) -> None:
        super()._wake()
        try:
            self._wake_write.send(b"\0")
        except OSError:
            pass

    # ------------------------------------------------------------------ thread

    def _run(self) -> None:
        try:
            self._reconnect_loop()
        finally:
            self._wake_read.close()
            self._wake_write.close()

    def _reconnect_loop(self) -> None:
        delay = BACKOFF_FIRST_S
        ended = False  # the run wrote its end record; a restarted training may still come
        while not self.stopping:
            try:
                sock = self._connect()
            except OSError as exc:
                if ended:
                    pass  # stay "ended": the finished run is what there is to see
                elif self.connections:
                    self._set_state(DISCONNECTED, f"connection to {self.address} lost; "
                                                  f"reconnecting ({_reason(exc)})")
                else:
                    self._set_state(WAITING, f"waiting for a training process to serve on "
                                             f"{self.address} ({_reason(exc)})")
                self._wait(delay)
                delay = min(delay * 2, self.backoff_max)
                continue
            try:
                outcome, detail = self._session_on(sock)
            except HandshakeError as exc:
                self._emit(0, ERROR, str(exc))
                return
            finally:
                sock.close()
            if outcome == _STOPPED:
                return
            if outcome == _ENDED:
                ended = True
                delay = self.backoff_max  # look for a restarted training now and then
                self._emit(0, ENDED, "the run ended")
            else:
                ended = False
                delay = BACKOFF_FIRST_S
                self._emit(0, DISCONNECTED, f"connection to {self.address} lost ({detail}); "
                                            "reconnecting")
            self._wait(delay)

    def _connect(self) -> socket.socket:
        address = self.address
        if address.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(CONNECT_TIMEOUT_S)
            try:
                sock.connect(address.path)
            except BaseException:
                sock.close()
                raise
        else:
            sock = socket.create_connection((address.host, address.port), CONNECT_TIMEOUT_S)
        sock.setblocking(False)
        return sock

    # ------------------------------------------------------------------ one connection

    def _session_on(self, sock: socket.socket) -> tuple[str, str]:
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ)
            selector.register(self._wake_read, selectors.EVENT_READ)
            hello, rest = self._read_hello(sock, selector)
            if hello is None:
                return _STOPPED, ""
            return self._stream(sock, selector, hello, rest)

    def _recv(self, sock: socket.socket, selector: selectors.BaseSelector,
              timeout: float | None) -> bytes | None:
        """Bytes from the server (b"" at EOF), or None when stopping / timed out."""
        while not self.stopping:
            ready = selector.select(timeout)
            if not ready:
                return None
            for key, _ in ready:
                if key.fileobj is self._wake_read:
                    try:
                        self._wake_read.recv(4096)
                    except OSError:
                        pass
            if self.stopping:
                return None
            try:
                return sock.recv(RECV_BYTES)
            except BlockingIOError:
                continue
            except OSError:
                return b""
        return None

    def _read_hello(self, sock: socket.socket,
                    selector: selectors.BaseSelector) -> tuple[dict[str, Any] | None, bytes]:
        received = bytearray()
        deadline = time.monotonic() + HELLO_TIMEOUT_S
        while b"\n" not in received:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise HandshakeError(f"{self.address} did not greet like an lstm-top server "
                                     f"within {HELLO_TIMEOUT_S:g} s")
            data = self._recv(sock, selector, remaining)
            if data is None:
                if self.stopping:
                    return None, b""
                continue
            if not data:
                raise HandshakeError(f"{self.address} closed the connection without greeting; "
                                     "is it an lstm-top server?")
            received += data
            if len(received) > MAX_HELLO_BYTES:
                break
        line, _, rest = bytes(received).partition(b"\n")
        try:
            hello = parse_json(line)
        except Exception:
            hello = None
        if not isinstance(hello, dict) or hello.get("kind") != HELLO_KIND \
                or hello.get("format") != PROTOCOL_FORMAT:
            raise HandshakeError(f"{self.address} is not an lstm-top history server "
                                 f"(it sent {line[:60]!r})")
        version = hello.get("version")
        if not isinstance(version, int) or version > max(PROTOCOL_VERSION, FORMAT_VERSION):
            raise HandshakeError(f"{self.address} speaks a newer protocol (version {version}); "
                                 "upgrade with: pip install -U lstm-top")
        return hello, rest

    def _stream(self, sock: socket.socket, selector: selectors.BaseSelector,
                hello: dict[str, Any], data: bytes) -> tuple[str, str]:
        session = str(hello.get("session") or "")
        replay_left = hello.get("replay_bytes")
        replay_left = replay_left if isinstance(replay_left, int) and replay_left > 0 else 0
        dropped = hello.get("dropped_steps")
        note = (f"the server kept only the latest step records ({dropped} older ones not shown)"
                if isinstance(dropped, int) and dropped > 0 else None)
        self.connections += 1
        previous_session, self.session = self.session, session
        if previous_session is None and not self._has_content():
            history = self.history  # first connection: fill the history the viewer holds
            swap_after_replay = False
        else:
            history = History(source=self.target)  # replaced when its replay is complete
            swap_after_replay = True
        new_run = previous_session is not None and previous_session != session
        parser = _StreamParser(history)
        added = 0
        first = True
        while True:
            in_replay = replay_left > 0
            if data:
                replay_left = max(0, replay_left - len(data))
                with history.lock:
                    added += parser.feed(data)
            if swap_after_replay:
                if replay_left == 0:
                    swap_after_replay = False
                    self.history = history
                    self._note_records(added, last_written_at(history))
                    self._emit_live(added, note or ("a new run started on the server" if new_run
                                                    else f"reconnected to {self.address}"),
                                    new_run=new_run)
                    note, added = None, 0
            elif added or first:
                # Replayed records are as recent as their own timestamps; live ones are now.
                self._note_records(added, last_written_at(history) if in_replay else None)
                self._emit_live(added, note)
                note, added = None, 0
            first = False
            if parser.goodbye:
                return _LOST, parser.goodbye
            received = self._recv(sock, selector, None)
            if received is None:
                return _STOPPED, ""
            if not received:
                with history.lock:
                    finished = history.finished
                return (_ENDED, "") if finished else (_LOST, "closed by the server")
            data = received

    def _emit_live(self, added: int, message: str | None, new_run: bool = False) -> None:
        with self.history.lock:
            state = ENDED if self.history.finished else LIVE
        if message is None and self.state in (WAITING, DISCONNECTED, ERROR):
            self.message = None  # "reconnecting..." no longer applies
        self._emit(added, state, message, new_run=new_run)

    def _has_content(self) -> bool:
        with self.history.lock:
            history = self.history
            return bool(history.headers_seen or len(history.epochs) or len(history.steps))

    def _set_state(self, state: str, message: str | None) -> None:
        if state == self.state and message == self.message:
            return
        self._emit(0, state, message)


def _reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no socket there yet"
    if isinstance(exc, ConnectionRefusedError):
        return "nobody listening"
    return exc.strerror or type(exc).__name__
