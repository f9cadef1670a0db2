"""The Logger under real faults: SIGKILL, a full disk, a read-only file system, a deleted file,
a missing directory, no permission. Training must finish; the file must stay readable.

Real file systems: a 64 KiB tmpfs filled up, a tmpfs remounted read-only, /dev/full, a process
without root. Needs root with mount permission for the tmpfs cases (skipped otherwise, with the
reason). The retry and path-check intervals are shortened so a test does not wait 5 s; that
changes how soon the logger tries again, not what it does.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from lstm_top import Logger, LoggerWarning
from lstm_top.format import RecordError, decode_line
from lstm_top.hook import logger as logger_module
from lstm_top.sources.formats import read_history

EPOCHS = 200
# ~1.3 KB per record: big enough that a torn or interleaved write would show.
PAYLOAD = {f"metric_{i:02d}": 0.1 + i / 7 for i in range(60)}


@pytest.fixture
def fast_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logger_module, "RETRY_INTERVAL_S", 0.05)
    monkeypatch.setattr(logger_module, "PATH_CHECK_INTERVAL_S", 0.0)


def _mount_tmpfs(target: Path, size: str) -> None:
    target.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                             str(target)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip() or 'not permitted'})")


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "tmpfs"
    _mount_tmpfs(mount_point, "64k")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def _logger_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, LoggerWarning)]


def _train(logger: Logger, first: int, last: int) -> int:
    """A stand-in training loop: one record per epoch; returns the epochs it completed."""
    done = 0
    for epoch in range(first, last + 1):
        logger.log(epoch=epoch, loss=1.0 / epoch, **PAYLOAD)
        done += 1
    return done


# ---------------------------------------------------------------------------- SIGKILL

KILL_SCRIPT = textwrap.dedent("""
    import sys
    from lstm_top import Logger
    payload = {f"metric_{i:02d}": 0.1 + i / 7 for i in range(60)}
    logger = Logger(sys.argv[1])
    epoch = 0
    while True:
        epoch += 1
        logger.log(epoch=epoch, loss=1.0 / epoch, **payload)
""")


def test_sigkill_mid_run_leaves_only_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "killed.jsonl"
    script = tmp_path / "train.py"
    script.write_text(KILL_SCRIPT)
    rng = random.Random(1234)
    kills = 6
    for _ in range(kills):
        before = path.stat().st_size if path.exists() else 0
        process = subprocess.Popen([sys.executable, str(script), str(path)])
        try:
            deadline = time.monotonic() + 60
            # Wait until it is really writing, then kill it at a random moment.
            while (not path.exists() or path.stat().st_size <= before + 10_000) and \
                    time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.2))
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL
    # One os.write per record, but Linux ends a write to a regular file at a page boundary
    # when SIGKILL is pending: the record being written at the kill can be cut (docs/
    # RELIABILITY.md: "the cut-off one is one counted bad line"). Only that one: a cut record
    # is the file's last line or is followed at once by the next writer's header, which starts
    # on a line of its own; every other record is whole, and the reader counts the cut ones.
    lines = path.read_bytes().split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    records: list[object] = []
    torn = []
    for index, line in enumerate(lines):
        try:
            records.append(decode_line(line))
        except RecordError:
            torn.append(index)
            records.append(None)
    for index in torn:
        assert index == len(lines) - 1 or type(records[index + 1]).__name__ == "Header", \
            f"line {index + 1} is cut but no kill happened there"
    assert len(torn) <= kills
    assert sum(1 for r in records if type(r).__name__ == "Header") == kills
    history = read_history(path)
    assert history.malformed_lines == len(torn)
    assert len(history.epochs) > kills * 5
    assert history.end_status is None  # killed: no end record, shown as not finished


# ---------------------------------------------------------------------------- full disk


def test_full_tmpfs_does_not_stop_training_and_logging_resumes(small_tmpfs: Path,
                                                               fast_retry: None) -> None:
    path = small_tmpfs / "run.jsonl"
    filler = small_tmpfs / "filler.bin"
    filler.write_bytes(b"\0" * 40_000)  # most of the 64 KiB: the run fills the rest
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logger = Logger(path, run_name="full")
        completed = _train(logger, 1, EPOCHS)
        assert completed == EPOCHS  # training went on while the disk was full
        messages = _logger_warnings(caught)
        assert len(messages) == 1 and "disk full" in messages[0], messages
        written_while_full = len(read_history(path).epochs)
        assert 5 < written_while_full < EPOCHS  # it did fill up part way

        filler.unlink()  # space frees up
        time.sleep(0.1)  # past the retry interval
        _train(logger, EPOCHS + 1, EPOCHS + 20)
        logger.close()
    assert len(_logger_warnings(caught)) == 1  # the same failure is not reported again
    history = read_history(path)
    resumed = [e for e in history.epochs.index if e > EPOCHS]
    assert resumed == list(range(EPOCHS + 1, EPOCHS + 21))
    assert history.end_status == "completed"
    # A record cut short by the full disk stays its own (skipped) line; it is never glued to
    # the next record, so nothing after it is lost.
    assert history.malformed_lines <= 1
    for problem in history.problems:
        assert problem.line <= written_while_full + 2


def test_dev_full_enospc_does_not_stop_training() -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("/dev/full does not exist on this system")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logger = Logger("/dev/full", special_files=True)  # a device only when asked
        completed = _train(logger, 1, 50)
        logger.close()
    assert completed == 50
    messages = _logger_warnings(caught)
    assert len(messages) == 1 and "disk full" in messages[0], messages


# ---------------------------------------------------------------------------- read-only


def test_read_only_file_system_then_writable_again(small_tmpfs: Path, fast_retry: None) -> None:
    existing = small_tmpfs / "old.jsonl"
    existing.write_text('{"kind":"epoch","epoch":1,"metrics":{"loss":1}}\n')
    remount = subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)],
                             capture_output=True, text=True)
    if remount.returncode != 0:
        pytest.skip(f"cannot remount read-only here ({remount.stderr.strip()})")
    path = small_tmpfs / "run.jsonl"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        new_file = Logger(path, run_name="ro")
        appending = Logger(existing)
        assert _train(new_file, 1, 30) == 30
        assert _train(appending, 2, 31) == 30
        messages = _logger_warnings(caught)
        # One warning per logger (each is its own run), both naming the real cause.
        assert len(messages) == 2 and all("read-only" in m for m in messages), messages
        assert not path.exists()

        subprocess.run(["mount", "-o", "remount,rw", str(small_tmpfs)], check=True)
        time.sleep(0.1)
        _train(new_file, 31, 35)
        new_file.close()
        appending.close()
    assert len(_logger_warnings(caught)) == 2
    history = read_history(path)
    assert history.run_name == "ro"  # the header arrives with the first successful write
    assert list(history.epochs.index) == [31, 32, 33, 34, 35]
    assert history.end_status == "completed" and history.malformed_lines == 0


def test_read_only_sysfs_path_does_not_stop_training() -> None:
    # A path on sysfs: open(O_CREAT) fails with a real errno (EACCES/EROFS/ENOENT) even for
    # root, the way a read-only system location does.
    target = "/sys/lstm_top_run.jsonl"
    if not os.path.isdir("/sys") or _creatable(target):
        pytest.skip("/sys is missing or writable here")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logger = Logger(target)
        assert _train(logger, 1, 20) == 20
        logger.close()
    assert len(_logger_warnings(caught)) == 1


def _creatable(path: str) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError:
        return False
    os.close(fd)
    os.unlink(path)
    return True


PERMISSION_SCRIPT = textwrap.dedent("""
    import os, sys, warnings
    from lstm_top import Logger, LoggerWarning
    # Imports done as root (the interpreter lives under /root); train as "nobody".
    os.setgid(65534)
    os.setuid(65534)
    warnings.simplefilter("always")
    with warnings.catch_warnings(record=True) as caught:
        logger = Logger(sys.argv[1])
        for epoch in range(1, 51):
            logger.log(epoch=epoch, loss=1.0 / epoch)
        logger.close()
    ours = [str(w.message) for w in caught if issubclass(w.category, LoggerWarning)]
    print(len(ours), ours[0] if ours else "")
    print("trained", epoch)
