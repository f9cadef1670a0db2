"""Notifications (lstm_top/notify.py) and ``lstm-top check --follow``: real subprocesses, a
real history written while the follower runs."""

from __future__ import annotations

import json
import math
import shlex
import subprocess
import sys
import time
from pathlib import Path

from lstm_top import Logger
from lstm_top.notify import BELL, FindingNews, Notifier, title_sequence
from lstm_top.signs import Finding, Severity


def _finding(sign: str = "diverging_loss", severity: Severity = Severity.WARNING,
             since: int = 5, until: int | None = None) -> Finding:
    return Finding(sign, severity, since, until, "loss is rising", {"lr": math.inf}, "lower lr")


def test_news_is_a_new_episode_or_a_worse_one() -> None:
    news = FindingNews()
    assert news.news("a", [_finding()]) == [_finding()]
    assert news.news("a", [_finding()]) == []  # told already
    worse = _finding(severity=Severity.CRITICAL)
    assert news.news("a", [worse]) == [worse]
    assert news.news("a", [_finding(since=9)]) == [_finding(since=9)]  # a new episode
    assert news.news("b", [_finding()]) == [_finding()]  # another run
    assert news.news("a", [_finding(sign="x", severity=Severity.INFO)]) == []  # below warning
    assert news.news("a", [_finding(sign="y", until=7)]) == []  # already over


def test_the_viewer_rings_and_retitles_for_warnings_found_after_its_first_look() -> None:
    written: list[str] = []
    notifier = Notifier(write=written.append)
    assert notifier.findings("run", "run.jsonl", [_finding()]) == []  # on screen when opened
    assert written == []
    fresh = _finding("nonfinite_loss", Severity.CRITICAL, since=8)
    assert notifier.findings("run", "run.jsonl", [_finding(), fresh]) == [fresh]
    assert written == [BELL + "\x1b]2;lstm-top: critical nonfinite_loss in run\x07"]
    Notifier(write=written.append, bell=False).findings("r", "r", [fresh])
    assert len(written) == 1


def test_a_hostile_run_name_cannot_drive_the_terminal_through_the_title() -> None:
    sequence = title_sequence("evil\x1b]52;c;Zm9v\x07\x1b[2J\n\x9bname")
    body = sequence[len("\x1b]2;"):-1]
    assert sequence.startswith("\x1b]2;") and sequence.endswith("\x07")
    assert all(ch.isprintable() for ch in body) and "\x1b" not in body


def test_notify_command_gets_the_finding_as_json_on_stdin(tmp_path: Path) -> None:
    out = tmp_path / "event.json"
    notifier = Notifier(command=f"cat > {shlex.quote(str(out))}")
    notifier.findings("run", "run.jsonl", [])
    notifier.findings("run", "run.jsonl", [_finding()])
    for thread in notifier.commands:
        thread.join(timeout=30)
    event = json.loads(out.read_text())
    assert event["event"] == "finding" and event["run"] == "run"
    assert event["id"] == "diverging_loss" and event["severity"] == "warning"
    assert event["evidence"] == {"lr": "Infinity"}  # strict JSON for any reader


def test_a_hanging_notify_command_does_not_hold_up_the_caller() -> None:
    notifier = Notifier(command="sleep 30")
    notifier.findings("run", "x", [])
    began = time.monotonic()
    notifier.findings("run", "x", [_finding()])
    # (Starting it takes milliseconds, more on a loaded machine; waiting for it, 30 s.)
    assert time.monotonic() - began < 5.0


def _follow(path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "lstm_top", "check", "--follow", str(path),
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_check_follow_prints_each_finding_as_it_appears_and_exits_at_the_end(
        tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    events = tmp_path / "notified.jsonl"
    logger = Logger(path)
    for epoch in range(1, 6):
        logger.log(epoch=epoch, loss=1.0 / epoch, val_loss=1.1 / epoch)
    follower = _follow(path, "--json", "--notify", f"cat >> {shlex.quote(str(events))}")
    try:
        logger.log(epoch=6, loss=math.nan, val_loss=math.nan)  # while the follower runs
        assert follower.stdout is not None
        line = follower.stdout.readline()  # blocks until the finding is printed
        assert follower.poll() is None  # the run has not ended: still following
        event = json.loads(line)
        assert event["id"] == "nonfinite_loss" and event["epoch"] == 6
        assert event["severity"] == "critical" and event["source"] == str(path)
        logger.close(stopped_by={"sign": "nonfinite_loss", "severity": "critical",
                                 "since_epoch": 6, "epoch": 6, "message": "NaN"})
        rest, _ = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
    end = json.loads(rest.splitlines()[-1])
    assert end["event"] == "end" and end["status"] == "completed"
    assert end["stopped_by"]["sign"] == "nonfinite_loss"
    assert follower.returncode == 1  # a warning sign (the usual exit codes)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not events.exists():
        time.sleep(0.1)
    assert json.loads(events.read_text().splitlines()[0])["id"] == "nonfinite_loss"


def test_check_follow_text_lines_and_a_healthy_run_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "healthy.jsonl"
    with Logger(path) as logger:
        for epoch in range(1, 21):
            logger.log(epoch=epoch, loss=1.0 / epoch, val_loss=1.1 / epoch)
    result = subprocess.run([sys.executable, "-m", "lstm_top", "check", "--follow", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.strip() == "run healthy ended: completed"
    missing = subprocess.run([sys.executable, "-m", "lstm_top", "check", "--follow",
                              str(tmp_path / "nope.jsonl")], capture_output=True, text=True,
                             timeout=60)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
