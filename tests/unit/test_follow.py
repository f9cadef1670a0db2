"""The file follower on real files: odd-sized appends, truncation, rotation, deletion.

Most tests drive ``FileFollower.check_now()`` synchronously after each file operation, so they
can assert the state after every step without sleeping; the threaded tests check that real
inotify events (and, without them, the poll) deliver appends promptly and that no thread leaks.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstm_top.format import encode_end, encode_epoch, encode_header
from lstm_top.history import History
from lstm_top.sources.base import (
    DELETED,
    ENDED,
    LIVE,
    WAITING,
    SourceUpdate,
    display_state,
)
from lstm_top.sources.follow import READ_GAP_S, ROTATION_QUIET_S, FileFollower
from lstm_top.sources.formats import read_history
from tests.waiting import poll_until

# The threaded tests that give the follower a 30 s poll: a line read within PROMPTLY_S was
# told by a file event (milliseconds here; more on a loaded machine, never the poll).
EVENTS_ONLY_POLL_S = 30.0
PROMPTLY_S = 5.0


def header(run: str = "ünïcode-run ✓", started: float = 1000.0) -> bytes:
    return encode_header(run, started, {"note": "λ → ∞ 测试"}).encode()


def epoch(number: int, loss: float | None = None) -> bytes:
    metrics = {"loss": 1.0 / number if loss is None else loss, "val_loss": 2.0 / number,
               "ß_métrique": float(number)}
    return encode_epoch(number, 1000.0 + number, metrics).encode()


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data)


def epochs_of(follower: FileFollower) -> list[int]:
    with follower.history.lock:
        return [int(e) for e in follower.history.epochs.index]


class Recorder:
    def __init__(self) -> None:
        self.updates: list[SourceUpdate] = []

    def __call__(self, update: SourceUpdate) -> None:
        self.updates.append(update)

    @property
    def added(self) -> int:
        return sum(u.added for u in self.updates)


def synchronous(path: Path) -> tuple[FileFollower, Recorder]:
    follower = FileFollower(str(path), use_events=False)
    recorder = Recorder()
    follower._on_update = recorder  # driven by check_now() in the test thread, no thread
    return follower, recorder


# ---------------------------------------------------------------------------- appends


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), max_piece=st.sampled_from([1, 2, 3, 7, 64, 500]))
def test_odd_sized_writes_read_every_record_once_and_never_half(tmp_path: Path, seed: int,
                                                                 max_piece: int) -> None:
    path = tmp_path / f"run-{seed}-{max_piece}.jsonl"
    records = [header()] + [epoch(n) for n in range(1, 31)]
    data = b"".join(records)
    line_ends = {i + 1 for i, byte in enumerate(data) if byte == 0x0A}
    follower, _ = synchronous(path)
    rng = random.Random(seed)
    written = 0
    path.touch()
    while written < len(data):
        piece = rng.randint(1, max_piece)
        append(path, data[written : written + piece])  # may split a UTF-8 character
        written = min(len(data), written + piece)
        follower.check_now()
        complete_lines = sum(1 for end in line_ends if end <= written)
        complete_epochs = max(0, complete_lines - 1)
        assert len(follower.history.epochs) == complete_epochs
    assert epochs_of(follower) == list(range(1, 31))
    assert follower.history.problem_count == 0
    assert follower.history.run_name == "ünïcode-run ✓"
    assert follower.history.config == {"note": "λ → ∞ 测试"}


def test_partial_line_waits_for_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    line = epoch(1)
    path.write_bytes(header() + line[:-10])
    follower, recorder = synchronous(path)
    follower.check_now()
    follower.check_now()
    assert len(follower.history.epochs) == 0
    assert follower.history.problem_count == 0
    append(path, line[-10:])
    follower.check_now()
    assert epochs_of(follower) == [1]
    assert recorder.added == 2  # header + epoch, each counted once


def test_reads_only_what_was_appended(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes(header() + b"".join(epoch(n) for n in range(1, 2001)))
    follower, _ = synchronous(path)
    follower.check_now()
    reads_after_backlog = follower.reads
    append(path, epoch(2001))
    follower.check_now()
    assert epochs_of(follower)[-1] == 2001
    assert follower.reads - reads_after_backlog == 1  # one small read, not the whole file again


# ---------------------------------------------------------------------------- tail -F cases


def test_waits_for_a_file_that_does_not_exist_yet(tmp_path: Path) -> None:
    path = tmp_path / "later.jsonl"
    follower, recorder = synchronous(path)
    follower.check_now()
    assert follower.state == WAITING
    assert "waiting" in (follower.message or "")
    assert display_state(follower) == "waiting"
    path.write_bytes(header() + epoch(1))
    follower.check_now()
    assert follower.state == LIVE and follower.message is None
    assert epochs_of(follower) == [1]
    assert recorder.updates[-1].state == LIVE


def test_truncated_then_a_new_run_starts_a_new_history(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes(header("first", 1.0) + epoch(1) + epoch(2))
    follower, recorder = synchronous(path)
    follower.check_now()
    first_history = follower.history
    with open(path, "wb"):  # truncate in place (open "w"), as a restarted script does
        pass
    follower.check_now()
    assert first_history is follower.history  # nothing to decide on yet
    append(path, header("second", 2.0) + epoch(1))
    follower.check_now()
    assert follower.history is not first_history
    assert [u.new_run for u in recorder.updates].count(True) == 1
    assert [int(e) for e in first_history.epochs.index] == [1, 2]  # the old run is kept
    assert epochs_of(follower) == [1] and follower.history.run_name == "second"


def test_truncated_without_a_new_header_continues_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes(header() + epoch(1) + epoch(2))
    follower, recorder = synchronous(path)
    follower.check_now()
    path.write_bytes(epoch(3))  # copytruncate-style: the rest of the run in an emptied file
    follower.check_now()
    assert epochs_of(follower) == [1, 2, 3]
    assert "truncated" in (follower.message or "")
    assert not any(u.new_run for u in recorder.updates)


def test_rotation_reads_the_old_tail_then_follows_the_new_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Switch as soon as the old file is drained (by default it must also be quiet for 1.5 s:
    # tests/functional/test_hostile_inputs.py::test_move_and_create_rotation_loses_nothing).
    monkeypatch.setattr("lstm_top.sources.follow.ROTATION_QUIET_S", 0.0)
    path = tmp_path / "run.jsonl"
    path.write_bytes(header("old", 1.0) + epoch(1))
    follower, recorder = synchronous(path)
    follower.check_now()
    old_history = follower.history
    append(path, epoch(2))  # written just before the rotation, not yet seen
    os.rename(path, tmp_path / "run.jsonl.1")
    path.write_bytes(header("new", 2.0) + epoch(1))
    follower.check_now()
    assert [int(e) for e in old_history.epochs.index] == [1, 2]
    assert follower.history is not old_history and follower.history.run_name == "new"
    assert epochs_of(follower) == [1]
    assert recorder.updates[-1].history is follower.history
    append(path, epoch(2))
    follower.check_now()
    assert epochs_of(follower) == [1, 2]


def test_a_file_moved_away_is_read_to_its_end_and_said_moved(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes(header() + epoch(1) + epoch(2))
    follower, _ = synchronous(path)
    follower.check_now()
    moved = tmp_path / "run.jsonl.1"
    path.rename(moved)
    follower.check_now()  # a rotation, perhaps: its writer may still append to the moved file
    with moved.open("ab") as handle:
        handle.write(epoch(3))
    follower.check_now()
    assert epochs_of(follower) == [1, 2, 3]
    time.sleep(ROTATION_QUIET_S + 0.2)  # quiet, and no new file came: it was moved for good
    follower.check_now()
    assert follower.state == DELETED, follower.message
    assert "moved away; keeping the 3 epochs read" in (follower.message or "")


def test_deleted_keeps_what_was_read_and_the_same_run_recreated_continues(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes(header() + epoch(1) + epoch(2))
    follower, _ = synchronous(path)
    follower.check_now()
    path.unlink()
    follower.check_now()
    assert follower.state == DELETED and "deleted" in (follower.message or "")
    assert display_state(follower) == "deleted"
    assert epochs_of(follower) == [1, 2]
    history = follower.history
    # The Logger recreates a deleted file with the same header and goes on.
    path.write_bytes(header() + epoch(3))
    follower.check_now()
    assert follower.history is history
    assert epochs_of(follower) == [1, 2, 3]
    assert follower.state == LIVE
    assert history.headers_seen == 1  # the repeated header is not a second run


def test_an_identical_copy_replacing_the_file_is_not_read_twice(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    content = header() + epoch(1) + epoch(2)
    path.write_bytes(content + epoch(3)[:20])  # and a partial line pending
    follower, recorder = synchronous(path)
    follower.check_now()
    copy = tmp_path / ".run.jsonl.swp"
    copy.write_bytes(content + epoch(3) + epoch(4))  # an editor saves its buffer, then renames
    os.replace(copy, path)
    follower.check_now()
    assert epochs_of(follower) == [1, 2, 3, 4]
    assert not any(u.new_run for u in recorder.updates)
    assert follower.history.problem_count == 0


def test_end_record_makes_it_ended_and_finished(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes(header() + epoch(1) + encode_end("crashed", 1002.0, "boom").encode())
    follower, _ = synchronous(path)
    follower.check_now()
    assert follower.state == ENDED
    assert display_state(follower) == "crashed"


# ---------------------------------------------------------------------------- the thread


def test_inotify_delivers_appends_promptly_in_coalesced_updates(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes(header())
    recorder = Recorder()
    # A poll interval far beyond the waits below: only a file event can explain a quick update.
    follower = FileFollower(str(path), poll_interval=EVENTS_ONLY_POLL_S)
    follower.start(recorder)
    try:
        assert poll_until(lambda: follower.state == LIVE)
        latencies = []
        for n in range(1, 21):
            started = time.monotonic()
            append(path, epoch(n))
            assert poll_until(lambda n=n: len(follower.history.epochs) == n,
                              timeout=PROMPTLY_S)
            latencies.append(time.monotonic() - started)
        # Milliseconds here; the median stays far below the poll on a loaded machine too.
        assert sorted(latencies)[10] < 0.5, latencies
        updates_before = len(recorder.updates)
        append(path, b"".join(epoch(n) for n in range(21, 1021)))  # one burst of 1000 lines
        assert poll_until(lambda: len(follower.history.epochs) == 1020)
        burst_updates = len(recorder.updates) - updates_before
        assert 1 <= burst_updates <= 5  # one update per read batch, not one per record
    finally:
        follower.stop()
    assert epochs_of(follower) == list(range(1, 1021))


def test_without_events_the_poll_still_finds_appends(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes(header())
    follower = FileFollower(str(path), poll_interval=0.2, use_events=False)
    follower.start(Recorder())
    try:
        assert poll_until(lambda: follower.state == LIVE)
        append(path, epoch(1))
        started = time.monotonic()
        assert poll_until(lambda: len(follower.history.epochs) == 1)
        assert time.monotonic() - started < 0.2 + 1.0  # the next poll, and a margin
    finally:
        follower.stop()


def test_stop_joins_every_thread_it_started(tmp_path: Path) -> None:
    before = {t.ident for t in threading.enumerate()}
    followers = [FileFollower(str(tmp_path / f"run{i}.jsonl")) for i in range(3)]
    followers.append(FileFollower(str(tmp_path / "missing-dir" / "run.jsonl")))
    for follower in followers:
        follower.start(Recorder())
    (tmp_path / "run0.jsonl").write_bytes(header() + epoch(1))
    assert poll_until(lambda: len(followers[0].history.epochs) == 1)
    assert len(threading.enumerate()) > len(before)
    for follower in followers:
        follower.stop()
    assert poll_until(lambda: {t.ident for t in threading.enumerate()} <= before), \
        [t.name for t in threading.enumerate()]


@contextmanager
def _unwatched_during_each_schedule(events: Any, handle: Any) -> Iterator[None]:
    """While inside: each watch ``events`` schedules is scheduled just as another thread
    unwatches ``handle`` (its last watch: the shared observer is stopped), joined on leaving."""
    original = events._schedule
    stoppers: list[threading.Thread] = []

    def schedule_while_the_observer_stops(observer, directory, recursive):
        stopper = threading.Thread(target=events.unwatch, args=(handle,))
        stopper.start()
        stoppers.append(stopper)
        # Where nothing holds the stop back, the observer is told to stop now while its thread
        # lives on: the window. (Held back, this waits in vain and the stop comes after.)
        poll_until(lambda: observer.stopped_event.is_set(), timeout=0.5)
        return original(observer, directory, recursive)

    events._schedule = schedule_while_the_observer_stops
    try:
        yield
    finally:
        events._schedule = original
        for stopper in stoppers:
            stopper.join()


def test_an_unmute_racing_the_last_unwatch_leaves_no_watch_thread(tmp_path: Path) -> None:
    """A follower unmutes its folder's watch (its run slowed down) while another thread stops
    the last follower, which stops the shared observer. watchdog's observer thread lives on
    for up to a second after stop(); a watch scheduled then got an emitter thread nothing ever
    stopped (a viewer quitting with thousands of files left one behind on CI)."""
    from lstm_top.sources.watcher import SharedEvents

    before = set(threading.enumerate())
    events = SharedEvents()
    handle = events.watch(str(tmp_path), lambda path: None)
    assert handle is not None
    events.mute(handle)  # its only handle muted: the folder's watch is dropped
    with _unwatched_during_each_schedule(events, handle):
        events.unmute(handle)
    assert poll_until(lambda: set(threading.enumerate()) <= before), \
        [type(t).__name__ for t in set(threading.enumerate()) - before]


def test_a_tree_unwatch_racing_the_last_follower_leaves_no_watch_thread(tmp_path: Path) -> None:
    """A folder of runs stops watching its tree while its last follower stops: the tree's
    unwatch gives the follower's folder a watch of its own just as the follower's unwatch stops
    the observer. (That path already took back a watch whose folder had gone meanwhile; this
    keeps it so under the lock that now orders scheduling and stopping.)"""
    from lstm_top.sources.watcher import SharedEvents

    inner = tmp_path / "run-1"
    inner.mkdir()
    before = set(threading.enumerate())
    events = SharedEvents()
    tree = events.watch_tree(str(tmp_path), lambda path: None)
    follower = events.watch(str(inner), lambda path: None)  # covered: no watch of its own
    assert tree is not None and follower is not None
    with _unwatched_during_each_schedule(events, follower):
        events.unwatch(tree)
    assert poll_until(lambda: set(threading.enumerate()) <= before), \
        [type(t).__name__ for t in set(threading.enumerate()) - before]


@pytest.mark.parametrize("rounds", [3])
def test_rotation_delete_recreate_under_a_live_thread(tmp_path: Path, rounds: int) -> None:
    """Every operation at once, with the real thread and events: each record exactly once."""
    path = tmp_path / "run.jsonl"
    recorder = Recorder()
    follower = FileFollower(str(path), poll_interval=0.1)
    follower.start(recorder)
    try:
        path.write_bytes(header())
        expected = []
        number = 0
        for round_number in range(rounds):
            for _ in range(5):
                number += 1
                append(path, epoch(number))
                expected.append(number)
            assert poll_until(lambda: epochs_of(follower) == expected), epochs_of(follower)
            if round_number % 2 == 0:
                path.unlink()
                assert poll_until(lambda: follower.state == DELETED)
                path.write_bytes(header())  # the same run recreates its file
            else:
                os.rename(path, tmp_path / f"old{round_number}.jsonl")
                path.write_bytes(header())
        assert poll_until(lambda: follower.state == LIVE)
        assert epochs_of(follower) == expected
        assert not any(u.new_run for u in recorder.updates)
    finally:
        follower.stop()


def test_the_folder_deleted_and_recreated_is_followed_again(tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "runs"
    folder.mkdir()
    path = folder / "run.jsonl"
    path.write_bytes(header("one", 1.0) + epoch(1))
    follower = FileFollower(str(path), poll_interval=0.2)
    follower.start(Recorder())
    try:
        assert poll_until(lambda: epochs_of(follower) == [1])
        shutil.rmtree(folder)
        assert poll_until(lambda: follower.state == DELETED)
        folder.mkdir()
        path.write_bytes(header("two", 2.0) + epoch(1) + epoch(2))
        assert poll_until(lambda: follower.history.run_name == "two")
        assert poll_until(lambda: epochs_of(follower) == [1, 2])
        append(path, epoch(3))
        assert poll_until(lambda: epochs_of(follower) == [1, 2, 3])
    finally:
        follower.stop()


# ---------------------------------------------------------------------------- a large backlog


def test_a_large_file_shows_its_newest_part_first_then_the_whole_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lstm_top.sources.follow as follow

    # The thresholds scaled down (the real ones are megabytes) so the file stays small.
    monkeypatch.setattr(follow, "TAIL_FIRST_BYTES", 200_000)
    monkeypatch.setattr(follow, "TAIL_PREVIEW_BYTES", 20_000)
    monkeypatch.setattr(follow, "READ_CHUNK_BYTES", 32_768)
    monkeypatch.setattr(follow, "PROGRESS_INTERVAL_S", 0.0)
    path = tmp_path / "big.jsonl"
    count = 4000
    path.write_bytes(header() + b"".join(epoch(n) for n in range(1, count + 1)))
    assert path.stat().st_size > 200_000
    follower = FileFollower(str(path), use_events=False)
    seen: list[tuple[History, float | None, list[int]]] = []

    def record(update: SourceUpdate) -> None:
        with update.history.lock:
            shown = [int(e) for e in update.history.epochs.index]
        seen.append((update.history, update.source.loading, shown))

    follower._on_update = record
    follower.check_now()
    preview, loading, first = seen[0]
    assert loading == 0.0
    assert first[-1] == count and 1 < first[0] < count  # the newest epochs, not the oldest
    assert first == list(range(first[0], count + 1))
    assert preview.run_name == "ünïcode-run ✓"  # the header was read for the preview too
    during = [fraction for history, fraction, _ in seen[1:-1]]
    assert during and all(0 < f < 1 for f in during) and during == sorted(during)
    assert all(history is preview for history, _, _ in seen[:-1])
    whole, loading, shown = seen[-1]
    assert loading is None and whole is not preview and whole is follower.history
    assert shown == list(range(1, count + 1))  # every record, once
    append(path, epoch(count + 1))
    follower.check_now()
    assert epochs_of(follower)[-2:] == [count, count + 1]


def test_a_small_file_is_read_whole_at_once(tmp_path: Path) -> None:
    path = tmp_path / "small.jsonl"
    path.write_bytes(header() + b"".join(epoch(n) for n in range(1, 200)))
    follower, recorder = synchronous(path)
    follower.check_now()
    assert follower.loading is None
    assert [len(u.history.epochs) for u in recorder.updates] == [199]


def test_a_fast_run_is_polled_without_events_then_events_resume(tmp_path: Path) -> None:
    from lstm_top.sources.watcher import shared_events

    path = tmp_path / "run.jsonl"
    path.write_bytes(header())
    recorder = Recorder()
    follower = FileFollower(str(path), poll_interval=EVENTS_ONLY_POLL_S)  # events or busy poll
    follower.start(recorder)
    directory = str(tmp_path)

    def watched() -> bool:
        entry = shared_events._directories.get(directory)
        return entry is not None and entry.watch is not None

    stop = threading.Event()
    written = [0]

    def write() -> None:  # ~2,000 appends a second, one line per write, like Logger.log
        while not stop.is_set():
            written[0] += 1
            append(path, epoch(written[0]))
            time.sleep(0.0005)

    try:
        assert poll_until(lambda: follower.state == LIVE) and watched()
        writer = threading.Thread(target=write)
        writer.start()
        # Busy: the directory's inotify watch is dropped; the follower reads by polling.
        assert poll_until(lambda: not watched())
        updates_before, started = len(recorder.updates), time.monotonic()
        time.sleep(1.0)
        per_second = (len(recorder.updates) - updates_before) / (time.monotonic() - started)
        # Batches, not one per line, a look every READ_GAP_S.
        assert 5 <= per_second <= 1 / READ_GAP_S + 2, per_second
        stop.set()
        writer.join()
        assert poll_until(lambda: len(follower.history.epochs) == written[0])
        # Quiet again: events are back (the poll interval is 30 s, so only an event explains
        # a prompt read of the next line).
        assert poll_until(watched)
        append(path, epoch(written[0] + 1))
        assert poll_until(lambda: len(follower.history.epochs) == written[0] + 1,
                          timeout=PROMPTLY_S)
    finally:
        stop.set()
        follower.stop()
    assert epochs_of(follower) == list(range(1, written[0] + 2))


# ---------------------------------------------------------------------------- a last line
#                                                                              without "\n"


def test_a_last_line_without_newline_is_read_once_the_file_is_quiet(tmp_path: Path) -> None:
    """A script that writes ``"\\n".join(lines)`` (or a newline before each record): ``check``
    read its last epoch, the viewer never did. Real thread, real file events."""
    from lstm_top.sources.base import UNFINISHED_LINE_QUIET_S

    path = tmp_path / "history.jsonl"
    lines = [json.dumps({"epoch": e, "loss": 1.0 / e, "val_loss": 2.0 / e}) for e in (1, 2, 3)]
    path.write_text("\n".join(lines))  # no final newline
    written = time.time()
    recorder = Recorder()
    shown: list[tuple[float, int]] = []  # (when, epochs) at each update, as a viewer saw it

    def on_update(update: SourceUpdate) -> None:
        recorder(update)
        shown.append((time.time(), len(update.history.epochs)))

    follower = FileFollower(str(path), poll_interval=0.2)
    follower.start(on_update)
    try:
        # The history is filled before its update reaches the viewer: wait for both.
        assert poll_until(lambda: epochs_of(follower) == [1, 2, 3]
                          and any(epochs == 3 for _, epochs in shown))
        # The first look held the last line back; it came once the file had been quiet.
        assert shown[0][1] == 2
        assert next(when for when, epochs in shown if epochs == 3) - written \
            >= UNFINISHED_LINE_QUIET_S
        # The writer goes on, newline first: the line read stays as it was, once.
        append(path, b"\n" + json.dumps({"epoch": 4, "loss": 0.2, "val_loss": 0.4}).encode())
        assert poll_until(lambda: epochs_of(follower) == [1, 2, 3, 4], timeout=PROMPTLY_S + 3)
        history = follower.history
        assert history.problem_count == 0
        assert history.epochs.column("val_loss").tolist() == [2.0, 1.0, 2.0 / 3, 0.4]
        assert not any(u.new_run for u in recorder.updates)
    finally:
        follower.stop()
    assert read_history(path).epochs.index.tolist() == [1, 2, 3, 4]  # what check reads


def test_a_half_line_caught_mid_write_waits_then_completes_once(tmp_path: Path) -> None:
    """A writer paused mid-record for longer than the quiet time: the half line is neither a
    record nor a problem (it is not a whole JSON object), and once completed it is one epoch."""
    from lstm_top.sources.base import UNFINISHED_LINE_QUIET_S

    path = tmp_path / "run.jsonl"
    line = epoch(2)
    path.write_bytes(header() + epoch(1) + line[:25])
    recorder = Recorder()
    follower = FileFollower(str(path), poll_interval=0.2)
    follower.start(recorder)
    try:
        assert poll_until(lambda: epochs_of(follower) == [1])
        time.sleep(UNFINISHED_LINE_QUIET_S + 0.6)  # quiet, and looked at since
        assert epochs_of(follower) == [1] and follower.history.problem_count == 0
        append(path, line[25:])
        assert poll_until(lambda: epochs_of(follower) == [1, 2], timeout=PROMPTLY_S)
        append(path, epoch(3))
        assert poll_until(lambda: epochs_of(follower) == [1, 2, 3], timeout=PROMPTLY_S)
        assert follower.history.problem_count == 0
        assert recorder.added == 4  # header + three epochs, each once
    finally:
        follower.stop()


def _quiet(path: Path) -> None:
    from lstm_top.sources.base import UNFINISHED_LINE_QUIET_S

    before = time.time() - UNFINISHED_LINE_QUIET_S - 1
    os.utime(path, (before, before))


def test_a_line_that_looked_whole_but_went_on_is_read_again_as_it_is(tmp_path: Path) -> None:
    """A writer that paused after a whole object and then wrote more on the same line: the
    line is not that record after all. The run is read again (the same run, a new History):
    what the whole file says, as ``check`` reads it, with nothing read twice."""
    path = tmp_path / "run.jsonl"
    path.write_bytes(header() + epoch(1) + b'{"kind":"epoch","epoch":2,"metrics":{"loss":0.5}}')
    _quiet(path)
    follower, recorder = synchronous(path)
    follower.check_now()
    assert epochs_of(follower) == [1, 2]
    first = follower.history
    append(path, b' ,"extra": 1}\n' + epoch(3))
    follower.check_now()
    assert follower.history is not first and recorder.updates[-1].history is follower.history
    assert not any(u.new_run for u in recorder.updates)
    whole = read_history(path)
    assert epochs_of(follower) == whole.epochs.index.tolist() == [1, 3]
    assert follower.history.malformed_lines == whole.malformed_lines == 1
    assert [p.line for p in follower.history.problems] == [p.line for p in whole.problems] == [3]
    assert follower.history.run_name == "ünïcode-run ✓"


def test_an_unterminated_line_read_then_a_copy_ending_it_is_not_read_twice(
        tmp_path: Path) -> None:
    """The editor-save case with a last line that was read without its newline: the copy
    that adds the newline and more continues after it; later line numbers stay right."""
    path = tmp_path / "run.jsonl"
    content = header() + epoch(1) + epoch(2) + epoch(3)[:-1]
    path.write_bytes(content)
    _quiet(path)
    follower, recorder = synchronous(path)
    follower.check_now()
    assert epochs_of(follower) == [1, 2, 3]
    copy = tmp_path / ".run.jsonl.swp"
    copy.write_bytes(content + b"\n" + epoch(4) + b"not json\n")
    os.replace(copy, path)
    follower.check_now()
    assert epochs_of(follower) == [1, 2, 3, 4]
    assert not any(u.new_run for u in recorder.updates)
    assert [p.line for p in follower.history.problems] == [6]
    assert [p.line for p in read_history(path).problems] == [6]


def test_a_deleted_file_with_a_whole_last_line_recreated_by_a_copy_reads_it_once(
        tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    content = header() + epoch(1) + epoch(2)[:-1]
    path.write_bytes(content)
    follower, _ = synchronous(path)
    follower.check_now()
    assert epochs_of(follower) == [1]  # just written: the last line may be mid-write
    path.unlink()
    follower.check_now()
    assert follower.state == DELETED and epochs_of(follower) == [1, 2]  # never to grow now
    path.write_bytes(content + b"\n" + epoch(3))
    follower.check_now()
    assert epochs_of(follower) == [1, 2, 3]
    assert follower.history.problem_count == 0
