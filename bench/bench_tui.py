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


class _Pane:
    """``python -m lstm_top ARGS`` in a detached tmux session of its own, 80x24."""

    def __init__(self, *args: str) -> None:
        self.session = f"lstm-top-bench-{os.getpid()}-{time.monotonic_ns()}"
        self.started = time.perf_counter()
        _tmux("new-session", "-d", "-s", self.session, "-x", "80", "-y", "24",
              f"exec env TERM=xterm-256color {sys.executable} -m lstm_top {' '.join(args)}")
        self.pid = int(_tmux("list-panes", "-t", self.session, "-F", "#{pane_pid}").split()[0])

    def screen(self) -> str:
        return _tmux("capture-pane", "-p", "-t", self.session)

    def wait_for(self, needle: str, timeout: float = 30.0, poll: float = 0.002) -> float:
        """Seconds from launch until ``needle`` is on the pane."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if needle in self.screen():
                return time.perf_counter() - self.started
            time.sleep(poll)
        raise RuntimeError(f"{needle!r} never appeared:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.session], capture_output=True)


def _write_big_jsonl(path: Path, records: int) -> None:
    """A finished lstm-top history of ``records`` epoch records (what Logger writes)."""
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 0.01, records)
    with open(path, "w") as handle:
        handle.write('{"kind": "header", "version": 1, "run": "big", "started": 1700000000.0}\n')
        lines = []
        for epoch in range(1, records + 1):
            loss = 0.1 + 1.0 / (1 + epoch / 1000) + noise[epoch - 1]
            lines.append(f'{{"kind": "epoch", "epoch": {epoch}, "time": {1700000000 + epoch}, '
                         f'"metrics": {{"loss": {loss:.5f}, "val_loss": {loss * 1.1:.5f}}}}}\n')
            if len(lines) >= 100_000:
                handle.writelines(lines)
                lines = []
        handle.writelines(lines)
        handle.write(f'{{"kind": "end", "status": "completed", "time": {1700000000 + records}}}\n')


def _first_frame_of_big_file(folder: Path, records: int) -> float:
    path = folder / "big.jsonl"
    _write_big_jsonl(path, records)
    pane = _Pane(str(path))
    try:
        return pane.wait_for("━━ val", timeout=60)
    finally:
        pane.close()


def _fast_run_cpu(folder: Path, seconds: float) -> tuple[float, int, int, bool]:
    """Viewer CPU (% of a core) while a Logger writes 100 epoch and 1,000 step records a second;
    (cpu, epochs written, renders seen?, whether status, chart legend and table agreed)."""
    import threading

    from lstm_top import Logger

    path = folder / "fast.jsonl"
    logger = Logger(path, run_name="fast")
    logger.log(epoch=0, loss=1.0, val_loss=1.1)
    stop = threading.Event()
    written = [0]

    def write() -> None:
        epoch, step, start = 0, 0, time.perf_counter()
        while not stop.is_set():
            elapsed = time.perf_counter() - start
            while step < elapsed * 1000:
                step += 1
                logger.log(step=step, loss=1.0 / (1 + step / 1000))
                if step % 10 == 0:
                    epoch += 1
                    logger.log(epoch=epoch, loss=1.0 / (1 + epoch / 50),
                               val_loss=1.1 / (1 + epoch / 60))
            written[0] = epoch
            time.sleep(0.002)

    pane = _Pane(str(path))
    try:
        pane.wait_for("━━ val")
        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        time.sleep(1.0)  # the first second: settle into the pace
        cpu_before = _process_cpu_seconds(pane.pid)
        time.sleep(seconds)
        cpu = (_process_cpu_seconds(pane.pid) - cpu_before) / seconds * 100
        stop.set()
        writer.join(5)
        logger.log(epoch=written[0] + 1, loss=0.01, val_loss=0.02)  # one last, then calm
        logger.close()
        time.sleep(1.5)
        screen = pane.screen()
        shown = [int(m) for m in __import__("re").findall(r"epoch (\d+)", screen)]
        agreed = bool(shown) and f"epoch {written[0] + 1}" in screen
        return cpu, written[0], len(shown), agreed
    finally:
        stop.set()
        pane.close()


def _append_to_screen_ms(folder: Path, appends: int) -> list[float]:
    """Logger.log() of an epoch until the status line shows it, on the tmux pane."""
    from lstm_top import Logger

    path = folder / "latency.jsonl"
    logger = Logger(path, run_name="latency")
    logger.log(epoch=1, loss=1.0, val_loss=1.1)
    pane = _Pane(str(path))
    latencies = []
    try:
        pane.wait_for("epoch 1 ")
        time.sleep(1.0)
        for epoch in range(2, appends + 2):
            start = time.perf_counter()
            logger.log(epoch=epoch, loss=1.0 / epoch, val_loss=1.1 / epoch)
            deadline = start + 5
            while f"epoch {epoch} " not in pane.screen() and time.perf_counter() < deadline:
                time.sleep(0.001)
            latencies.append((time.perf_counter() - start) * 1000)
            time.sleep(0.25)  # apart, so each append is measured on its own
        return latencies
    finally:
        logger.close()
        pane.close()


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
        if shutil.which("tmux"):
            jsonl = Path(folder) / "run.jsonl"
            sys.path.insert(0, str(ROOT))
            from tests.functional.histories import run_text

            jsonl.write_text(run_text("stagnating", 60))
            launch, idle = _launch_and_idle(jsonl)
            rows.append({"name": "launch to first chart", "value": round(launch, 3),
                         "unit": "s", "goal": "<= 0.4",
                         "detail": "tmux 80x24, `python -m lstm_top run.jsonl` (60 epochs) until "
                                   "the legend is on screen; includes interpreter start-up"})
            rows.append({"name": "idle CPU over 10 s", "value": round(idle, 3),
                         "unit": "CPU s", "goal": "near 0",
                         "detail": f"{idle / 10 * 100:.2f}% of one core, finished run, no input"})
        if shutil.which("tmux"):
            records = 1_000_000
            first = _first_frame_of_big_file(Path(folder), records)
            rows.append({"name": "first frame of a 1M-record file", "value": round(first, 3),
                         "unit": "s", "goal": "<= 0.5",
                         "detail": f"tmux 80x24, {records:,} epoch records (JSONL), launch until "
                                   "the chart's legend is on screen"})
            seconds = 20.0 if quick else 60.0
            cpu, epochs, _, agreed = _fast_run_cpu(Path(folder), seconds)
            rows.append({"name": "viewer CPU, 100 epochs/s + 1,000 steps/s",
                         "value": round(cpu, 1), "unit": "%", "goal": "<= 10",
                         "detail": f"% of one core over {seconds:.0f} s in tmux; {epochs} epochs "
                                   f"written; status line showed the last epoch after: {agreed}"})
            latencies = _append_to_screen_ms(Path(folder), 15 if quick else 40)
            rows.append({"name": "append -> on screen (tmux pane), median",
                         "value": round(statistics.median(latencies), 1), "unit": "ms",
                         "goal": "<= 30",
                         "detail": f"{len(latencies)} Logger.log() epochs until the status line "
                                   f"shows them; max {max(latencies):.0f} ms"})
    return rows


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<32} {row['value']!s:>8} {row['unit']:<6} goal {row['goal']:<8} "
              f"{row['detail']}")
