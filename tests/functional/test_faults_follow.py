"""Issue 8, reader side of writer and following faults, with the follower's real thread.

(The Logger's own disk-full / read-only / SIGKILL behaviour is tested in
test_logger_faults.py; the follower's synchronous truncation/rotation cases in
tests/unit/test_follow.py. Here: what a *viewer* sees while those happen live.)
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lstm_top.format import encode_end, encode_epoch, encode_header
from lstm_top.history import History
from lstm_top.hook.logger import Logger
from lstm_top.sources.base import ENDED, SourceUpdate
from lstm_top.sources.follow import FileFollower
from tests.waiting import WAIT_S, poll_until


class Watcher:
    """Checks an invariant on every update the follower sends, from the follower's thread."""

    def __init__(self, check: Callable[[SourceUpdate], None] | None = None) -> None:
        self.updates: list[SourceUpdate] = []
        self.failures: list[str] = []
        self.check = check
        self.lock = threading.Lock()

    def __call__(self, update: SourceUpdate) -> None:
        with self.lock:
            self.updates.append(update)
        if self.check is not None:
            try:
                self.check(update)
            except AssertionError as exc:
                self.failures.append(str(exc))


@pytest.fixture
def no_thread_leak() -> Iterator[None]:
    before = set(threading.enumerate())
    fds = len(os.listdir("/proc/self/fd"))
    yield
    assert poll_until(lambda: set(threading.enumerate()) <= before), \
        set(threading.enumerate()) - before
    assert poll_until(lambda: len(os.listdir("/proc/self/fd")) <= fds)


def test_half_written_lines_are_never_records_until_completed(tmp_path: Path,
                                                              no_thread_leak: None) -> None:
    """A writer dribbling bytes in odd pieces: at no update is a half line a record or a
    problem, and in the end every record is there once."""
    path = tmp_path / "slow.jsonl"
    records = [encode_header("dribble", 1.0)] + [
        encode_epoch(e, 1.0 + e, {"loss": 1.0 / e, "val_loss": 2.0 / e}) for e in range(1, 61)]
    complete_lines = [0]  # lines fully on disk before the current write started

    def invariant(update: SourceUpdate) -> None:
        history = update.history
        with history.lock:
            assert history.malformed_lines == 0, f"half line counted: {history.problems}"
            seen = len(history.epochs) + history.headers_seen
        assert seen <= complete_lines[0], f"{seen} records from {complete_lines[0]} lines"

    watcher = Watcher(invariant)
    follower = FileFollower(str(path), poll_interval=0.02)
    follower.start(watcher)
    rng = random.Random(8)
    try:
        data = "".join(records).encode()
        with open(path, "ab", buffering=0) as handle:
            position = 0
            while position < len(data):
                size = rng.choice([1, 2, 3, 7, 40, 97, 300])
                piece = data[position:position + size]
                position += len(piece)
                complete_lines[0] = data[:position].count(b"\n")  # once this write is done
                handle.write(piece)
                if rng.random() < 0.05:
                    time.sleep(0.02)  # let the follower see a half line
        assert poll_until(lambda: len(follower.history.epochs) == 60)
    finally:
        follower.stop(timeout=WAIT_S)
    assert watcher.failures == []
    assert follower.history.epochs.index.tolist() == list(range(1, 61))
    assert follower.history.malformed_lines == 0


