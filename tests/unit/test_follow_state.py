"""``display_state``: what one word the user sees for a run, and ``open_source`` dispatch."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lstm_top.format import EndRecord, EpochRecord, Header
from lstm_top.history import History
from lstm_top.sources.base import (
    DELETED,
    DISCONNECTED,
    ENDED,
    LIVE,
    STALL_MIN_QUIET_S,
    STALL_NO_PACE_S,
    LiveSource,
    SourceError,
    SourceUpdate,
    display_state,
    stall_after_s,
)
from lstm_top.sources.follow import FileFollower
from lstm_top.sources.formats import read_csv
from lstm_top.sources.open import PendingSource, open_source
from lstm_top.sources.snapshot import SnapshotFollower
from lstm_top.sources.socket_client import SocketSource
from tests.waiting import poll_until

START = 1_700_000_000.0


def run_with_epochs(pace: float, count: int) -> History:
    history = History()
    history.apply(Header("r", START, {}, 1))
    for n in range(1, count + 1):
        history.apply(EpochRecord(n, START + n * pace, {"loss": 1.0 / n}))
    return history


def test_stalled_is_relative_to_the_runs_own_pace() -> None:
    slow = run_with_epochs(pace=120.0, count=10)  # two minutes an epoch
    last = START + 10 * 120.0
    assert display_state(slow, now=last + 300) == "live"  # 2.5 epochs of quiet: still normal
    assert display_state(slow, now=last + 361) == "stalled"  # more than 3 epochs: stalled
    fast = run_with_epochs(pace=1.0, count=10)
    last = START + 10.0
    assert display_state(fast, now=last + STALL_MIN_QUIET_S - 1) == "live"  # floor applies
    assert display_state(fast, now=last + STALL_MIN_QUIET_S + 1) == "stalled"


def test_one_epoch_uses_the_time_since_the_header_as_its_pace() -> None:
    history = run_with_epochs(pace=50.0, count=1)
    assert stall_after_s(history) == pytest.approx(150.0)


def test_a_header_alone_is_stalled_only_after_a_long_silence() -> None:
    history = History()
    history.apply(Header("r", START, {}, 1))
    assert display_state(history, now=START + 60) == "live"
    assert display_state(history, now=START + STALL_NO_PACE_S + 1) == "stalled"


@pytest.mark.parametrize(("status", "shown"), [("completed", "finished"),
                                               ("crashed", "crashed"),
                                               ("interrupted", "interrupted")])
def test_an_end_record_wins_over_everything(status: str, shown: str) -> None:
    history = run_with_epochs(pace=1.0, count=3)
    history.apply(EndRecord(status, START + 4, None))
    assert display_state(history, now=START + 1e6) == shown  # an ended run is never stalled
    source = _Idle("x")
    source.history = history
    for state in (DELETED, DISCONNECTED, LIVE):
        source.state = state
        assert display_state(source, now=START + 1e6) == shown


class _Idle(LiveSource):
    def _run(self) -> None:
        pass


def test_source_states_and_activity() -> None:
    source = _Idle("x")
    source.history = run_with_epochs(pace=10.0, count=5)
    source.state = DISCONNECTED
    assert display_state(source, now=START) == "disconnected"
    source.state = DELETED
    assert display_state(source, now=START) == "deleted"
    source.state = ENDED  # a finished CSV read whole
    assert display_state(source, now=START) == "finished"
    source.state = LIVE
    # Records stamped long ago but seen arriving just now (a clock-skewed writer): the
    # source's own observation of activity is what counts.
    source.last_activity = START + 10_000
    assert display_state(source, now=START + 10_010) == "live"
    assert display_state(source, now=START + 10_031) == "stalled"


def test_open_source_picks_the_right_reader(tmp_path: Path) -> None:
    csv = tmp_path / "training.csv"
    csv.write_text("epoch,loss,val_loss\n0,1.0,1.2\n1,0.5,0.9\n")
    jsonl = tmp_path / "run.jsonl"
    jsonl.write_text("")
    assert isinstance(open_source(str(csv)), SnapshotFollower)  # CSV is followed too
    assert isinstance(open_source(str(jsonl)), FileFollower)
    # An empty file whose name does not say what it will be waits for its first line.
    (tmp_path / "training.log").write_text("")
    assert isinstance(open_source(str(tmp_path / "training.log")), PendingSource)
    assert isinstance(open_source(str(tmp_path / "not-yet.jsonl")), FileFollower)
    assert isinstance(open_source("unix:/tmp/x.sock"), SocketSource)
    assert isinstance(open_source("tcp://127.0.0.1:7000"), SocketSource)
    with pytest.raises(SourceError):
        open_source("tcp://nohost")
    with pytest.raises(SourceError, match="folder"):
        open_source(str(tmp_path))


def test_a_csv_is_followed_and_grows(tmp_path: Path) -> None:
    csv = tmp_path / "training.csv"
    csv.write_text("epoch,loss,val_loss\n0,1.0,1.2\n1,0.5,0.9\n")
    source = open_source(str(csv))
    updates: list[SourceUpdate] = []
    source.start(updates.append)
    try:
        assert poll_until(lambda: len(source.history.epochs) == 2)
        assert source.state == LIVE
        with csv.open("a") as handle:
            handle.write("2,0.4,0.8\n3,0.3")  # the last row is not finished yet
        assert poll_until(lambda: len(source.history.epochs) == 3)
        time.sleep(0.3)
        assert list(source.history.epochs.index) == [0, 1, 2]  # the partial row waits
        with csv.open("a") as handle:
            handle.write(",0.7\n")
        assert poll_until(lambda: len(source.history.epochs) == 4)
        assert source.history.epochs.column("val_loss")[-1] == 0.7
    finally:
        source.stop()
    assert all(u.history is source.history for u in updates if u.added)
    assert display_state(source, now=time.time()) == "live"


def test_a_csv_without_a_final_newline_shows_its_last_row_once_quiet(tmp_path: Path) -> None:
    """A tool that writes no final newline (a public Keras history did): ``check`` read its
    last epoch, the viewer never did. A file quiet for 2 s has no line being written."""
    import os

    from lstm_top.sources.snapshot import UNFINISHED_LINE_QUIET_S

    csv = tmp_path / "history.csv"
    csv.write_text("epoch,loss,val_loss\n0,1.0,1.2\n1,0.5,0.9\n2,0.4,0.8")
    old = time.time() - 60
    os.utime(csv, (old, old))  # written a minute ago: finished
    source = SnapshotFollower(str(csv), read_csv)
    source.check_now()
    assert list(source.history.epochs.index) == [0, 1, 2]
    # Being written now: the unfinished row waits ...
    with csv.open("a") as handle:
        handle.write("\n3,0.3,0.")
    source.check_now()
    assert list(source.history.epochs.index) == [0, 1, 2]
    # ... and once the file has been quiet that long, it is the last row as it stands.
    quiet = time.time() - UNFINISHED_LINE_QUIET_S - 1
    os.utime(csv, (quiet, quiet))

    def look() -> int:  # reads are spaced out by their own cost: look until it is read
        source.check_now()
        return len(source.history.epochs)

    assert poll_until(lambda: look() == 4)
    assert list(source.history.epochs.index) == [0, 1, 2, 3]
    # A writer that only paused mid-row: the rest arrives, the row is read again, corrected.
    with csv.open("a") as handle:
        handle.write("75\n")
    assert poll_until(lambda: look() == 4 and source.history.epochs.column("val_loss")[-1]
                      == 0.75)


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_a_file_quiet_since_before_it_was_watched_is_not_growing(tmp_path: Path,
                                                                kind: str) -> None:
    """Opened days after it was written: "not growing" (a past run), whatever its pace; a row
    written while watched makes a later silence "stalled"."""
    import os

    path = tmp_path / f"run.{kind}"
    if kind == "csv":
        path.write_text("epoch,loss,val_loss\n0,1.0,1.2\n1,0.5,0.9\n")
        source: LiveSource = SnapshotFollower(str(path), read_csv)
    else:
        path.write_text('{"epoch": 1, "loss": 1.0}\n{"epoch": 2, "loss": 0.5}\n')
        source = FileFollower(str(path), use_events=False)
    written = time.time() - 3 * 86_400
    os.utime(path, (written, written))
    source.check_now()  # type: ignore[attr-defined]
    assert source.last_activity == pytest.approx(written)
    assert display_state(source) == "not growing"
    with path.open("a") as handle:
        handle.write("2,0.4,0.8\n" if kind == "csv" else '{"epoch": 3, "loss": 0.4}\n')

    def look() -> int:  # the snapshot follower spaces its reads out by their own cost
        source.check_now()  # type: ignore[attr-defined]
        return len(source.history.epochs)

    assert poll_until(lambda: look() == 3)
    assert display_state(source) == "live"
    assert display_state(source, now=time.time() + 3 * STALL_NO_PACE_S) == "stalled"


def test_a_column_that_appears_in_rows_already_read_is_shown(tmp_path: Path) -> None:
    """A second TensorBoard writer's first scalar lands on a step already read, a rewritten
    metrics.csv gains a column in its last row: no new row, yet the new values must show
    (they were dropped as 'same' while the old columns matched, so a val curve never came)."""
    csv = tmp_path / "metrics.csv"
    csv.write_text("epoch,loss\n1,1.0\n2,0.5\n3,0.33\n")
    source = SnapshotFollower(str(csv), read_csv)
    updates: list[SourceUpdate] = []
    source._on_update = updates.append  # (start() would also run its thread)
    source.check_now()
    assert source.history.epochs.names == ["loss"]
    csv.write_text("epoch,loss,val_loss\n1,1.0,\n2,0.5,\n3,0.33,2.0\n")

    def look() -> bool:  # the snapshot follower spaces its reads out by their own cost
        source.check_now()
        return "val_loss" in source.history.epochs.names

    assert poll_until(look)
    assert source.history.epochs.column("val_loss")[-1] == 2.0
    assert not any(update.new_run for update in updates)
