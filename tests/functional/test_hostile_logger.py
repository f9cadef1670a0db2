"""Issue 16: nothing a file can be makes the Logger block training or write someone else's file.

Real FIFOs, real symlinks owned by another user (``lchown``, so these need root or skip), real
umasks. Every wait is bounded: a Logger that blocks would hang the test, so the risky calls run
in a child process with a timeout.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest

from lstm_top import Logger, LoggerWarning
from lstm_top.sources.formats import read_history

NOBODY = 65534
CHILD_TIMEOUT_S = 20.0


def _logger_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, LoggerWarning)]


def _run_child(code: str, *args: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter (a Logger that blocked would hang it, not us)."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                            capture_output=True, text=True, timeout=CHILD_TIMEOUT_S,
                            env={**os.environ, "PYTHONWARNINGS": "always"})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _needs_root() -> None:
    if os.getuid() != 0:
        pytest.skip("planting another user's symlink needs root (lchown)")


# ---------------------------------------------------------------------------- FIFOs, devices

_FIFO_CHILD = """
    import json, sys, time, warnings
    from lstm_top import Logger
    caught = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        started = time.monotonic()
        logger = Logger(sys.argv[1], run_name="fifo")
        constructed = time.monotonic() - started
        slowest = 0.0
        for epoch in range(1, 2001):
            t = time.perf_counter()
            logger.log(epoch=epoch, loss=1.0 / epoch, padding="x" * 500)
            slowest = max(slowest, time.perf_counter() - t)
        logger.close()
    print(json.dumps({"constructed_s": constructed, "slowest_log_s": slowest,
                      "warnings": [str(w.message) for w in caught]}))
"""


def test_a_fifo_target_is_refused_with_one_warning_and_never_blocks(tmp_path: Path) -> None:
    fifo = tmp_path / "run.jsonl"
    os.mkfifo(fifo)
    result = _run_child(_FIFO_CHILD, str(fifo))
    # Before: the constructor blocked until someone opened the FIFO for reading (for good:
    # the child timed out). Milliseconds here; the bounds leave room for a loaded machine.
    assert result["constructed_s"] < 2.0
    assert result["slowest_log_s"] < 0.5
    messages = [m for m in result["warnings"] if "lstm-top" in m]  # type: ignore[union-attr]
    assert len(messages) == 1 and "is a FIFO, not a regular file" in messages[0], messages
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert os.read(reader, 100) == b""  # no writer holds it open, nothing was left in it
    finally:
        os.close(reader)


def test_a_device_target_is_refused(tmp_path: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logger = Logger("/dev/null")
        logger.log(epoch=1, loss=1.0)
        logger.close()
    messages = _logger_warnings(caught)
    assert len(messages) == 1 and "/dev/null is a device" in messages[0], messages


_FULL_FIFO_CHILD = """
    import json, os, sys, time
    from lstm_top import Logger
    fifo = sys.argv[1]
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader that does not read (yet)
    logger = Logger(fifo, run_name="slow-reader", special_files=True)
    durations = []
    for epoch in range(1, 3001):  # ~1.5 MB: far more than the 64 KiB pipe holds
        t = time.perf_counter()
        logger.log(epoch=epoch, loss=1.0 / epoch, padding="x" * 500)
        durations.append(time.perf_counter() - t)
    # Now the reader catches up: every record arrives, complete and in order.
    received = bytearray()
    deadline = time.monotonic() + 10
    os.set_blocking(reader, True)
    closer_started = time.monotonic()
    import threading
    closing = threading.Thread(target=logger.close)
    closing.start()
    while time.monotonic() < deadline:
        chunk = os.read(reader, 1 << 16)
        if not chunk:
            break
        received += chunk
    closing.join()
    durations.sort()
    print(json.dumps({"max_s": durations[-1], "p99_s": durations[int(len(durations) * 0.99)],
                      "dropped": logger.dropped, "text": received.decode()}))
