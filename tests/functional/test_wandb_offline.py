"""W&B offline runs (``WANDB_MODE=offline``: ``wandb/offline-run-*/run-*.wandb``), written by
the real ``wandb`` library in another process while lstm-top follows them.

The writing process also logs the same numbers with our own ``Logger``, so the warning signs
read from the ``.wandb`` file can be compared with those of our JSON Lines.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from lstm_top.sources.formats import WANDB_OFFLINE, classify, find_runs, read_history
from lstm_top.sources.snapshot import SnapshotFollower
from tests.functional.formats_support import LIVE_WITHIN_S, Followed, sign_ids, wait_for

pytest.importorskip("wandb")

ROOT = str(Path(__file__).resolve().parents[2])
# W&B flushes its transaction log every 15 s by default; the tests make it flush often so
# that they do not wait for it (what they measure is lstm-top's part of the delay).
FLUSH_INTERVAL_S = 0.2
EPOCHS = 30
ACKED_EPOCHS = 5  # the writer waits for these to be seen before logging the next


def val_curve(epoch: int) -> float:
    """Falls to its best at epoch 8, then rises: over-fitting."""
    return 1.0 / epoch + 0.002 * max(0, epoch - 8) ** 2 + 0.3


WRITER = textwrap.dedent("""
    import os, sys, time
    os.environ["WANDB_MODE"] = "offline"
    os.environ["WANDB_SILENT"] = "true"
    import wandb
    from lstm_top import Logger
    folder, epochs, acked, flush, crash = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \\
        float(sys.argv[4]), sys.argv[5] == "crash"
    def val(epoch): return 1.0 / epoch + 0.002 * max(0, epoch - 8) ** 2 + 0.3
    config = {"lr": float(sys.argv[6]), "batch": 32, "hidden": 64}
    run = wandb.init(dir=folder, project="sweep", config=config,
                     settings=wandb.Settings(x_transaction_log_flush_interval=flush))
    logger = Logger(os.path.join(folder, "ours.jsonl"), run_name="ours", config=config)
    for epoch in range(1, epochs + 1):
        train = 1.0 / epoch + 0.1
        for batch in range(3):
            wandb.log({"train/loss": train + 0.01 * (2 - batch),
                       "epoch": epoch - 1 + (batch + 1) / 3})
        wandb.log({"val/loss": val(epoch), "epoch": epoch})
        logger.log(epoch=epoch, loss=train, val_loss=val(epoch))
        if epoch <= acked:
            ack = os.path.join(folder, f"seen-{epoch}")
            deadline = time.monotonic() + 20
            while not os.path.exists(ack) and time.monotonic() < deadline:
                time.sleep(0.01)
    logger.close()
    if crash:
        os._exit(3)
    run.finish()
