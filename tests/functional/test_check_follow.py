"""``lstm-top check --follow`` uses the viewer's own followers: any format, the same
guarantees. Real subprocesses; the files are written while ``check --follow`` runs."""

from __future__ import annotations

import json
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

from lstm_top.format import encode_end, encode_epoch, encode_header
from tests.functional.formats_support import diverging_keras_fit_data

os.environ.setdefault("KERAS_BACKEND", "torch")
ROOT = str(Path(__file__).resolve().parents[2])


class Follow:
    """``lstm-top check --follow PATH --json`` in a subprocess, its stdout lines in a queue."""

    def __init__(self, path: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lstm_top", "check", "--follow", str(path), "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=dict(os.environ, PYTHONPATH=ROOT))
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def next_event(self, timeout: float = 10.0) -> dict[str, Any]:
        return json.loads(self.lines.get(timeout=timeout))

    def nothing_for(self, seconds: float) -> bool:
        try:
            line = self.lines.get(timeout=seconds)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected output: {line}")

    def finish(self, timeout: float = 30.0) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()


def _append(path: Path, data: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(data)


def test_jsonl_partial_line_waits_truncation_is_a_new_run_bad_lines_counted(
        tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text(encode_header("first", 1.0, {}) + "".join(
        encode_epoch(epoch, float(epoch), {"loss": 1.0 / epoch, "val_loss": 1.1 / epoch})
        for epoch in range(1, 4)))
    follow = Follow(path)
    try:
        follow.nothing_for(1.0)  # a healthy start: no finding
        broken = encode_epoch(4, 4.0, {"loss": math.nan, "val_loss": math.nan})
        _append(path, broken[:20])  # a flush in the middle of the line
        follow.nothing_for(1.0)  # waits for the rest (a bad line would be counted, not told)
        _append(path, broken[20:])
        event = follow.next_event()
        assert (event["event"], event["id"], event["epoch"]) == ("finding", "nonfinite_loss", 4)
        # The file truncated and rewritten by another run: announced, and judged afresh.
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(encode_header("second", 2.0, {}))
            handle.write(encode_epoch(1, 5.0, {"loss": 1.0, "val_loss": 1.0}))
        assert follow.next_event()["event"] == "new_run"
        _append(path, "this is not a record\n")
        _append(path, encode_epoch(2, 6.0, {"loss": math.inf, "val_loss": 1.0}))
        event = follow.next_event()
        assert (event["id"], event["run"], event["epoch"]) == ("nonfinite_loss", "second", 2)
        _append(path, encode_end("completed", 7.0))
        end = follow.next_event()
        assert end["event"] == "end" and end["run"] == "second"
        assert end["status"] == "completed" and end["malformed_lines"] == 1
        assert follow.finish() == 1
    finally:
        if follow.process.poll() is None:
            follow.process.kill()


def test_keras_csvlogger_file_followed_while_fit_appends_to_it(tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    log = tmp_path / "training.log"
    follows: list[Follow] = []
    told: list[tuple[int, float, dict[str, Any]]] = []

    class StartAndWatch(keras.callbacks.Callback):  # after CSVLogger in the list
        def on_train_begin(self, logs: Any = None) -> None:
            assert log.exists() and log.stat().st_size == 0  # CSVLogger's empty file
            follows.append(Follow(log))

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if not told and not math.isfinite(float((logs or {}).get("loss", 0.0))):
                began = time.monotonic()  # training waits until the finding is told
                event = follows[0].next_event(timeout=10)
                told.append((epoch, time.monotonic() - began, event))

    model, x, y = diverging_keras_fit_data()  # its loss blows up to inf/NaN within a few epochs
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(x, y, validation_split=0.25, epochs=8, batch_size=16, verbose=0,
                      callbacks=[keras.callbacks.CSVLogger(str(log)), StartAndWatch()])
        assert told, "the loss never became NaN"
        epoch, latency, event = told[0]
        assert event["event"] == "finding" and event["id"] == "nonfinite_loss"
        assert event["epoch"] == epoch  # the CSV's own epoch number
        assert latency < 2.0, latency
        follow = follows[0]
        assert follow.process.poll() is None  # a CSV has no end record: still following
        follow.process.send_signal(signal.SIGINT)
        assert follow.finish() == 1  # the critical sign seen
    finally:
        for follow in follows:
            if follow.process.poll() is None:
                follow.process.kill()
