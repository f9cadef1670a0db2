"""Sweep view: a folder of many runs in a real terminal until the sweep table shows them all.

``run() -> list[dict]`` rows (see bench/run.py). ``python -m lstm_top runs/`` in tmux at 80x24
on folders of 200 and 1,000 runs (``runs/trial_NNNN/run.jsonl``, 40 epochs each, config keys
lr / batch / hidden, one run in five over-fitting), timed from launch until the table's summary
line says "N runs" with every run diagnosed; the baseline is the same launch on one run of the
same kind until its chart is up, in the same session. "On screen" is the real pane showing the
table: its summary line saying "N runs" and the first rows of runs under it (painted before
Textual has loaded, ``lstm_top.ui.sweep_paint``; the detail says when Textual's own frame, its
footer, came). Then idle CPU: the 1,000-run viewer's CPU seconds over 10 s with nothing
changing.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EPOCHS = 40
IDLE_SECONDS = 10.0


def write_sweep(folder: Path, runs: int) -> None:
    for index in range(runs):
        lr = (1e-3, 3e-3, 1e-2, 3e-2)[index % 4]
        batch = (32, 64, 128)[index % 3]
        hidden = (64, 128)[index % 2]
        overfits = index % 5 == 0
        trial = folder / f"trial_{index:04d}"
        trial.mkdir(parents=True)
        lines = [json.dumps({"kind": "header", "version": 1, "run": f"trial_{index:04d}",
                             "started": 1_700_000_000.0,
                             "config": {"lr": lr, "batch": batch, "hidden": hidden}})]
        for epoch in range(1, EPOCHS + 1):
            train = 0.2 + math.exp(-epoch / 8) * (1 + index % 7 / 10)
            val = train + 0.1 + (0.02 * max(0, epoch - 12) if overfits else 0.0)
            val += 0.004 * math.sin(epoch * 1.7 + index)
            lines.append(json.dumps({"kind": "epoch", "epoch": epoch,
                                     "time": 1_700_000_000.0 + 10 * epoch,
                                     "metrics": {"loss": train, "val_loss": val}}))
        lines.append(json.dumps({"kind": "end", "status": "completed",
                                 "time": 1_700_000_000.0 + 10 * EPOCHS + 1}))
        (trial / "run.jsonl").write_text("\n".join(lines) + "\n")


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def _cpu_seconds(pid: int) -> float:
    """CPU seconds of the process and its threads (utime + stime of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _table_shown(screen: str, needle: str) -> bool:
    """The summary line says ``needle`` and a screenful of run rows is under it."""
    lines = screen.splitlines()
    return bool(lines) and needle in lines[0] and \
        sum(1 for line in lines[2:] if "trial_" in line) >= 10


def _launch(target: Path, needle: str, timeout: float = 120.0, idle: bool = False,
            then: str | None = None, table: bool = False
            ) -> tuple[float, float | None, float | None, float | None]:
    """(seconds until ``needle`` is on screen — with ``table``, as the sweep table's summary
    above its rows —, idle CPU seconds or None, seconds until ``then`` is on screen or None,
    seconds until Textual's footer is)."""
    session = f"lstm-top-bench-sweep-{os.getpid()}"
    env = f"PYTHONPATH={os.environ.get('PYTHONPATH', ROOT)} TERM=xterm-256color"
    if os.environ.get("XDG_CONFIG_HOME"):  # the default preferences (bench/run.py)
        env += f" XDG_CONFIG_HOME={shlex.quote(os.environ['XDG_CONFIG_HOME'])}"
    started = time.perf_counter()
    _tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24",
          f"{env} {sys.executable} -m lstm_top {target}")
    try:
        screen = ""
        while time.perf_counter() - started < timeout:
            screen = _tmux("capture-pane", "-p", "-t", session)
            if _table_shown(screen, needle) if table else needle in screen:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"{needle!r} not on screen after {timeout:.0f} s:\n{screen}")
        shown = time.perf_counter() - started
        later = textual = None
        while then is not None and time.perf_counter() - started < timeout:
            screen = _tmux("capture-pane", "-p", "-t", session)
            if textual is None and "Quit" in screen:
                textual = time.perf_counter() - started
            if then in screen:
                later = time.perf_counter() - started
                break
            time.sleep(0.05)
        idle_cpu = None
        if idle:
            time.sleep(3.0)  # let the last diagnoses finish
            pid = int(_tmux("list-panes", "-t", session, "-F", "#{pane_pid}").split()[0])
            before = _cpu_seconds(pid)
            time.sleep(IDLE_SECONDS)
            idle_cpu = _cpu_seconds(pid) - before
        return shown, idle_cpu, later, textual
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def run(quick: bool = False) -> list[dict[str, object]]:
    if shutil.which("tmux") is None:
        raise RuntimeError("tmux not installed")
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "one"
        write_sweep(one, 1)
        baseline, _, _, _ = _launch(one / "trial_0000" / "run.jsonl", "━━ val")
        sizes = (200,) if quick else (200, 1000)
        for runs, goal in ((200, 2.0), (1000, 5.0)):
            if runs not in sizes:
                continue
            folder = Path(tmp) / f"sweep{runs}"
            write_sweep(folder, runs)
            # The table lists every run; then every run is judged (the overfitters flagged).
            needle, judged = f"{runs} runs", f"{runs} runs · {runs // 5} with warnings"
            shown, idle_cpu, all_judged, textual = _launch(
                folder, needle, idle=runs == max(sizes), then=judged, table=True)
            rows.append({"name": f"{runs} runs on screen", "value": round(shown, 2),
                         "unit": "s", "goal": f"<= {goal:g}",
                         "detail": f"tmux 80x24 `lstm-top runs/` until the table says "
                                   f"'{needle}' above its rows; Textual's frame at "
                                   f"{textual or 0:.2f} s; every run judged at "
                                   f"{all_judged or 0:.2f} s; "
                                   f"one run's chart: {baseline:.2f} s "
                                   f"(ratio {shown / baseline:.1f}x)"})
            if idle_cpu is not None:
                rows.append({"name": f"idle CPU, {runs} runs", "value": round(idle_cpu, 3),
                             "unit": f"CPU s / {IDLE_SECONDS:.0f} s", "goal": "<= 0.5",
                             "detail": "viewer process over 10 s, nothing changing "
                                       f"({100 * idle_cpu / IDLE_SECONDS:.1f}% of a core)"})
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
