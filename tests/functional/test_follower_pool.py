"""A sweep's runs followed by one pooled thread under one recursive watch (real files, real
inotify events through watchdog, real threads)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from lstm_top import Logger
from lstm_top.sources.directory import DirectoryWatcher
from lstm_top.sources.follow import FileFollower
from lstm_top.sources.pool import FollowerPool
from lstm_top.sources.watcher import SharedEvents, shared_events
from tests.waiting import poll_until

RUNS = 300


def _write_runs(folder: Path, runs: int, epochs: int = 3) -> list[Path]:
    """Runs still training: a header and some epochs as the Logger writes them, no end."""
    paths = []
    for index in range(runs):
        path = folder / f"trial_{index:04d}" / "run.jsonl"
        path.parent.mkdir(parents=True)
        lines = [json.dumps({"kind": "header", "format": "lstm-top", "version": 1,
                             "run": f"trial_{index:04d}", "started": 1.0})]
        lines += [json.dumps({"kind": "epoch", "epoch": epoch, "time": 1.0 + epoch,
                              "metrics": {"loss": 1.0 / epoch, "val_loss": 1.1 / epoch}})
                  for epoch in range(1, epochs + 1)]
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths


def _emitters() -> int:
    return sum(1 for thread in threading.enumerate() if "Emitter" in type(thread).__name__)


def test_a_pool_follows_300_runs_with_one_thread_and_one_watch(tmp_path: Path) -> None:
    folder = tmp_path / "sweep"
    paths = _write_runs(folder, RUNS)
    tree = shared_events.watch_tree(str(folder), lambda path: None)
    assert tree is not None
    pool = FollowerPool(name="test-pool")
    threads_before, emitters_before = threading.active_count(), _emitters()
    followers = []
    for path in paths:
        follower = FileFollower(str(path), poll_interval=60.0)  # events only, in this test
        follower.pool = pool
        follower.start(lambda update: None)
        followers.append(follower)
    try:
        assert poll_until(lambda: all(len(f.history.epochs) == 3 for f in followers), 30)
        assert all(f.state == "live" for f in followers)
        # One pool thread; no watchdog emitter per run folder (the tree's watch serves them).
        assert threading.active_count() - threads_before <= 1
        assert _emitters() == emitters_before
        # A record appended to one run reaches its follower through the tree's events (its
        # poll is a minute away).
        with open(paths[-1], "a") as handle:
            handle.write('{"kind":"epoch","epoch":4,"time":5.0,"metrics":{"loss":0.2}}\n')
        assert poll_until(lambda: len(followers[-1].history.epochs) == 4)
        assert followers[-1].history.epochs.index.tolist() == [1, 2, 3, 4]
    finally:
        for follower in followers:
            follower.stop()
        shared_events.unwatch(tree)
    # Stopped followers are let go and their files closed at the pool's next turn.
    assert poll_until(lambda: pool.followers == 0)
    assert all(f._fd is None for f in followers)


def test_an_idle_pool_costs_nothing_between_polls(tmp_path: Path) -> None:
    paths = _write_runs(tmp_path / "sweep", 100, epochs=2)
    pool = FollowerPool(name="idle-pool")
    followers = []
    for path in paths:
        follower = FileFollower(str(path), poll_interval=30.0, use_events=False)
        follower.pool = pool
        follower.start(lambda update: None)
        followers.append(follower)
    try:
        assert poll_until(lambda: pool.looks >= 100, 20)
        looks = pool.looks
        time.sleep(1.0)
        assert pool.looks == looks  # nothing due, nothing poked: the thread sleeps
    finally:
        for follower in followers:
            follower.stop()


def test_a_folder_inside_a_watched_tree_needs_no_watch_of_its_own(tmp_path: Path) -> None:
    events = SharedEvents()
    inner = tmp_path / "runs" / "trial_0"
    inner.mkdir(parents=True)
    seen_by_tree: list[str] = []
    seen_by_folder: list[str] = []
    tree = events.watch_tree(str(tmp_path / "runs"), seen_by_tree.append)
    emitters = _emitters()
    folder = events.watch(str(inner), seen_by_folder.append)
    try:
        assert folder is not None and _emitters() == emitters
        (inner / "run.jsonl").write_text("{}\n")
        target = str(inner / "run.jsonl")
        assert poll_until(lambda: target in seen_by_folder and target in seen_by_tree)
        # The tree's watch goes: the folder gets one of its own and keeps its events.
        events.unwatch(tree)
        seen_by_folder.clear()
        with open(inner / "run.jsonl", "a") as handle:
            handle.write("{}\n")
        assert poll_until(lambda: target in seen_by_folder)
    finally:
        events.unwatch(folder)
    assert poll_until(lambda: events._observer is None)


def test_a_directory_watcher_finds_new_runs_deep_in_its_tree_by_events(tmp_path: Path) -> None:
    folder = tmp_path / "sweep"
    _write_runs(folder, 5)
    found: list[str] = []
    watcher = DirectoryWatcher(str(folder), poll_interval=60.0)  # only events can tell
    watcher.start(found.append)
    try:
        assert poll_until(lambda: len(found) == 5)
        deep = folder / "group_b" / "trial_new"
        deep.mkdir(parents=True)
        started = time.monotonic()
        logger = Logger(deep / "run.jsonl", run_name="new")
        logger.log(epoch=1, loss=1.0)
        assert poll_until(lambda: str(deep / "run.jsonl") in found)
        # Milliseconds here; a few seconds on a loaded machine; the poll would take 60 s.
        assert time.monotonic() - started < 10.0
        # Appends to runs already reported do not start walks of the tree.
        time.sleep(1.0)  # the walks the new folder's and file's events asked for are done
        walks = watcher.walks
        for path in sorted(folder.glob("trial_*/run.jsonl")):
            with open(path, "a") as handle:
                handle.write("\n")
        time.sleep(1.0)
        assert watcher.walks == walks
        logger.close()
    finally:
        watcher.stop()
    assert os.path.isdir(folder)


def test_other_formats_are_pooled_too(tmp_path: Path) -> None:
    """A sweep of Keras CSVLogger runs (the real logger's bytes, copied into 100 trial
    folders) is followed by the pool's one thread, and an appended row is seen by events."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    from lstm_top.sources.formats import KERAS_CSV, classify
    from lstm_top.sources.snapshot import SnapshotFollower
    from lstm_top.ui.runs import RunBook

    written = tmp_path / "training.log"
    x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, x[:, :1], validation_split=0.25, epochs=3, verbose=0,
              callbacks=[keras.callbacks.CSVLogger(str(written))])
    header, *rows = written.read_text().splitlines()
    folder = tmp_path / "sweep"
    paths = []
    for index in range(100):
        path = folder / f"trial_{index:03d}" / "training.log"
        path.parent.mkdir(parents=True)
        path.write_text("\n".join([header, *rows]) + "\n")
        paths.append(path)
    assert classify(str(paths[0])) is KERAS_CSV
    tree = shared_events.watch_tree(str(folder), lambda path: None)
    pool = FollowerPool(name="csv-pool")
    threads_before = threading.active_count()
    book = RunBook()
    followers = []
    for path in paths:
        follower = KERAS_CSV.follow(str(path))
        assert isinstance(follower, SnapshotFollower)
        follower.poll_interval = 60.0  # events only, in this test
        book.add(str(path), follower, in_sweep=True)  # as the viewer adds a sweep's runs
        assert follower.pool is FollowerPool.shared()
        follower.pool = pool  # this test's own pool, to count its looks
        follower.start(lambda update: None)
        followers.append(follower)
    try:
        assert poll_until(lambda: all(len(f.history.epochs) == 3 for f in followers), 30)
        assert threading.active_count() - threads_before <= 1
        fields = rows[-1].split(",")
        fields[0] = "3"  # the next epoch, as CSVLogger appends it
        with open(paths[7], "a") as handle:
            handle.write(",".join(fields) + "\n")
        assert poll_until(lambda: len(followers[7].history.epochs) == 4)
        assert followers[7].history.epochs.index.tolist() == [0, 1, 2, 3]
    finally:
        for follower in followers:
            follower.stop()
        shared_events.unwatch(tree)
    assert poll_until(lambda: pool.followers == 0)


