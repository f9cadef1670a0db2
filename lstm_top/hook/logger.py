"""The writer side: append one JSON line per epoch (or step) to a history file.

Standard library only, so it can go into any training script. Two promises, both tested:

* a reader never sees half a record as whole — each record is one ``os.write`` of a complete
  line on an ``O_APPEND`` descriptor (no user-space buffer to flush, nothing to lose on a kill);
* training is never interrupted — an I/O error is reported once through ``warnings`` and the
  logger retries later (disk full clears, a deleted file is recreated); nothing raises.

What the path may be, so that nobody else's file is written and nothing blocks training:

* a regular file (created if missing, with its missing parent folders, mode 0o700, said once);
  created honouring the umask (``0o666 & ~umask``, like any tool), or 0o600 with
  ``private=True``. The header's config is written in the clear: keep secrets out of it;
* a symlink only if it is the user's own (or with ``follow_symlinks=True``): the file is opened
  with ``O_NOFOLLOW`` otherwise, so a link planted by another user, even after the path was
  replaced mid-run, is refused with a warning instead of followed into their file;
* not a FIFO, device or socket file: those are refused with one warning (a FIFO would block the
  constructor until someone opens it, and ``log()`` once the pipe is full). ``special_files=True``
  writes to one anyway, without ever blocking: the descriptor is non-blocking, and when a write
  would block, a writer thread takes over the records (in order) until the target takes data
  again; beyond ``MAX_BACKLOG_BYTES`` waiting, records are dropped and counted (``dropped``).
"""

from __future__ import annotations

import errno
import os
import select
import stat
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Mapping
from types import FrameType, TracebackType
from typing import Any

from lstm_top.format import (
    STATUS_COMPLETED,
    STATUS_CRASHED,
    STATUS_INTERRUPTED,
    encode_end,
    encode_epoch,
    encode_header,
    encode_step,
)

# After a failed write, wait this long before trying again, so a full disk costs training one
# failed syscall per interval rather than one per record.
RETRY_INTERVAL_S = 5.0
# How often to check that the path still names the file being written (deleted or rotated
# files are recreated); a stat per second is invisible next to an epoch.
PATH_CHECK_INTERVAL_S = 1.0
# Records waiting for a target that does not take data (a full pipe) before new ones are
# dropped (and counted) rather than kept: the training's memory must not grow for a stuck reader.
MAX_BACKLOG_BYTES = 8 << 20


class LoggerWarning(UserWarning):
    """lstm-top could not write its history; training goes on."""


# Warnings point at the user's line, not ours: the first frame outside this package.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


class OnceWarner:
    """Reports each kind of trouble once, through ``warnings``: a failing disk must not flood
    the training's output, and warnings configured as errors must still not stop training."""

    def __init__(self) -> None:
        self._reported: set[str] = set()

    def __call__(self, key: str, message: str) -> None:
        if key in self._reported:
            return
        self._reported.add(key)
        try:
            frame: FrameType | None = sys._getframe()
            stacklevel = 1
            while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
                frame, stacklevel = frame.f_back, stacklevel + 1
            warnings.warn(message, LoggerWarning, stacklevel=stacklevel)
        except Exception:
            pass


def _process_rank() -> int | None:
    """This process's global rank in a distributed run (torchrun, Lightning, SLURM), if any."""
    for variable in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        value = os.environ.get(variable)
        if value is not None and value.strip().isdigit():
            return int(value)
    return None