""")


def test_permission_denied_for_unprivileged_user(tmp_path: Path) -> None:
    # Root ignores file modes, so the training process gives up root before logging into a
    # folder only root may write.
    if os.geteuid() != 0:
        pytest.skip("needs root to start a process that becomes another user")
    # pytest's tmp_path is private to root (0700): nobody could not even reach a folder in it.
    folder = Path(tempfile.mkdtemp(prefix="lstm_top_root_only_"))
    try:
        os.chmod(folder, 0o755)  # others may enter and read, not write
        script = tmp_path / "train.py"
        script.write_text(PERMISSION_SCRIPT)
        result = subprocess.run([sys.executable, str(script), str(folder / "run.jsonl")],
                                capture_output=True, text=True, timeout=120)
        created = (folder / "run.jsonl").exists()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert result.returncode == 0, result.stderr
    count, _, rest = result.stdout.partition(" ")
    assert count == "1" and "permission denied" in rest, result.stdout
    assert "trained 50" in result.stdout
    assert not created


# ---------------------------------------------------------------------------- deleted / missing


def test_deleted_file_is_recreated_with_header(tmp_path: Path, fast_retry: None) -> None:
    path = tmp_path / "run.jsonl"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logger = Logger(path, run_name="phoenix", config={"lr": 0.1})
        _train(logger, 1, 5)
        path.unlink()  # logrotate, a careless rm, a cleanup job
        assert _train(logger, 6, 10) == 5
        logger.close()
    messages = _logger_warnings(caught)
    assert len(messages) == 1 and "deleted or replaced" in messages[0], messages
    history = read_history(path)
    assert history.run_name == "phoenix" and history.config == {"lr": 0.1}
    assert list(history.epochs.index) == [6, 7, 8, 9, 10]
    assert history.end_status == "completed" and history.malformed_lines == 0


def test_missing_folders_are_made_said_once_and_made_again_if_removed(
        tmp_path: Path, fast_retry: None) -> None:
    folder = tmp_path / "runs" / uuid.uuid4().hex
    path = folder / "run.jsonl"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logger = Logger(path, run_name="late")  # nothing made beforehand
        assert _train(logger, 1, 3) == 3
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700  # only the user's
        assert stat.S_IMODE((tmp_path / "runs").stat().st_mode) == 0o700
        shutil.rmtree(tmp_path / "runs")  # a cleanup job mid-run
        time.sleep(0.1)
        _train(logger, 4, 40)
        logger.close()
    messages = _logger_warnings(caught)
    assert sum("created the folder" in m for m in messages) == 1, messages
    history = read_history(path)
    assert history.run_name == "late"
    assert list(history.epochs.index)[-3:] == [38, 39, 40]
    shutil.rmtree(tmp_path / "runs")