_KILLED_WRITER = r"""
import os, signal, sys
from lstm_top.hook.logger import Logger
logger = Logger(sys.argv[1], run_name="killed")
for epoch in range(1, 6):
    logger.log(epoch=epoch, loss=1.0 / epoch)
# die in the middle of a record: exactly what a SIGKILL during write() leaves behind
os.write(logger._fd, b'{"kind":"epoch","epoch":6,"time":1.0,"metr')
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_writer_killed_mid_record_then_restarted(tmp_path: Path, no_thread_leak: None) -> None:
    path = tmp_path / "killed.jsonl"
    watcher = Watcher()
    follower = FileFollower(str(path), poll_interval=0.02)
    follower.start(watcher)
    try:
        process = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(path)],
                                 timeout=60, check=False)
        assert process.returncode == -signal.SIGKILL
        assert poll_until(lambda: len(follower.history.epochs) == 5)
        time.sleep(0.2)  # more looks at the file: the half record must stay pending
        with follower.history.lock:
            assert follower.history.epochs.index.tolist() == [1, 2, 3, 4, 5]
            assert follower.history.malformed_lines == 0, "a half line is not yet a problem"
        # The training script is restarted and appends to the same file.
        with Logger(path, run_name="killed") as logger:
            logger.log(epoch=6, loss=0.2)
            logger.log(epoch=7, loss=0.1)
        assert poll_until(lambda: follower.state == ENDED)
        with follower.history.lock:
            history = follower.history
            assert history.epochs.index.tolist() == [1, 2, 3, 4, 5, 6, 7]
            assert history.malformed_lines == 1, "the cut-off record is one counted line"
            assert history.problems[0].line == 7 and history.problems[0].skipped
            assert history.end_status == "completed"
    finally:
        follower.stop(timeout=WAIT_S)


def test_replaced_by_another_runs_file_starts_a_new_run_and_keeps_the_old(
        tmp_path: Path, no_thread_leak: None) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text(encode_header("first", 1.0) + "".join(
        encode_epoch(e, 1.0 + e, {"loss": 1.0}) for e in range(1, 11)))
    watcher = Watcher()
    follower = FileFollower(str(path), poll_interval=0.02)
    follower.start(watcher)
    try:
        assert poll_until(lambda: len(follower.history.epochs) == 10)
        old = follower.history
        replacement = tmp_path / "other.tmp"
        replacement.write_text(encode_header("second", 500.0) + "".join(
            encode_epoch(e, 500.0 + e, {"loss": 2.0}) for e in range(1, 4)))
        os.replace(replacement, path)
        assert poll_until(lambda: follower.history is not old
                          and len(follower.history.epochs) == 3)
        assert any(u.new_run for u in watcher.updates)
        assert follower.history.run_name == "second"
        assert old.run_name == "first" and len(old.epochs) == 10, "the old run is kept"
        # truncation by a third run, then deletion: still no record lost or invented
        path.write_text(encode_header("third", 900.0) + encode_epoch(1, 901.0, {"loss": 3.0}))
        assert poll_until(lambda: follower.history.run_name == "third")
        second = [u.history for u in watcher.updates if u.history.run_name == "second"][-1]
        assert len(second.epochs) == 3
        path.unlink()
        assert poll_until(lambda: follower.state == "deleted")
        assert len(follower.history.epochs) == 1
    finally:
        follower.stop(timeout=WAIT_S)


def test_a_file_that_grows_by_100_mb_at_once(tmp_path: Path, no_thread_leak: None) -> None:
    path = tmp_path / "burst.jsonl"
    path.write_text(encode_header("burst", 1.0) + encode_epoch(0, 1.0, {"loss": 1.0}))
    watcher = Watcher()
    follower = FileFollower(str(path), poll_interval=0.05)
    follower.start(watcher)
    padding = "x" * 1000
    count = 100 * 1024 * 1024 // 1040
    try:
        assert poll_until(lambda: len(follower.history.epochs) == 1)
        lines = [f'{{"epoch":{e},"loss":{1.0 / e!r},"note":"{padding}"}}\n'
                 for e in range(1, count + 1)]
        blob = "".join(lines).encode()
        del lines
        assert len(blob) >= 100 * 1024 * 1024
        tracemalloc.start()
        started = time.monotonic()
        with open(path, "ab") as handle:
            handle.write(blob)
            handle.write(encode_end("completed", 2.0).encode())
        del blob
        assert poll_until(lambda: follower.state == ENDED, 120.0)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        follower.stop(timeout=WAIT_S)
    history: History = follower.history
    assert len(history.epochs) == count + 1 and history.malformed_lines == 0
    assert history.epochs.index[-1] == count
    # read in bounded chunks, with progress reports on the way rather than one at the end
    assert peak < 64 * 1024 * 1024, f"peak {peak >> 20} MiB while reading 100 MB"
    assert sum(1 for u in watcher.updates if u.added) >= 2
    assert elapsed < 90