def test_watching_and_unwatching_while_events_arrive_never_deadlocks(tmp_path: Path) -> None:
    # watchdog holds its observer's lock while it hands us an event (and our dispatch takes
    # our lock); watching and unwatching take ours and call into the observer. Done in the
    # other order, a watch and an event arriving together waited on each other for ever.
    events = SharedEvents()
    busy = tmp_path / "busy"
    busy.mkdir()
    keep = events.watch(str(busy), lambda path: None)  # the observer stays up throughout
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            with open(busy / "run.jsonl", "a") as handle:
                handle.write("{}\n")

    def churn() -> None:
        for index in range(200):
            folder = tmp_path / f"d{index % 5}"
            folder.mkdir(exist_ok=True)
            handle = events.watch(str(busy), lambda path: None)
            other = events.watch(str(folder), lambda path: None)
            events.unwatch(other)
            events.unwatch(handle)

    writer = threading.Thread(target=write, daemon=True)
    churner = threading.Thread(target=churn, daemon=True)
    writer.start()
    churner.start()
    churner.join(timeout=60)
    stop.set()
    writer.join(timeout=5)
    # (checked before anything else takes the lock a deadlocked churner would hold)
    assert not churner.is_alive(), "watch/unwatch deadlocked against event dispatch"
    events.unwatch(keep)
    assert poll_until(lambda: events._observer is None)
