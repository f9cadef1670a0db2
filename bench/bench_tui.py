"""TUI benchmarks: the viewer's first frame and its calm under fast runs (issue 15), redraw
cost vs history length.

``run() -> list[dict]`` rows ``{"name", "value", "unit", "goal", "detail"}``; not part of
pytest. Run directly: ``python bench/bench_tui.py``, or ``python -m bench --only tui``.
Every tmux figure is measured in a real terminal (tmux, 80x24, capture-pane) beside a baseline
measured the same way in the same run, and printed with the load average at the time (the
machine may be shared; the ratios travel better than the seconds):

* launch: ``python -m lstm_top run.jsonl`` until the chart's legend shows (the first paint,
  before Textual has loaded), and until Textual's first frame (its footer) is up, each best of
  a few; baseline the smallest Textual app until its one line shows.
* first frame of a 1M-record file: launch until the chart shows (its newest part, read from the
  file's tail), and until the whole run is on screen; baseline the 60-epoch launch.
* viewer CPU while a Logger writes 100 epoch + 1,000 step records a second for 60 s (% of one
  core, utime + stime from /proc); sampled screens check that the status line's epoch and the
  metrics table's latest val_loss are of the same epoch. Baseline: the writer's own CPU.
* append -> on screen: ``Logger.log`` of an epoch until the status line shows it (median of
  40, 0.25 s apart); baseline the same appends shown by ``tail -F`` in a pane.
* idle CPU: 10 s after the chart is up with no new data.
* redraw ratio: the app (headless, 80x24) redraws after ``l``; median with a 1,000,000-epoch
  history ÷ the same with 1,000 epochs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
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


class TmuxError(RuntimeError):
    """A tmux command failed; the message has tmux's own words."""


# The benchmark's panes live on a tmux server of their own: the default one is shared with
# whatever else runs on the machine (another session's `tmux kill-server` took a pane away
# mid-run), and a server exiting after its last session went could take the next one with it.
# A keeper session holds it up between panes; ``_tmux_server_down`` ends it.
TMUX_SOCKET = f"lstm-top-bench-{os.getpid()}"
KEEPER_SECONDS = 900  # outlives the benchmark's tmux part, ends by itself if the bench is killed


def _tmux(*args: str) -> str:
    done = subprocess.run(["tmux", "-L", TMUX_SOCKET, *args], capture_output=True, text=True)
    if done.returncode:  # tmux's own words (a session gone, no server), not only its status
        raise TmuxError(f"tmux {' '.join(args[:3])} failed ({done.returncode}): "
                           f"{done.stderr.strip() or 'no message'}")
    return done.stdout


def _process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def _launch_and_idle(path: Path) -> tuple[float, float]:
    pane = _Pane(str(path))
    try:
        first_chart = pane.wait_for("━━ val", timeout=20)
        pane.wait_for("Quit", timeout=20)
        time.sleep(1.0)  # let start-up work finish
        cpu_before = _process_cpu_seconds(pane.pid)
        time.sleep(10.0)
        idle_cpu = _process_cpu_seconds(pane.pid) - cpu_before
        _tmux("send-keys", "-t", pane.session, "q")
        return first_chart, idle_cpu
    finally:
        pane.close()


def _tmux_server_up() -> str:
    """Start the benchmark's tmux server; the path of its socket."""
    _tmux("new-session", "-d", "-s", "keeper", "-x", "80", "-y", "24",
          f"exec sleep {KEEPER_SECONDS}")
    return _tmux("display-message", "-p", "-t", "keeper", "#{socket_path}").strip()


def _tmux_server_down(socket_path: str) -> None:
    subprocess.run(["tmux", "-L", TMUX_SOCKET, "kill-server"], capture_output=True)
    with contextlib.suppress(OSError):
        os.unlink(socket_path)  # tmux leaves the socket file behind


