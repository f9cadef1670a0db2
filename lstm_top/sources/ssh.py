"""Follow a history file on another machine through the user's own ``ssh``.

``lstm-top ssh://[user@]host[:port]/path/run.jsonl`` runs ``ssh host tail -c +1 -F path``: the
user's ssh config, keys and agent decide how to get there (``LSTM_TOP_SSH`` replaces the
``ssh`` command, e.g. ``ssh -F ./ssh_config``); nothing is installed on the far side. The lines
that come back go through the same JSON Lines parser as a local file, so a partial last line
waits for its newline. When ``tail`` says the file was truncated or replaced, a new run starts;
when the connection drops, the state is ``disconnected`` and ssh is started again with back-off,
reading the file from its start into a fresh History of the same run.
"""

from __future__ import annotations

import os
import re
import select
import shlex
import subprocess
import threading
import time

from lstm_top.history import History
from lstm_top.sources.base import (
    DISCONNECTED,
    ENDED,
    LIVE,
    WAITING,
    LiveSource,
    last_written_at,
)
from lstm_top.sources.bulk import BulkJsonlParser
from lstm_top.sources.follow import _header_key

SSH_ENV = "LSTM_TOP_SSH"
DEFAULT_SSH = ("ssh -o BatchMode=yes -o ServerAliveInterval=10 -o ServerAliveCountMax=3 "
               "-o ConnectTimeout=10")
READ_BYTES = 1 << 20
# tail sends the whole file at once; the first pause this long after it ends the backlog.
BACKLOG_PAUSE_S = 0.5
BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
_ADDRESS = re.compile(r"^ssh://(?:(?P<user>[^@/]+)@)?(?P<host>[^:/]+)(?::(?P<port>\d+))?"
                      r"(?P<path>/.*)$")
# What GNU tail -F writes to stderr when the file it follows starts over.
_RESTART_NOTES = ("truncated", "has been replaced", "has appeared")


def parse_address(target: str) -> tuple[str | None, str, int | None, str]:
    """(user, host, port, remote path) of ``ssh://[user@]host[:port]/path``; a path starting
    ``/~/`` is relative to the remote home. Raises ValueError for anything else."""
    match = _ADDRESS.match(target)
    if match is None or match["path"] in ("", "/"):
        raise ValueError(f"{target}: not an ssh address (ssh://[user@]host[:port]/path)")
    path = match["path"]
    if path.startswith("/~/"):
        path = path[3:]
    port = int(match["port"]) if match["port"] else None
    return match["user"], match["host"], port, path


class SshSource(LiveSource):
    """A remote JSON Lines history followed through ``ssh ... tail -F``."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.user, self.host, self.port, self.remote_path = parse_address(target)
        self.connects = 0  # ssh processes started, for tests
        self.grew_while_watched = False  # until a record arrives after the backlog (LiveSource)
        self._process: subprocess.Popen[bytes] | None = None
        self._restart_noted = threading.Event()

    def command(self) -> list[str]:
        ssh = shlex.split(os.environ.get(SSH_ENV) or DEFAULT_SSH)
        if self.port is not None:
            ssh += ["-p", str(self.port)]
        destination = f"{self.user}@{self.host}" if self.user else self.host
        remote = f"tail -c +1 -F {shlex.quote(self.remote_path)}"
        if not self.remote_path.startswith("/"):
            remote = f"cd && {remote}"
        return [*ssh, destination, "--", remote]

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._kill()
        super().stop(timeout)

    def _kill(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            try:
                process.terminate()
                process.wait(2.0)
            except (OSError, subprocess.TimeoutExpired):
                process.kill()

    def _run(self) -> None:
        failures = 0
        while not self.stopping:
            began = time.monotonic()
            got_data = self._follow_once()
            if self.stopping:
                break
            if got_data or time.monotonic() - began > 30:
                failures = 0
            wait = BACKOFF_S[min(failures, len(BACKOFF_S) - 1)]
            failures += 1
            self._emit(0, DISCONNECTED, f"ssh to {self.host} ended; reconnecting in "
                                        f"{wait:.0f} s")
            self._wait(wait)

    def _follow_once(self) -> bool:
        """One ssh session; True when it delivered data."""
        try:
            process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       start_new_session=True)
        except OSError as exc:
            self._emit(0, DISCONNECTED, f"cannot run ssh: {exc.strerror or exc}")
            return False
        self._process = process
        self.connects += 1
        if self.connects > 1 or self.state != WAITING:
            self._emit(0, WAITING, f"connecting to {self.host}…")
        assert process.stdout is not None and process.stderr is not None
        errors = threading.Thread(target=self._read_errors, args=(process,), daemon=True)
        errors.start()
        # A reconnect reads the file from its start: the same run, read again.
        history = History(source=self.target) if self.connects > 1 else self.history
        parser = BulkJsonlParser(history)
        if history is not self.history:
            self.history = history
        got_data = False
        stdout = process.stdout.fileno()
        # What tail sends until its first pause is the file as it stands (a run that finished
        # days ago, or the epochs so far): its records keep the times they were written at,
        # so a finished remote file reads "not growing", not "stalled".
        self.reading_backlog = True
        try:
            while not self.stopping:
                ready, _, _ = select.select([stdout], [], [], BACKLOG_PAUSE_S)
                if not ready:
                    if got_data:  # (before any, ssh is still connecting)
                        self.reading_backlog = False
                    if process.poll() is not None:
                        break
                    continue
                chunk = os.read(stdout, READ_BYTES)
                if not chunk:
                    break
                # A new run: tail said the file started over, or another run's header comes
                # (tail's note on stderr may arrive after the new bytes).
                restarted = self._restart_noted.is_set() or (
                    parser.pending_bytes == 0 and self._other_run_header(chunk))
                if restarted:
                    self._restart_noted.clear()
                    if len(self.history.epochs) or len(self.history.steps):
                        self.history = History(source=self.target)
                        parser = BulkJsonlParser(self.history)
                        self._emit(0, LIVE, f"a new run started in {self.remote_path}",
                                   new_run=True)
                got_data = True
                with self.history.lock:
                    added = parser.feed(chunk)
                    finished = self.history.finished
                self._note_records(added, last_written_at(self.history)
                                   if self.reading_backlog else None)
                self._emit(added, ENDED if finished else LIVE,
                           "" if self.message and "connect" in self.message else None)
        finally:
            self.reading_backlog = False
            self._kill()
            errors.join(1.0)
            self._process = None
        return got_data

    def _other_run_header(self, chunk: bytes) -> bool:
        """The chunk starts with the header of a run other than the one being read."""
        key = _header_key(chunk.split(b"\n", 1)[0])
        if key is None:
            return False
        with self.history.lock:
            current = (self.history.run_name, self.history.started)
            seen = self.history.headers_seen
        return bool(seen) and key != current

    def _read_errors(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stderr is not None
        for raw in process.stderr:
            line = raw.decode("utf-8", "replace").strip()
            if any(note in line for note in _RESTART_NOTES):
                self._restart_noted.set()
            elif line and "No such file" in line:
                self.message = f"{self.host}: {line[:200]}"
