"""Other tools' files followed in a real terminal: tmux at 80x24 while the real library trains.

A Keras ``CSVLogger`` file, a Lightning ``metrics.csv`` and a Lightning TensorBoard folder, each
shown by its own ``lstm-top`` started before training, beside one showing our own JSONL of the
same run. The trainer writes a line to ``written`` when each epoch is on disk; the test reads
each screen every 0.1 s and measures how long the epoch takes to show in the status line, then
checks every screen raises the same warning sign as the one following our JSONL.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.tmux import needs_tmux, viewer
from tests.functional.formats_support import LIVE_WITHIN_S

# Importing the library and training on a loaded machine takes minutes: the test fails,
# saying what each screen showed, before pytest-timeout would cut it short.
TRAINING_WITHIN_S = 360
pytestmark = [pytest.mark.e2e, needs_tmux, pytest.mark.timeout(TRAINING_WITHIN_S + 120)]

os.environ.setdefault("KERAS_BACKEND", "torch")
TRAINERS = Path(__file__).resolve().parent / "trainers"
EPOCHS = 6
PAUSE_S = 2.5
# A new epoch is shown as the follower sees it (LIVE_WITHIN_S: the poll interval and a
# margin), plus Textual's next frame and this test's reading of three screens every 0.1 s.
SHOWN_WITHIN_S = LIVE_WITHIN_S + 1.0


def _written(path: Path) -> dict[int, float]:
    if not path.exists():
        return {}
    epochs = {}
    for line in path.read_text().splitlines():
        epoch, at = line.split()
        epochs[int(epoch)] = float(at)
    return epochs


def _follow_while_training(tmp_path: Path, trainer: str, targets: dict[str, tuple[Path, int]],
                           sign: str) -> dict[str, list[float]]:
    """Start one lstm-top per target, train, return seconds-to-screen per epoch and target.
    ``targets[name] = (path, first epoch number the status line shows)``."""
    written = tmp_path / "written"
    shown: dict[str, dict[int, float]] = {name: {} for name in targets}
    screens: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        panes = {name: stack.enter_context(viewer(tmp_path, path)).pane
                 for name, (path, _) in targets.items()}
        # Its warnings go to a file: a pipe nobody reads until the end could fill and stop it.
        errors = stack.enter_context((tmp_path / "trainer.err").open("w"))
        process = subprocess.Popen(
            ["nice", sys.executable, str(TRAINERS / trainer), str(tmp_path), str(EPOCHS),
             str(PAUSE_S)], env={**os.environ, "START_DELAY": "2"},
            stdout=subprocess.DEVNULL, stderr=errors)
        stack.callback(lambda: process.poll() is None and process.kill())
        deadline = time.monotonic() + TRAINING_WITHIN_S
        while True:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not done in {TRAINING_WITHIN_S} s: trainer exit {process.poll()}, epochs "
                    f"shown {shown}, screens:\n" + "\n".join(screens.values())
                    + (tmp_path / "trainer.err").read_text()[-3000:])
            now = time.time()
            for name, (_, first) in targets.items():
                screens[name] = screen = panes[name].screen()
                status = screen.splitlines()[0] if screen else ""
                for epoch in range(EPOCHS):
                    if epoch not in shown[name] and f"epoch {epoch + first} " in status:
                        shown[name][epoch] = now
            done = process.poll() is not None and all(
                len(shown[name]) == EPOCHS for name in targets)
            if done and all(sign in screens[name] for name in targets):
                break
            time.sleep(0.1)
        assert process.wait(30) == 0, (tmp_path / "trainer.err").read_text()[-3000:]
        for name in targets:
            print(f"--- {name} ---\n{screens[name]}")
            assert "Traceback" not in screens[name]
            assert sign in screens[name], f"{name} shows no {sign!r}:\n{screens[name]}"
    on_disk = _written(written)
    delays = {name: [round(shown[name][e] - on_disk[e], 2) for e in sorted(on_disk)
                     if e in shown[name]] for name in targets}
    print(f"seconds from the epoch on disk to the epoch on screen: {delays}")
    return delays


def test_keras_csvlogger_in_tmux_like_our_jsonl(tmp_path: Path) -> None:
    pytest.importorskip("keras")
    delays = _follow_while_training(
        tmp_path, "keras_csv.py",
        {"csvlogger": (tmp_path / "training.log", 0), "ours": (tmp_path / "run.jsonl", 1)},
        sign="nonfinite loss")
    for name, seconds in delays.items():
        assert len(seconds) == EPOCHS, (name, seconds)
        assert max(seconds) < SHOWN_WITHIN_S, (name, seconds)


def test_lightning_csv_and_tensorboard_in_tmux_like_our_jsonl(tmp_path: Path) -> None:
    pytest.importorskip("lightning")
    pytest.importorskip("tensorboard")
    delays = _follow_while_training(
        tmp_path, "lightning_logs.py",
        {"metrics_csv": (tmp_path / "logs" / "csv" / "version_0" / "metrics.csv", 0),
         "tensorboard": (tmp_path / "logs" / "tb", 0), "ours": (tmp_path / "run.jsonl", 1)},
        sign="subset gap")
    for name, seconds in delays.items():
        assert len(seconds) == EPOCHS, (name, seconds)
        assert max(seconds) < SHOWN_WITHIN_S, (name, seconds)