class _Pane:
    """``python -m lstm_top ARGS`` in a detached tmux session of its own, 80x24."""

    def __init__(self, *args: str, command: str | None = None) -> None:
        self.session = f"lstm-top-bench-{os.getpid()}-{time.monotonic_ns()}"
        self.started = time.perf_counter()
        line = command or f"{sys.executable} -m lstm_top {' '.join(args)}"
        # The tmux server has its own environment: without this the pane would run whatever
        # tree the interpreter's install points at, not the one being benchmarked.
        prefix = "".join(f"{name}={shlex.quote(os.environ[name])} "
                         for name in ("PYTHONPATH", "XDG_CONFIG_HOME") if os.environ.get(name))
        for attempt in range(3):  # a tmux server still exiting after the last session refuses
            self.started = time.perf_counter()
            try:
                _tmux("new-session", "-d", "-s", self.session, "-x", "80", "-y", "24",
                      f"exec env TERM=xterm-256color {prefix}{line}")
                break
            except TmuxError:
                if attempt == 2:
                    raise
                time.sleep(0.2)
        self.pid = int(_tmux("list-panes", "-t", self.session, "-F", "#{pane_pid}").split()[0])

    @classmethod
    def command(cls, line: str) -> _Pane:
        return cls(command=line)

    def wait_until(self, condition: Callable[[str], bool], timeout: float = 30.0,
                   poll: float = 0.01) -> str:
        """The first screen for which ``condition`` holds."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            screen = self.screen()
            if condition(screen):
                return screen
            time.sleep(poll)
        raise RuntimeError(f"condition never met:\n{self.screen()}")

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
        subprocess.run(["tmux", "-L", TMUX_SOCKET, "kill-session", "-t", self.session],
                       capture_output=True)


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


def load_average() -> str:
    """The 1-minute load average now (the machine is shared: timed figures move with it)."""
    return f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


_HELLO_APP = """
from textual.app import App
from textual.widgets import Static
class Hello(App):
    def compose(self):
        yield Static("━━ val hello")
Hello().run()
"""


def _hello_textual_launch(folder: Path) -> float:
    """Baseline: the smallest Textual app, launched the same way, until its text shows."""
    script = folder / "hello_textual.py"
    script.write_text(_HELLO_APP)
    pane = _Pane.command(f"{sys.executable} {script}")
    try:
        return pane.wait_for("━━ val hello")
    finally:
        pane.close()


def _first_frame_of_big_file(folder: Path, records: int) -> tuple[float, float]:
    """(launch to the first chart, launch to the whole run on screen) for a finished
    ``records``-epoch JSONL file."""
    path = folder / "big.jsonl"
    _write_big_jsonl(path, records)
    pane = _Pane(str(path))
    try:
        first = pane.wait_for("━━ val", timeout=60)
        pane.wait_until(lambda screen: "reading" not in screen.splitlines()[0]
                        and f"epoch {records}" in screen, timeout=120)
        return first, time.perf_counter() - pane.started
    finally:
        pane.close()


_METRIC_ROW = __import__("re").compile(r"▏(loss|val_loss)\s+(\S+)")
_STATUS_EPOCH = __import__("re").compile(r"│ epoch (\d+) │")


def _agrees(screen: str, val_loss_at: Callable[[int], float]) -> bool | None:
    """The status line's epoch and the table's latest val_loss are of the same epoch (None:
    nothing to compare on this screen)."""
    epoch = _STATUS_EPOCH.search(screen.splitlines()[0] if screen else "")
    rows = dict(_METRIC_ROW.findall(screen))
    if epoch is None or "val_loss" not in rows:
        return None
    try:
        shown = float(rows["val_loss"])
    except ValueError:
        return None
    expected = val_loss_at(int(epoch.group(1)))
    return abs(shown - expected) <= 0.006 * abs(expected) + 1e-12  # three or four digits


def _fast_run_cpu(folder: Path, seconds: float) -> dict[str, float | int | bool]:
    """Viewer CPU (% of a core) while a Logger writes 100 epoch and 1,000 step records a
    second; the writer's own CPU; how often status line and table were seen to agree."""
    import threading

    from lstm_top import Logger

    path = folder / "fast.jsonl"
    logger = Logger(path, run_name="fast")

    def val_loss_at(epoch: int) -> float:
        return 1.1 / (1 + epoch / 60)

    logger.log(epoch=0, loss=1.0, val_loss=val_loss_at(0))
    stop = threading.Event()
    written = [0]
    writer_cpu = [0.0]

    def write() -> None:
        epoch, step, start = 0, 0, time.perf_counter()
        cpu_start = time.thread_time()
        while not stop.is_set():
            elapsed = time.perf_counter() - start
            while step < elapsed * 1000:
                step += 1
                logger.log(step=step, loss=1.0 / (1 + step / 1000))
                if step % 10 == 0:
                    epoch += 1
                    logger.log(epoch=epoch, loss=1.0 / (1 + epoch / 50),
                               val_loss=val_loss_at(epoch))
            written[0] = epoch
            time.sleep(0.002)
        writer_cpu[0] = time.thread_time() - cpu_start

    pane = _Pane(str(path))
    try:
        pane.wait_for("Quit")  # Textual is up, not only the first paint
        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        time.sleep(1.0)  # the first second: settle into the pace
        cpu_before = _process_cpu_seconds(pane.pid)
        began = time.perf_counter()
        checks = []
        while time.perf_counter() - began < seconds:
            time.sleep(min(seconds / 20, seconds - (time.perf_counter() - began)) if
                       seconds > time.perf_counter() - began else 0)
            checks.append(_agrees(pane.screen(), val_loss_at))
        measured = time.perf_counter() - began
        cpu = (_process_cpu_seconds(pane.pid) - cpu_before) / measured * 100
        stop.set()
        writer.join(5)
        last = written[0] + 1
        logger.log(epoch=last, loss=0.01, val_loss=val_loss_at(last))  # one last, then calm
        logger.close()
        screen = pane.wait_until(lambda screen: f"epoch {last} " in screen, timeout=10)
        seen = [c for c in checks if c is not None]
        return {"cpu": cpu, "epochs": written[0], "writer_cpu": writer_cpu[0] / measured * 100,
                "agreed": sum(seen), "compared": len(seen),
                "final_agrees": _agrees(screen, val_loss_at) is True}
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
        pane.wait_for("Quit")  # Textual is up, not only the first paint
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


