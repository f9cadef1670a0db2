"""Watching a real folder: existing history files first, new ones as they appear, others never."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from lstm_top.format import encode_epoch, encode_header
from lstm_top.hook.logger import Logger
from lstm_top.sources.directory import DirectoryWatcher, looks_like_history
from tests.waiting import poll_until

# With this poll interval only a file event explains a run reported within PROMPTLY_S
# (milliseconds here; a loaded machine takes longer to schedule the watching thread).
EVENTS_ONLY_POLL_S = 30.0
PROMPTLY_S = 5.0


def write_histories(folder: Path) -> None:
    (folder / "a.jsonl").write_text(encode_header("a", 1.0) + encode_epoch(1, 2.0, {"loss": 1}))
    (folder / "b.csv").write_text("epoch,loss,val_loss\n0,1.0,1.1\n")
    (folder / "c.json").write_text(json.dumps({"loss": [1.0, 0.5], "val_loss": [1.1, 0.6]}))
    (folder / "flat.jsonl").write_text('{"epoch": 1, "loss": 0.3}\n')


def write_others(folder: Path) -> None:
    (folder / "package.json").write_text(json.dumps({"name": "x", "version": "1"}))
    (folder / "people.csv").write_text("name,city\nada,london\n")
    (folder / "notes.txt").write_text("epoch 1 loss 0.3\n")
    (folder / "garbage.jsonl").write_text("not json at all\n")
    (folder / "sub").mkdir()
    (folder / "sub" / "nested.jsonl").write_text(encode_header("n", 1.0))


def test_existing_histories_are_reported_first_and_others_never(tmp_path: Path) -> None:
    write_histories(tmp_path)
    write_others(tmp_path)
    reported: list[str] = []
    watcher = DirectoryWatcher(str(tmp_path))
    watcher.start(reported.append)
    try:
        assert poll_until(lambda: len(reported) == 5)
        time.sleep(0.3)  # nothing else trickles in
    finally:
        watcher.stop()
    # Subfolders are searched too (runs/<sweep>/<trial>/...).
    assert [os.path.relpath(p, tmp_path) for p in reported] == [
        "a.jsonl", "b.csv", "c.json", "flat.jsonl", os.path.join("sub", "nested.jsonl")]


def test_a_new_run_appears_promptly_once_its_first_line_is_written(tmp_path: Path) -> None:
    reported: list[str] = []
    watcher = DirectoryWatcher(str(tmp_path), poll_interval=EVENTS_ONLY_POLL_S)
    watcher.start(reported.append)
    try:
        assert poll_until(lambda: watcher.walks >= 1)  # watching (its first walk is done)
        empty = tmp_path / "starting.jsonl"
        empty.touch()  # a file with no line yet is not (yet) a history
        time.sleep(0.3)
        assert reported == []
        started = time.monotonic()
        with open(empty, "a") as handle:
            handle.write(encode_header("starting", 1.0))
        assert poll_until(lambda: len(reported) == 1, timeout=PROMPTLY_S)
        assert time.monotonic() - started < PROMPTLY_S
        logger = Logger(tmp_path / "real.jsonl")  # a real training script's logger
        logger.log(epoch=1, loss=0.5)
        assert poll_until(lambda: len(reported) == 2, timeout=PROMPTLY_S)
        logger.close()
        os.rename(tmp_path / "real.jsonl", tmp_path / "moved.jsonl")  # moved in: a new name
        assert poll_until(lambda: len(reported) == 3, timeout=PROMPTLY_S)
    finally:
        watcher.stop()
    assert [os.path.basename(p) for p in reported] == ["starting.jsonl", "real.jsonl",
                                                        "moved.jsonl"]


def test_the_poll_finds_new_files_without_events(tmp_path: Path) -> None:
    reported: list[str] = []
    watcher = DirectoryWatcher(str(tmp_path), poll_interval=0.1, use_events=False)
    watcher.start(reported.append)
    try:
        write_histories(tmp_path)
        assert poll_until(lambda: len(reported) == 4)
    finally:
        watcher.stop()


def test_a_folder_that_does_not_exist_yet_is_watched_once_it_does(tmp_path: Path) -> None:
    folder = tmp_path / "runs"
    reported: list[str] = []
    watcher = DirectoryWatcher(str(folder), poll_interval=0.1)
    watcher.start(reported.append)
    try:
        assert poll_until(lambda: watcher.error is not None)
        folder.mkdir()
        write_histories(folder)
        assert poll_until(lambda: len(reported) == 4)
        assert watcher.error is None
    finally:
        watcher.stop()


def test_stop_leaves_no_thread_behind(tmp_path: Path) -> None:
    before = {t.ident for t in threading.enumerate()}
    watchers = [DirectoryWatcher(str(tmp_path)) for _ in range(3)]
    for watcher in watchers:
        watcher.start(lambda path: None)
    write_histories(tmp_path)
    time.sleep(0.2)
    for watcher in watchers:
        watcher.stop()
    assert poll_until(lambda: {t.ident for t in threading.enumerate()} <= before), \
        [t.name for t in threading.enumerate()]


def test_looks_like_history_on_borderline_files(tmp_path: Path) -> None:
    keras_csv = tmp_path / "training.csv"
    keras_csv.write_text("epoch,accuracy,loss,val_accuracy,val_loss\n")
    assert looks_like_history(str(keras_csv))  # CSVLogger writes the header row first
    wrapped = tmp_path / "fit.json"
    wrapped.write_text(json.dumps({"history": {"loss": [1.0]}, "params": {}}))
    assert looks_like_history(str(wrapped))
    hidden = tmp_path / ".run.jsonl"
    hidden.write_text(encode_header("h", 1.0))
    assert not looks_like_history(str(hidden))  # editor swap files and the like