""")


def start_writer(folder: Path, epochs: int = EPOCHS, acked: int = ACKED_EPOCHS,
                 crash: bool = False, lr: float = 0.01) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.Popen([sys.executable, "-c", WRITER, str(folder), str(epochs), str(acked),
                             str(FLUSH_INTERVAL_S), "crash" if crash else "finish", str(lr)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def run_folder(root: Path, timeout: float = 60.0) -> Path:
    found: list[str] = []
    wait_for(lambda: bool(found.extend(glob.glob(str(root / "wandb" / "offline-run-*"))) or found),
             "wandb.init to create its offline run folder", timeout)
    return Path(found[0])


def val_rows(followed: Followed) -> int:
    history = followed.history
    with history.lock:
        return int(history.epochs.present("val/loss").sum())


def test_offline_run_followed_live_while_wandb_writes_it(tmp_path: Path) -> None:
    writer = start_writer(tmp_path)
    try:
        folder = run_folder(tmp_path)
        assert classify(str(folder)) is WANDB_OFFLINE
        followed = Followed(str(folder))
        try:
            for epoch in range(1, ACKED_EPOCHS + 1):
                # W&B's flush comes first, then ours: each epoch is seen within the flush
                # interval plus lstm-top's LIVE_WITHIN_S. (Not the first: that one is the
                # source's start, its first read of the run folder.)
                followed.wait_rows(epoch, rows=lambda: val_rows(followed))
                if epoch > 1:
                    assert followed.latencies[-1] < LIVE_WITHIN_S + FLUSH_INTERVAL_S + 0.5, \
                        followed.latencies
                (tmp_path / f"seen-{epoch}").touch()
            assert followed.source.state == "live"
            assert writer.wait(60) == 0, writer.stderr.read() if writer.stderr else ""
            wait_for(lambda: followed.source.state == "ended", "the exit record")
            history = followed.history
        finally:
            followed.stop()
    finally:
        writer.kill()
        writer.wait()
    assert history.source_kind == "wandb-offline" and history.end_status == "completed"
    assert history.config == {"lr": 0.01, "batch": 32, "hidden": 64}
    # One row per epoch, W&B's ``epoch`` read as ours; the validation curve exactly as logged.
    np.testing.assert_array_equal(history.epochs.index, np.arange(1, EPOCHS + 1))
    np.testing.assert_allclose(history.epochs.column("val/loss"),
                               [val_curve(e) for e in range(1, EPOCHS + 1)])
    # Per-step training losses, each at its own fractional epoch.
    assert len(history.steps) == EPOCHS * 4
    ours = read_history(tmp_path / "ours.jsonl")
    assert "stagnating_val_loss" in sign_ids(ours)
    assert sign_ids(history) == sign_ids(ours)
    assert followed.new_runs() == 0 and history.malformed_lines == 0


def test_offline_runs_found_in_a_folder_and_checked_as_a_sweep(tmp_path: Path) -> None:
    writers = [start_writer(tmp_path / name, acked=0, crash=name == "b", lr=lr)
               for name, lr in (("a", 0.01), ("b", 0.1))]
    for writer in writers:
        writer.wait(120)
    runs = sorted(find_runs(str(tmp_path)))
    offline = [run for run in runs if "offline-run-" in run]
    assert len(offline) == 2, runs  # each run folder is one run; wandb's debug logs are not
    assert all(not run.endswith(".log") for run in runs), runs
    crashed = read_history(offline[1])
    # Killed before run.finish(): no exit record; whatever was flushed is read.
    assert crashed.end_status is None
    out = subprocess.run([sys.executable, "-m", "lstm_top", "check", str(tmp_path), "--json"],
                         env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True,
                         timeout=120)
    report = json.loads(out.stdout)
    names = sorted(row["run"] for row in report["runs"])
    assert len(names) == 4 and names.count("ours") == 2, names  # two W&B runs, our two JSONL
    assert out.returncode == 1, out.stderr  # over-fitting in every run
    assert report["config_keys"] == ["lr"]
    wandb_rows = [row for row in report["runs"] if row["run"] != "ours"]
    assert sorted(row["config"]["lr"] for row in wandb_rows) == ["0.01", "0.1"]
    assert all(row["worst_sign"] == "stagnating_val_loss" for row in report["runs"]), report


def test_a_flush_ending_inside_a_record_waits_for_the_rest(tmp_path: Path) -> None:
    """The real file fed to a follower a few bytes at a time, cut anywhere (W&B's buffered
    writer flushes whatever it holds): rows only ever grow, nothing is counted as bad, and
    the end is the whole run. Then the file is replaced by another run: a new run."""
    writer = start_writer(tmp_path / "done", epochs=12, acked=0)
    assert writer.wait(120) == 0
    source = next(Path(p) for p in glob.glob(str(tmp_path / "done/wandb/offline-run-*/*.wandb")))
    whole = read_history(source)
    data = source.read_bytes()
    growing = tmp_path / "live" / "run-growing.wandb"
    growing.parent.mkdir()
    growing.write_bytes(b"")
    follower = SnapshotFollower(str(growing), WANDB_OFFLINE.read, use_events=False)
    updates: list[object] = []
    follower._on_update = updates.append
    rows = 0
    rng = np.random.default_rng(0)
    written = 0
    while written < len(data):
        written = min(len(data), written + int(rng.integers(1, 400)))
        with open(growing, "r+b") as handle:
            handle.seek(0, os.SEEK_END)
            handle.write(data[handle.tell():written])
        follower._next_read_at = 0.0
        follower.check_now()
        now = len(follower.history.epochs)
        assert now >= rows
        rows = now
        assert follower.history.malformed_lines == 0
    assert len(follower.history.epochs) == len(whole.epochs) == 12
    np.testing.assert_array_equal(follower.history.epochs.column("val/loss"),
                                  whole.epochs.column("val/loss"))
    assert follower.history.end_status == "completed"
    # Replaced by a shorter file holding another run: a new run, the old one kept by its holder.
    before = follower.history
    other = tmp_path / "other.wandb"
    shutil.copy(source, other)
    with open(other, "r+b") as handle:
        handle.truncate(len(data) // 2)
    os.replace(other, growing)
    time.sleep(0.01)
    follower._next_read_at = 0.0
    follower.check_now()
    assert follower.history is not before and len(before.epochs) == 12
    assert any(getattr(u, "new_run", False) for u in updates)
    assert 0 < len(follower.history.epochs) < 12


def test_damaged_record_is_skipped_and_counted(tmp_path: Path) -> None:
    writer = start_writer(tmp_path, epochs=6, acked=0)
    assert writer.wait(120) == 0
    source = Path(glob.glob(str(tmp_path / "wandb/offline-run-*/*.wandb"))[0])
    data = bytearray(source.read_bytes())
    data[len(data) // 2] ^= 0xFF
    source.write_bytes(bytes(data))
    history = read_history(source.parent)
    assert history.malformed_lines == 1
    assert "checksum" in history.problems[0].reason
    assert 0 < len(history.epochs) <= 6


def test_without_wandb_a_clear_error(tmp_path: Path) -> None:
    writer = start_writer(tmp_path, epochs=3, acked=0)
    assert writer.wait(120) == 0
    folder = glob.glob(str(tmp_path / "wandb/offline-run-*"))[0]
    # The same interpreter with wandb made unimportable, as on a machine without it.
    code = ("import sys; sys.modules['wandb'] = None; from lstm_top.cli import main; "
            "sys.exit(main(['check', sys.argv[1]]))")
    out = subprocess.run([sys.executable, "-c", code, folder], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=ROOT), timeout=60)
    assert out.returncode == 2
    assert "needs the wandb package: pip install wandb" in out.stderr