"""


def test_a_full_pipe_never_blocks_log_and_records_arrive_in_order(tmp_path: Path) -> None:
    fifo = tmp_path / "collector.fifo"
    os.mkfifo(fifo)
    result = _run_child(_FULL_FIFO_CHILD, str(fifo))
    # Before: log() blocked for good once the pipe was full. Now a call takes microseconds
    # (p99); the slowest, hit by a scheduling hiccup of a loaded machine, still no wait.
    assert result["p99_s"] < 0.05, result["p99_s"]
    assert result["max_s"] < 0.5, result["max_s"]
    assert result["dropped"] == 0
    lines = str(result["text"]).splitlines()
    records = [json.loads(line) for line in lines]
    assert records[0]["kind"] == "header"
    assert [r["epoch"] for r in records if r["kind"] == "epoch"] == list(range(1, 3001))
    assert records[-1]["kind"] == "end"


# ---------------------------------------------------------------------------- symlinks


def test_another_users_symlink_is_not_followed(tmp_path: Path) -> None:
    _needs_root()
    victim = tmp_path / "someone-elses-run.jsonl"
    victim.write_text('{"kind":"header","run":"theirs"}\n')
    before = victim.read_bytes()
    planted = tmp_path / "run.jsonl"
    planted.symlink_to(victim)
    os.lchown(planted, NOBODY, NOBODY)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logger = Logger(planted, run_name="mine")
        for epoch in range(1, 20):
            logger.log(epoch=epoch, loss=1.0)
        logger.close()
    assert victim.read_bytes() == before
    messages = _logger_warnings(caught)
    assert len(messages) == 1 and "symlink that is not yours" in messages[0], messages


def test_the_users_own_symlink_and_an_explicit_option_are_followed(tmp_path: Path) -> None:
    _needs_root()
    target = tmp_path / "real.jsonl"
    own = tmp_path / "own.jsonl"
    own.symlink_to(target)
    with Logger(own, run_name="own") as logger:
        logger.log(epoch=1, loss=1.0)
    assert read_history(target).run_name == "own"
    other_target = tmp_path / "shared.jsonl"
    foreign = tmp_path / "foreign.jsonl"
    foreign.symlink_to(other_target)
    os.lchown(foreign, NOBODY, NOBODY)
    with Logger(foreign, run_name="asked", follow_symlinks=True) as logger:
        logger.log(epoch=1, loss=1.0)
    assert read_history(other_target).run_name == "asked"


def test_a_path_replaced_by_another_users_symlink_mid_run_is_not_followed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _needs_root()
    monkeypatch.setattr("lstm_top.hook.logger.PATH_CHECK_INTERVAL_S", 0.0)
    victim = tmp_path / "other-run.jsonl"
    victim.write_text('{"kind":"header","run":"other"}\n')
    before = victim.read_bytes()
    path = tmp_path / "run.jsonl"
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        logger = Logger(path, run_name="mine")
        logger.log(epoch=1, loss=1.0)
        path.unlink()
        path.symlink_to(victim)
        os.lchown(path, NOBODY, NOBODY)
        for epoch in range(2, 210):
            logger.log(epoch=epoch, loss=1.0)
        logger.close()
    # Before: a header and 207 epochs were appended to the other run's file.
    assert victim.read_bytes() == before


# ---------------------------------------------------------------------------- modes, folders


def test_the_file_mode_honours_the_umask_and_private_means_0600(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        with Logger(tmp_path / "shared.jsonl", config={"lr": 0.1}):
            pass
        with Logger(tmp_path / "private.jsonl", config={"secret_api_key": "x"}, private=True):
            pass
        os.umask(0o077)
        with Logger(tmp_path / "strict.jsonl"):
            pass
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "shared.jsonl").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "private.jsonl").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "strict.jsonl").stat().st_mode) == 0o600


def test_a_relative_path_in_new_folders_gets_its_first_record(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logger = Logger("new/dir/run.jsonl", run_name="fresh")  # no folder made beforehand
        logger.log(epoch=1, loss=0.5)
        logger.close()
    history = read_history(tmp_path / "new" / "dir" / "run.jsonl")
    assert history.run_name == "fresh" and list(history.epochs.index) == [1]
    messages = _logger_warnings(caught)
    assert len(messages) == 1 and "created the folder" in messages[0], messages
    assert time.time() - (tmp_path / "new").stat().st_mtime < 60