def _append_to_tail_ms(folder: Path, appends: int) -> list[float]:
    """Baseline: the same appends shown by ``tail -F`` in a tmux pane (the pane's own cost:
    inotify, a terminal write, tmux, capture-pane polling)."""
    from lstm_top import Logger

    path = folder / "tail.jsonl"
    logger = Logger(path, run_name="tail")
    pane = _Pane.command(f"tail -n 1 -F {path}")
    latencies = []
    try:
        time.sleep(1.0)
        for epoch in range(1, appends + 1):
            needle = f'"epoch":{epoch},'
            start = time.perf_counter()
            logger.log(epoch=epoch, loss=1.0 / epoch, val_loss=1.1 / epoch)
            deadline = start + 5
            while needle not in pane.screen() and time.perf_counter() < deadline:
                time.sleep(0.001)
            latencies.append((time.perf_counter() - start) * 1000)
            time.sleep(0.25)
        return latencies
    finally:
        logger.close()
        pane.close()


def run(quick: bool = False) -> list[dict[str, object]]:
    """``quick``: 100k instead of 1M records, fewer repeats, a 20 s fast run."""
    rows: list[dict[str, object]] = []
    repeats = 3 if quick else REPEATS
    with tempfile.TemporaryDirectory() as folder:
        if shutil.which("tmux"):
            socket_path = _tmux_server_up()
            try:
                rows += _issue_15_rows(Path(folder), quick)
            finally:
                _tmux_server_down(socket_path)
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
    return rows


