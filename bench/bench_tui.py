"""TUI benchmarks: redraw cost vs history length, launch to first chart, idle CPU.

``run() -> list[dict]`` rows ``{"name", "value", "unit", "goal", "detail"}``; not part of
pytest. Run directly: ``python bench/bench_tui.py``.

* redraw ratio: the app (headless, 80x24) redraws after a key that changes the view (``l``,
  log scale); median over repeats with a 1,000,000-epoch history ÷ the same with 1,000 epochs.
* launch: ``lstm-top FILE`` in a real tmux terminal until the chart's legend is on screen.
* idle CPU: the same process, 10 s after the chart is up with no new data, CPU seconds used.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPEATS = 9
ROOT = Path(__file__).resolve().parent.parent


def _write_history_json(path: Path, epochs: int) -> None:
    """Keras-history JSON: the quickest big file to read (two lists of floats)."""
    x = np.arange(1, epochs + 1, dtype=float)
    rng = np.random.default_rng(0)
    train = 0.1 + np.exp(-x / (epochs / 5)) + rng.normal(0, 0.01, epochs)
    val = train * 1.1 + 0.05 + rng.normal(0, 0.02, epochs)
    path.write_text(json.dumps({"loss": train.round(5).tolist(),
                                "val_loss": val.round(5).tolist()}))


async def _redraw_seconds(path: Path, repeats: int = REPEATS) -> tuple[float, int, float]:
    """(median redraw seconds, epochs, in-process seconds from App start to first chart).

    The redraw is measured with the diagnosis settled (it runs in its own worker, off the
    redraw path): from the key press to the new chart on screen."""
    from lstm_top.ui.app import LstmTopApp

    started = time.perf_counter()
    app = LstmTopApp([str(path)], clock=lambda: 0.0)
    timings = []
    async with app.run_test(size=(80, 24)) as pilot:
        while "━━" not in app.loss_plot.plain:
            await asyncio.sleep(0.001)
        first_chart = time.perf_counter() - started
        deadline = time.monotonic() + 600
        while not app.is_settled() and time.monotonic() < deadline:
            await pilot.pause(0.05)
        for _ in range(repeats):
            before = app.renders_done
            chart_before = app.loss_plot.plain
            start = time.perf_counter()
            await pilot.press("l")
            while app.renders_done == before or not app.is_settled():
                await asyncio.sleep(0.0005)
            await pilot.pause()  # let the compositor paint the new frame
            timings.append(time.perf_counter() - start)
            assert app.loss_plot.plain != chart_before
        epochs = len(app.runs[str(path)].history.epochs)
    return statistics.median(timings), epochs, first_chart


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def _process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def _launch_and_idle(path: Path) -> tuple[float, float]:
    session = f"lstm-top-bench-{os.getpid()}"
    start = time.perf_counter()
    _tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24",
          f"exec env TERM=xterm-256color {sys.executable} -m lstm_top {path}")
    try:
        first_chart = None
        while time.perf_counter() - start < 20:
            if "━━ val" in _tmux("capture-pane", "-p", "-t", session):
                first_chart = time.perf_counter() - start
                break
            time.sleep(0.005)
        if first_chart is None:
            raise RuntimeError("the chart never appeared")
        pid = int(_tmux("list-panes", "-t", session, "-F", "#{pane_pid}").split()[0])
        time.sleep(1.0)  # let start-up work finish
        cpu_before = _process_cpu_seconds(pid)
        time.sleep(10.0)
        idle_cpu = _process_cpu_seconds(pid) - cpu_before
        _tmux("send-keys", "-t", session, "q")
        return first_chart, idle_cpu
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def run(quick: bool = False) -> list[dict[str, object]]:
    """``quick``: 100k instead of 1M epochs, fewer repeats, no tmux launch / idle CPU."""
    rows: list[dict[str, object]] = []
    repeats = 3 if quick else REPEATS
    with tempfile.TemporaryDirectory() as folder:
        small, big = Path(folder) / "small.json", Path(folder) / "big.json"
        _write_history_json(small, 1_000)
        _write_history_json(big, 100_000 if quick else 1_000_000)
        small_time, small_epochs, first_chart = asyncio.run(_redraw_seconds(small, repeats))
        big_time, big_epochs, _ = asyncio.run(_redraw_seconds(big, repeats))
        ratio = round(big_time / small_time, 2)
        rows.append({"name": "redraw 1M epochs / 1k epochs", "value": ratio,
                     "unit": "x", "goal": "<= 1.5",
                     "detail": f"median of {repeats} 'l' redraws at 80x24, diagnosis settled: "
                               f"{big_epochs} epochs {big_time * 1000:.1f} ms, "
                               f"{small_epochs} epochs {small_time * 1000:.1f} ms"})
        rows.append({"name": "App start to first chart (in-process)",
                     "value": round(first_chart, 3), "unit": "s", "goal": "<= 0.5",
                     "detail": "headless run_test 80x24, 1,000-epoch history JSON, modules "
                               "already imported"})
        if shutil.which("tmux") and not quick:
            jsonl = Path(folder) / "run.jsonl"
            sys.path.insert(0, str(ROOT))
            from tests.functional.histories import run_text

            jsonl.write_text(run_text("stagnating", 60))
            launch, idle = _launch_and_idle(jsonl)
            rows.append({"name": "launch to first chart", "value": round(launch, 3),
                         "unit": "s", "goal": "<= 0.5",
                         "detail": "tmux 80x24, `python -m lstm_top run.jsonl` (60 epochs) until "
                                   "the legend is on screen; includes interpreter start-up"})
            rows.append({"name": "idle CPU over 10 s", "value": round(idle, 3),
                         "unit": "CPU s", "goal": "near 0",
                         "detail": f"{idle / 10 * 100:.2f}% of one core, finished run, no input"})
    return rows


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<32} {row['value']!s:>8} {row['unit']:<6} goal {row['goal']:<8} "
              f"{row['detail']}")
