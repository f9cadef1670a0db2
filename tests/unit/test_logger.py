"""The Logger on a healthy disk: what it writes, how a run ends, concurrency, ranks.

Faults (full disk, read-only, deleted file, SIGKILL) are in tests/functional/test_logger_faults.py.
"""

from __future__ import annotations

import json
import threading
import warnings
from pathlib import Path

import pytest

from lstm_top import Logger, LoggerWarning
from lstm_top.format import EndRecord, EpochRecord, Header, StepRecord, decode_line
from lstm_top.sources.formats import read_history


def _records(path: Path) -> list:
    return [decode_line(line) for line in path.read_bytes().split(b"\n") if line]


def test_header_epochs_steps_end(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    logger = Logger(path, config={"lr": 0.001, "batch_size": 32})
    logger.log(epoch=1, loss=0.9, val_loss=1.0)
    logger.log(step=10, epoch=1, loss=0.8)
    logger.log(loss=0.7, val_loss=0.9)  # no epoch given: the next one
    logger.close()
    logger.close()  # idempotent: a second end record would confuse readers
    logger.log(epoch=9, loss=0.0)  # after close: ignored, no error
    records = _records(path)
    assert [type(r) for r in records] == [Header, EpochRecord, StepRecord, EpochRecord,
                                          EndRecord]
    header = records[0]
    assert header.run == "run" and header.config == {"lr": 0.001, "batch_size": 32}
    assert [r.epoch for r in records if isinstance(r, EpochRecord)] == [1, 2]
    assert records[-1].status == "completed"


def test_context_manager_records_crash_and_interrupt(tmp_path: Path) -> None:
    crashed = tmp_path / "crashed.jsonl"
    with pytest.raises(ValueError), Logger(crashed) as logger:
        logger.log(epoch=1, loss=1.0)
        raise ValueError("shapes do not match")
    end = _records(crashed)[-1]
    assert (end.status, end.error) == ("crashed", "ValueError: shapes do not match")

    interrupted = tmp_path / "interrupted.jsonl"
    with pytest.raises(KeyboardInterrupt), Logger(interrupted) as logger:
        logger.log(epoch=1, loss=1.0)
        raise KeyboardInterrupt
    assert _records(interrupted)[-1].status == "interrupted"


def test_unencodable_metric_does_not_raise(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    with Logger(path) as logger:
        logger.log(epoch=1, loss=0.5, note="not a number", weird=object())
    epoch = _records(path)[1]
    # Unconvertible values become missing; the numbers of the same record survive.
    assert epoch.metrics == {"loss": 0.5}


def test_appending_after_a_killed_writer_starts_a_fresh_line(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes(b'{"kind":"epoch","epoch":1,"metrics":{"loss":1}}\n{"kind":"epoch","ep')
    with Logger(path) as logger:
        logger.log(epoch=2, loss=0.5)
    history = read_history(path)
    assert list(history.epochs.index) == [1, 2]
    assert history.malformed_lines == 1  # only the half line itself


def test_threads_logging_concurrently_write_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "threads.jsonl"
    threads_count, per_thread = 8, 400
    logger = Logger(path)
    # Long records make an interleaved write visible: each is several hundred bytes.
    payload = {f"metric_{i:02d}": i * 0.123456789 for i in range(20)}
    barrier = threading.Barrier(threads_count)

    def work(thread_id: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            logger.log(step=thread_id * per_thread + i, thread=thread_id, **payload)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads_count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    logger.close()
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    parsed = [json.loads(line) for line in lines[:-1]]  # raises on any torn line
    steps = sorted(p["step"] for p in parsed if p["kind"] == "step")
    assert steps == list(range(threads_count * per_thread))


def test_only_rank_zero_writes_unless_per_rank(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "1")
    shared = tmp_path / "run.jsonl"
    with Logger(shared) as logger:
        logger.log(epoch=1, loss=1.0)
    assert not shared.exists()
    with Logger(shared, per_rank=True) as logger:
        logger.log(epoch=1, loss=1.0)
    assert (tmp_path / "run.rank1.jsonl").exists() and not shared.exists()


def test_warnings_as_errors_still_do_not_raise(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    missing = tmp_path / "a-file" / "dir" / "run.jsonl"  # a folder that cannot be made
    with warnings.catch_warnings():
        warnings.simplefilter("error", LoggerWarning)
        logger = Logger(missing)
        logger.log(epoch=1, loss=1.0)
        logger.close()
    assert not missing.exists()


def test_a_write_failure_warning_points_at_the_training_scripts_line(tmp_path: Path) -> None:
    """The user reads "train.py:42: LoggerWarning ...", not a line inside lstm-top."""
    with pytest.warns(LoggerWarning) as opened:
        logger = Logger(tmp_path / "missing-folder" / "run.jsonl")  # "created the folder"
    assert opened[0].filename == __file__
    with pytest.warns(LoggerWarning) as logged:
        broken = Logger("/dev/full", special_files=True)
        broken.log(epoch=1, loss=1.0)
    assert logged[0].filename == __file__
    logger.close()
    broken.close()