class Logger:
    """Append-only history writer. Thread-safe; every public method is exception-free.

    ``Logger(path, run_name=..., config={...})`` writes a header; ``log(epoch=3, loss=...,
    val_loss=..., subsets={"long": {"val_loss": 0.9, "n": 200}})`` writes an epoch record;
    with ``step=`` it writes a step record; ``close(status)`` writes the end record. As a
    context manager an exception inside the block ends the run as crashed (and propagates),
    Ctrl-C as interrupted.

    In a distributed run only rank 0 writes unless ``per_rank=True``, which writes one file per
    rank (``run.rank1.jsonl``); ``rank=`` overrides the rank read from the environment.
    ``serve="unix:/path.sock"`` or ``"tcp://127.0.0.1:PORT"``
    also streams the records to viewers that connect (see ``lstm_top.hook.serve``).
    ``private=True`` creates the file 0600 (default: the umask decides); ``follow_symlinks``
    and ``special_files`` allow what the module docstring says is refused by default.
    """

    def __init__(self, path: str | os.PathLike[str], *, run_name: str | None = None,
                 config: Mapping[str, Any] | None = None, serve: str | None = None,
                 per_rank: bool = False, rank: int | None = None, private: bool = False,
                 follow_symlinks: bool = False, special_files: bool = False) -> None:
        self._lock = threading.Lock()
        self._mode = 0o600 if private else 0o666  # the umask applies, as for any created file
        self.follow_symlinks = follow_symlinks
        self.special_files = special_files
        # Records a non-blocking target could not take yet; the writer thread sends them.
        self._backlog: deque[bytes] = deque()
        self._backlog_bytes = 0
        self._writer: threading.Thread | None = None
        self.dropped = 0  # records dropped because the target took no data for too long
        self._fd: int | None = None
        self._closed = False
        self._failed_at: float | None = None
        self._warn_once = OnceWarner()
        self._partial_line = False
        self._last_path_check = 0.0
        self._inode: tuple[int, int] | None = None
        self._opened_empty = False
        self._next_epoch = 1
        self._server: Any = None
        path = os.fspath(path)
        # A framework that knows the rank (Lightning's ddp_spawn sets no RANK variable) says so.
        rank = _process_rank() if rank is None else rank
        self.enabled = rank in (None, 0) or per_rank
        if per_rank and rank not in (None, 0):
            # splitext, not a split at the last dot: "/runs/v1.2/run" has no extension
            stem, suffix = os.path.splitext(path)
            path = f"{stem}.rank{rank}{suffix}"
        self.path = path
        self.run_name = run_name or os.path.splitext(os.path.basename(path))[0]
        self.started = time.time()
        self._header = encode_header(self.run_name, round(self.started, 3),
                                     dict(config) if config else None)
        if not self.enabled:
            return
        if serve:
            self._start_server(serve)
        # If the file cannot be opened now (missing directory, read-only), the header is
        # written by the first reopen that succeeds, since that file is empty.
        if self._open():
            self._write(self._header)
        else:
            self._publish(self._header.encode("utf-8"))  # viewers still get the run's header

    # ------------------------------------------------------------------ public API

    def log(self, epoch: int | None = None, step: int | None = None, *,
            subsets: Mapping[str, Mapping[str, Any]] | None = None, **metrics: Any) -> None:
        """Record one epoch (or, with ``step``, one step). Never raises.

        Metric names that are Python keywords or clash with ``epoch``/``step``/``subsets``
        cannot be passed this way: use :meth:`log_metrics`."""
        self.log_metrics(metrics, epoch=epoch, step=step, subsets=subsets)

    def log_metrics(self, metrics: Mapping[str, Any], *, epoch: int | None = None,
                    step: int | None = None,
                    subsets: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        """Record one epoch (or, with ``step``, one step) from a mapping, so any metric name
        works, ``epoch`` and ``step`` included. Never raises."""
        if not self.enabled or self._closed:
            return
        try:
            now = time.time()
            if step is not None:
                line = encode_step(int(step), None if epoch is None else int(epoch), now,
                                   _merge_subsets(metrics, subsets))
            else:
                if epoch is None:
                    epoch = self._next_epoch
                self._next_epoch = int(epoch) + 1
                line = encode_epoch(int(epoch), now, metrics, subsets)
        except Exception as exc:  # a metric that cannot be encoded must not stop training
            self._warn_once("encode", f"lstm-top: could not encode a record ({exc!r}); skipped")
            return
        self._write(line)

    def close(self, status: str = STATUS_COMPLETED, error: str | None = None, *,
              stopped_by: Mapping[str, Any] | None = None) -> None:
        """Write the end record and release the file. Idempotent; never raises.

        ``stopped_by`` says which warning sign stopped the run (see ``lstm_top.actions``)."""
        if self._closed:
            return
        if self.enabled:
            try:
                end = encode_end(status, time.time(), error, stopped_by)
            except Exception:  # an unencodable reason must not cost the end record
                end = encode_end(status, time.time(), error)
            self._write(end)
        self._closed = True
        writer = self._writer
        if writer is not None:  # give a slow target a moment for the end record, no more
            writer.join(CLOSE_BACKLOG_WAIT_S)
        with self._lock:
            if self._backlog:
                self.dropped += len(self._backlog)
                self._backlog.clear()
                self._backlog_bytes = 0
            self._close_fd_locked()
        if self._server is not None:
            try:
                self._server.close()
            except Exception:
                pass

    def __enter__(self) -> Logger:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close(STATUS_COMPLETED)
        elif issubclass(exc_type, KeyboardInterrupt | SystemExit):
            self.close(STATUS_INTERRUPTED)
        else:
            self.close(STATUS_CRASHED, f"{exc_type.__name__}: {exc}"[:500])

    def __del__(self) -> None:  # a script that never closes still releases its descriptor
        fd = getattr(self, "_fd", None)
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    # ------------------------------------------------------------------ internals

    def _start_server(self, address: str) -> None:
        try:
            from lstm_top.hook.serve import HistoryServer

            self._server = HistoryServer(address)
        except Exception as exc:
            self._warn_once("serve", f"lstm-top: cannot serve on {address!r} ({exc}); "
                                     "the history file is still written")

    def _open(self) -> bool:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | _CLOEXEC | os.O_NONBLOCK
        if not self._symlink_allowed():
            flags |= _NOFOLLOW
        try:
            try:
                fd = os.open(self.path, flags, self._mode)
            except FileNotFoundError:
                if not self._make_parents():
                    raise
                fd = os.open(self.path, flags, self._mode)
        except OSError as exc:
            if exc.errno == errno.ELOOP and flags & _NOFOLLOW:
                self._refuse("symlink", f"lstm-top: {self.path} is a symlink that is not yours; "
                                        "not following it (pass follow_symlinks=True to allow "
                                        "it); training continues without a history file")
            elif exc.errno == errno.ENXIO:  # a FIFO nobody reads: O_NONBLOCK says so at once
                self._refuse_special("a FIFO")
            else:
                self._report(exc)
            return False
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            mode = stat.S_IFREG
        if not stat.S_ISREG(mode):
            if not self.special_files:
                os.close(fd)
                self._refuse_special(_kind_of(mode))
                return False
        else:
            os.set_blocking(fd, True)  # a regular file ignores it; keep the usual semantics
        self._fd = fd
        self._opened_empty = False
        try:
            st = os.fstat(fd)
            self._inode = (st.st_dev, st.st_ino)
            self._opened_empty = st.st_size == 0
            # A file that does not end in a newline (a killed writer) would glue our first
            # record onto its half line; start on a fresh line instead.
            self._partial_line = st.st_size > 0 and _last_byte(self.path) != b"\n"
        except OSError:
            self._inode = None
        self._failed_at = None
        return True

    def _symlink_allowed(self) -> bool:
        """Follow a symlink at the path only if it is ours (or the caller said so)."""
        if self.follow_symlinks:
            return True
        try:
            st = os.lstat(self.path)
        except OSError:
            return False
        return not stat.S_ISLNK(st.st_mode) or st.st_uid == os.getuid()

    def _make_parents(self) -> bool:
        """Create the missing folders of the path (0o700: only the user's); say so once."""
        directory = os.path.dirname(os.path.abspath(self.path))
        if os.path.isdir(directory):
            return False
        missing = []
        while directory and not os.path.isdir(directory):
            missing.append(directory)
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent
        try:
            for folder in reversed(missing):  # each one 0o700: os.makedirs leaves parents 0o755
                try:
                    os.mkdir(folder, 0o700)
                except FileExistsError:
                    pass
        except OSError:
            return False
        directory = missing[0] if missing else directory
        self._warn_once("mkdir", f"lstm-top: created the folder {directory} for {self.path}")
        return True

    def _refuse_special(self, kind: str) -> None:
        self._refuse("special", f"lstm-top: {self.path} is {kind}, not a regular file; not "
                                "writing to it (it could block training; pass "
                                "special_files=True to write to it anyway)")

    def _refuse(self, key: str, message: str) -> None:
        self._warn_once(key, message)
        self._failed_at = time.monotonic()  # look again later: the path may become a file

    def _path_replaced(self, now: float) -> bool:
        if now - self._last_path_check < PATH_CHECK_INTERVAL_S:
            return False
        self._last_path_check = now
        try:
            st = os.stat(self.path)
        except OSError:
            return True
        return self._inode is not None and (st.st_dev, st.st_ino) != self._inode

    def _write(self, line: str) -> None:
        data = line.encode("utf-8", "replace")
        with self._lock:
            now = time.monotonic()
            # The interval test inline: this runs on every record (see bench/bench_logger.py).
            if (self._fd is not None and now - self._last_path_check >= PATH_CHECK_INTERVAL_S
                    and self._path_replaced(now)):
                self._warn_once("replaced", f"lstm-top: {self.path} was deleted or replaced; "
                                            "writing a new file there")
                self._reopen_locked(with_header=True)
            if self._fd is None:
                if self._failed_at is not None and now - self._failed_at < RETRY_INTERVAL_S:
                    self._publish(data)
                    return
                self._reopen_locked(with_header=False)
                if self._fd is None:
                    self._publish(data)
                    return
            self._write_locked(data)
            # Inside the lock, so viewers see records in the same order as the file.
            if self._server is not None:
                self._publish(data)

    def _close_fd_locked(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None

    def _reopen_locked(self, with_header: bool) -> None:
        self._close_fd_locked()
        # An empty file gets the header even on a plain retry: a file that only became
        # writable now (its directory appeared, the disk was remounted rw) must not lack it.
        if self._open() and (with_header or self._opened_empty):
            self._write_locked(self._header.encode("utf-8"))

    def _write_locked(self, data: bytes) -> None:
        assert self._fd is not None
        if self._backlog:  # the writer thread has records before this one: keep the order
            self._queue_locked(data)
            return
        if self._partial_line:
            data = b"\n" + data
        written = 0
        try:
            written = os.write(self._fd, data)
            while written < len(data):  # short write: the rest, or an error below
                self._partial_line = True
                written += os.write(self._fd, data[written:])
            self._partial_line = False
        except BlockingIOError:  # a special file that takes no more now: the thread waits
            self._queue_locked(data[written:])
        except OSError as exc:
            self._report(exc)
            self._close_fd_locked()
            self._failed_at = time.monotonic()

    def _queue_locked(self, data: bytes) -> None:
        if self._backlog_bytes + len(data) > MAX_BACKLOG_BYTES:
            self.dropped += 1
            self._warn_once("dropped", f"lstm-top: {self.path} has taken no data for a while; "
                                       "records are dropped (counted in Logger.dropped) until "
                                       "it does")
            return
        self._backlog.append(data)
        self._backlog_bytes += len(data)
        if self._writer is None or not self._writer.is_alive():
            self._writer = threading.Thread(target=self._drain_backlog, daemon=True,
                                            name=f"lstm-top-writer:{self.path}")
            self._writer.start()

    def _drain_backlog(self) -> None:
        """Writer thread: send the backlog, in order, as the target takes it; then end."""
        try:
            while True:
                with self._lock:
                    if not self._backlog or self._fd is None:
                        return
                    fd = self._fd
                    head = self._backlog[0]
                    try:
                        written = os.write(fd, head)
                    except BlockingIOError:
                        written = 0
                    except OSError as exc:
                        self._report(exc)
                        self.dropped += len(self._backlog)
                        self._backlog.clear()
                        self._backlog_bytes = 0
                        self._close_fd_locked()
                        return
                    self._partial_line = written < len(head)
                    if written == len(head):
                        self._backlog.popleft()
                        self._backlog_bytes -= written
                        continue
                    if written:
                        self._backlog[0] = head[written:]
                        self._backlog_bytes -= written
                # Outside the lock: log() keeps queueing while the target is full.
                try:
                    select.select([], [fd], [], 0.1)
                except (OSError, ValueError):
                    time.sleep(0.1)
        except Exception:
            pass  # a writer bug must never reach training

    def _publish(self, data: bytes) -> None:
        if self._server is not None:
            try:
                self._server.publish(data)
            except Exception as exc:
                self._warn_once("publish", f"lstm-top: streaming stopped ({exc!r})")
                self._server = None

    def _report(self, exc: OSError) -> None:
        reason = {errno.ENOSPC: "disk full", errno.EACCES: "permission denied",
                  errno.EROFS: "read-only file system", errno.ENOENT: "directory missing"}.get(
            exc.errno or 0, exc.strerror or type(exc).__name__)
        self._warn_once(f"io:{exc.errno}", f"lstm-top: cannot write {self.path} ({reason}); "
                                           "training continues, logging will retry")
        self._failed_at = time.monotonic()



_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# On close, how long a slow special target may take to accept what is still queued.
CLOSE_BACKLOG_WAIT_S = 0.5


def _kind_of(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def _last_byte(path: str) -> bytes:
    try:
        with open(path, "rb") as existing:
            existing.seek(-1, os.SEEK_END)
            return existing.read(1)
    except OSError:
        return b"\n"


def _merge_subsets(metrics: Mapping[str, Any],
                   subsets: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    merged = dict(metrics)
    if not subsets:
        return merged
    for subset, values in subsets.items():
        for metric, value in values.items():
            merged[f"{metric}[{subset}]"] = value
    return merged