def _issue_15_rows(folder: Path, quick: bool) -> list[dict[str, object]]:
    """The four figures of the viewer's first frame and calm under fast runs, each in a real
    terminal (tmux, 80x24) beside a baseline measured the same way in this run."""
    rows: list[dict[str, object]] = []
    sys.path.insert(0, str(ROOT))
    from tests.functional.histories import run_text

    jsonl = folder / "run.jsonl"
    jsonl.write_text(run_text("stagnating", 60))
    compiled = _compile_bytecode()
    hello = min(_hello_textual_launch(folder) for _ in range(3))
    first_launch, idle = _launch_and_idle(jsonl)
    launches = [_launch_only(jsonl) for _ in range(3)]
    launch = min([first_launch] + [painted for painted, _, _ in launches])
    interactive = min(ready for _, ready, _ in launches)
    footer = min(keys for _, _, keys in launches)
    rows.append({"name": "launch to first chart (first paint)", "value": round(launch, 3),
                 "unit": "s", "goal": "<= 0.4",
                 "detail": f"best of 4, `python -m lstm_top run.jsonl` (60 epochs) until the "
                           f"legend shows (painted before Textual loads); a bare Textual app "
                           f"{hello:.3f} s the same way (ratio {launch / hello:.2f}); bytecode "
                           f"compiled first as an install does ({compiled} modules were not); "
                           f"{load_average()}"})
    rows.append({"name": "launch to interactive (Textual's first frame)",
                 "value": round(interactive, 3), "unit": "s",
                 "goal": f"<= {hello + 0.15:.2f}",
                 "detail": f"best of 3, until Textual's first frame (the panels; keys typed "
                           f"before are kept and read then; its footer at {footer:.3f} s); the "
                           f"bare Textual app {hello:.3f} s (ratio {interactive / hello:.2f}, "
                           f"{interactive - hello:+.3f} s); goal: bare Textual + 0.15 s; "
                           f"{load_average()}"})
    rows.append({"name": "idle CPU over 10 s", "value": round(idle, 3), "unit": "CPU s",
                 "goal": "near 0", "detail": f"{idle / 10 * 100:.2f}% of one core, finished "
                                             "run, no input"})
    records = 100_000 if quick else 1_000_000
    first, whole = _first_frame_of_big_file(folder, records)
    rows.append({"name": f"first frame of a {records // 1000}k-record file",
                 "value": round(first, 3), "unit": "s", "goal": "<= 0.5",
                 "detail": f"launch until the chart shows its newest part; the whole run "
                           f"(progress bar gone) at {whole:.2f} s; the 60-epoch file "
                           f"{launch:.3f} s (ratio {first / launch:.2f}); {load_average()}"})
    seconds = 20.0 if quick else 60.0
    fast = _fast_run_cpu(folder, seconds)
    rows.append({"name": "viewer CPU, 100 epochs/s + 1,000 steps/s",
                 "value": round(float(fast["cpu"]), 1), "unit": "%", "goal": "<= 10",
                 "detail": f"% of one core over {seconds:.0f} s; the writing Logger itself "
                           f"{float(fast['writer_cpu']):.1f}%; {fast['epochs']} epochs; status "
                           f"line and table on the same epoch in {fast['agreed']} of "
                           f"{fast['compared']} looks, and at the end: {fast['final_agrees']}; "
                           f"{load_average()}"})
    appends = 15 if quick else 40
    latencies = _append_to_screen_ms(folder, appends)
    tail = _append_to_tail_ms(folder, appends)
    median, tail_median = statistics.median(latencies), statistics.median(tail)
    rows.append({"name": "append -> on screen (tmux pane), median",
                 "value": round(median, 1), "unit": "ms", "goal": "<= 30",
                 "detail": f"{len(latencies)} Logger.log() epochs until the status line shows "
                           f"them, max {max(latencies):.0f} ms; `tail -F` in a pane "
                           f"{tail_median:.1f} ms (ratio {median / tail_median:.2f}); "
                           f"{load_average()}"})
    return rows


def _compile_bytecode() -> int:
    """Compile the benchmarked lstm_top's bytecode, as ``pip install`` does for a user (and as
    the baseline's Textual already is). Where PYTHONDONTWRITEBYTECODE is set, an editable or
    checked-out tree would otherwise compile every module from source on every launch, and
    the launch figure would time the compiler. The number of modules compiled."""
    import compileall

    import lstm_top

    package = Path(lstm_top.__file__).parent
    before = sum(1 for _ in package.rglob("*.pyc"))
    compileall.compile_dir(str(package), quiet=1)
    return sum(1 for _ in package.rglob("*.pyc")) - before


def _launch_only(path: Path) -> tuple[float, float, float]:
    """Launch to: the chart on the pane (the first paint), Textual's first frame (the panels'
    titles, which only Textual draws), its footer (composed after its first frame)."""
    pane = _Pane(str(path))
    try:
        return pane.wait_for("━━ val"), pane.wait_for("metrics"), pane.wait_for("Quit")
    finally:
        pane.close()


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<32} {row['value']!s:>8} {row['unit']:<6} goal {row['goal']:<8} "
              f"{row['detail']}")
