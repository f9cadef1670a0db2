"""What hostile viewers, peers and files cost: ``python -m bench --only hostile``.

Each figure is measured on real processes: a training process (a child interpreter running
the ``Logger``) that serves its history, real TCP clients, a real FIFO, the real ``lstm-top
check`` and the real TUI in tmux. Each row compares against a baseline taken in the same run
(the quiet training, a file of the same size with a handful of names) and shows the ratio.

* training RSS growth with 32 idle viewers (connected, never reading) — goal <= 50 MB;
* ``log()`` p99 during a connect/disconnect storm, and with a target that takes no data (a full
  pipe, ``special_files=True``) — goal <= 1 ms;
* ``lstm-top check`` time on a 5 MB file whose every record has new metric names — goal <= 2 s;
* viewer quit time (``q`` to process exit) while it reads that file — goal <= 1 s.

The probes are plain functions, used by the tests too (``tests/functional/test_hostile_*``).
Run alone: ``python -m bench.bench_hostile``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MB = 1 << 20

# The training process: logs a history of ``records`` epochs (about 1 KB each), says where it
# serves, then on "go" logs one record a millisecond for ``seconds`` while timing each log().
_TRAINING = """
import json, os, sys, time
from lstm_top import Logger
path, address, records, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
payload = {f"metric_with_a_longer_name_{i:02d}": 0.123456789 * i for i in range(30)}
logger = Logger(path, serve=address)
for epoch in range(1, records + 1):
    logger.log(epoch=epoch, **payload)
print(json.dumps({"address": logger._server.address}), flush=True)
while not os.path.exists(path + ".go"):  # a sleeping wait: the server thread runs meanwhile
    time.sleep(0.01)
durations, epoch = [], records
end = time.monotonic() + seconds
while time.monotonic() < end:
    epoch += 1
    started = time.perf_counter()
    logger.log(epoch=epoch, **payload)
    durations.append(time.perf_counter() - started)
    time.sleep(0.001)
server = logger._server
accepted, turned_away = server.viewers_accepted, getattr(server, "viewers_turned_away", -1)
logger.close()
durations.sort()
print(json.dumps({"p50": durations[len(durations) // 2],
                  "p99": durations[int(len(durations) * 0.99)], "max": durations[-1],
                  "calls": len(durations), "accepted": accepted,
                  "turned_away": turned_away}), flush=True)
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat_file:
        fields = stat_file.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Training:
    """A child process training with ``Logger(serve=...)``; ``go()`` starts the timed phase."""

    def __init__(self, folder: str, records: int, seconds: float) -> None:
        self.path = os.path.join(folder, "run.jsonl")
        self.process = subprocess.Popen(
            [sys.executable, "-c", _TRAINING, self.path, "tcp://127.0.0.1:0", str(records),
             str(seconds)], stdout=subprocess.PIPE, text=True, env=_env(), cwd=folder)
        assert self.process.stdout is not None
        hello = json.loads(self.process.stdout.readline())
        host, port = hello["address"].removeprefix("tcp://").rsplit(":", 1)
        self.address = (host, int(port))

    @property
    def pid(self) -> int:
        return self.process.pid

    def go(self) -> None:
        Path(self.path + ".go").touch()

    def result(self, timeout: float = 60.0) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        self.process.wait(timeout)
        return json.loads(line)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def idle_viewers_rss(history_records: int = 10_000, viewers: int = 32,
                     settle_s: float = 2.0) -> dict[str, float]:
    """Training RSS before and after ``viewers`` TCP clients connect and never read."""
    with tempfile.TemporaryDirectory() as folder:
        training = Training(folder, history_records, seconds=settle_s + 1.0)
        clients: list[socket.socket] = []
        try:
            time.sleep(0.3)
            before = rss_mb(training.pid)
            history_mb = os.path.getsize(os.path.join(folder, "run.jsonl")) / MB
            for _ in range(viewers):
                client = socket.create_connection(training.address)
                client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                clients.append(client)
            training.go()  # records keep coming while the viewers sit there
            peak = before
            deadline = time.monotonic() + settle_s
            while time.monotonic() < deadline:
                peak = max(peak, rss_mb(training.pid))
                time.sleep(0.05)
            result = training.result()
        finally:
            for client in clients:
                client.close()
            training.kill()
    return {"before_mb": before, "peak_mb": peak, "growth_mb": peak - before,
            "history_mb": history_mb, "accepted": result["accepted"]}


def storm_log_latency(seconds: float = 3.0, storm: bool = True,
                      history_records: int = 10_000, hammers: int = 4) -> dict[str, float]:
    """``log()`` p50/p99/max while another process connects and disconnects as fast as it can
    (``storm=False``: the same training, quiet, for the baseline)."""
    with tempfile.TemporaryDirectory() as folder:
        training = Training(folder, history_records, seconds)
        stop = threading.Event()
        cycles = 0

        def hammer() -> None:
            nonlocal cycles
            while not stop.is_set():
                try:
                    client = socket.create_connection(training.address, timeout=1.0)
                    client.close()
                    cycles += 1
                except OSError:
                    time.sleep(0.001)

        threads = [threading.Thread(target=hammer, daemon=True)
                   for _ in range(hammers if storm else 0)]
        try:
            training.go()
            for thread in threads:
                thread.start()
            result = training.result()
        finally:
            stop.set()
            for thread in threads:
                thread.join(5.0)
            training.kill()
    return {**result, "cycles": cycles}


# A training process writing to a FIFO (``special_files=True``) whose reader never reads.
_BLOCKED = """
import json, os, sys, time
from lstm_top import Logger
fifo, calls = sys.argv[1], int(sys.argv[2])
reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
logger = Logger(fifo, run_name="blocked", special_files=True)
payload = {f"metric_{i:02d}": 0.123456789 * i for i in range(6)}
durations = []
for epoch in range(1, calls + 1):
    started = time.perf_counter()
    logger.log(epoch=epoch, **payload)
    durations.append(time.perf_counter() - started)
dropped = logger.dropped
logger.close()
durations.sort()
print(json.dumps({"p50": durations[len(durations) // 2],
                  "p99": durations[int(len(durations) * 0.99)], "max": durations[-1],
                  "dropped": dropped}))
"""


def blocked_target_log_latency(calls: int = 20_000) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        fifo = os.path.join(folder, "collector.fifo")
        os.mkfifo(fifo)
        done = subprocess.run([sys.executable, "-c", _BLOCKED, fifo, str(calls)],
                              capture_output=True, text=True, timeout=120, env=_env(),
                              cwd=folder)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        return json.loads(done.stdout.splitlines()[-1])


# ---------------------------------------------------------------------------- the readers


def write_distinct_names(path: str, size_bytes: int) -> int:
    """A history whose every epoch logs metrics under new names (a logger keying metrics by
    epoch): the shape that made the reader quadratic. Returns the number of epochs."""
    epoch = 0
    with open(path, "w") as out:
        out.write('{"kind":"header","format":"lstm-top","version":1,"run":"distinct",'
                  '"started":1.0}\n')
        while out.tell() < size_bytes:
            epoch += 1
            out.write(json.dumps({"kind": "epoch", "epoch": epoch, "time": 1.0 + epoch,
                                  "metrics": {"loss": 1.0 / epoch, "val_loss": 1.1 / epoch,
                                              f"acc_epoch_{epoch}": 0.5,
                                              f"lr_epoch_{epoch}": 0.001}},
                                 separators=(",", ":")) + "\n")
    return epoch


def write_same_names(path: str, epochs: int) -> None:
    with open(path, "w") as out:
        out.write('{"kind":"header","format":"lstm-top","version":1,"run":"same",'
                  '"started":1.0}\n')
        for epoch in range(1, epochs + 1):
            out.write(json.dumps({"kind": "epoch", "epoch": epoch, "time": 1.0 + epoch,
                                  "metrics": {"loss": 1.0 / epoch, "val_loss": 1.1 / epoch,
                                              "acc": 0.5, "lr": 0.001}},
                                 separators=(",", ":")) + "\n")


def check_seconds(path: str, timeout: float = 120.0) -> tuple[float, int]:
    """Wall time and exit status of ``lstm-top check PATH`` (a fresh process)."""
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "lstm_top", "check", path],
                              capture_output=True, timeout=timeout, env=_env())
        code = done.returncode
    except subprocess.TimeoutExpired:
        code = -1
    return time.perf_counter() - started, code


def viewer_quit_seconds(path: str, read_for_s: float = 0.3, timeout: float = 20.0) -> float:
    """Start the TUI on ``path`` in a tmux pane at 80x24, press ``q`` ``read_for_s`` after it
    is on screen (reading the file), and measure until the process has exited (``timeout``
    when it never does)."""
    tmux = shutil.which("tmux")
    if tmux is None:
        raise RuntimeError("tmux is not installed")
    server = f"lt-hostile-{os.getpid()}-{time.monotonic_ns() % 10**9}"
    base = [tmux, "-L", server, "-f", "/dev/null"]
    pid_file = path + ".pid"
    command = (f"echo $$ > {pid_file}; exec env PYTHONPATH={ROOT} {sys.executable} "
               f"-m lstm_top {path}")
    subprocess.run([*base, "new-session", "-d", "-x", "80", "-y", "24", command], check=True,
                   env={**_env(), "TERM": "xterm-256color"})
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(pid_file) and time.monotonic() < deadline:
            time.sleep(0.02)
        with open(pid_file) as handle:
            pid = int(handle.read().strip() or 0)
        # Pressed once the app is on screen (the footer's key hints), not during start-up.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            screen = subprocess.run([*base, "capture-pane", "-p"], capture_output=True,
                                    text=True).stdout
            if "quit" in screen.lower():
                break
            time.sleep(0.05)
        time.sleep(read_for_s)
        started = time.perf_counter()
        subprocess.run([*base, "send-keys", "q"], check=False)
        while time.perf_counter() - started < timeout:
            if not os.path.exists(f"/proc/{pid}"):
                return time.perf_counter() - started
            try:
                with open(f"/proc/{pid}/stat") as stat_file:
                    if stat_file.read().rsplit(")", 1)[1].split()[0] == "Z":
                        return time.perf_counter() - started
            except OSError:
                return time.perf_counter() - started
            time.sleep(0.01)
        return timeout
    finally:
        subprocess.run([*base, "kill-server"], check=False, capture_output=True)
        try:
            os.unlink(pid_file)
        except OSError:
            pass


# ---------------------------------------------------------------------------- the rows


def run(quick: bool = False) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    records = 4_000 if quick else 10_000
    idle = idle_viewers_rss(records)
    rows.append({"name": "training RSS growth, 32 idle viewers", "value": idle["growth_mb"],
                 "unit": "MB", "goal": "<= 50",
                 "detail": f"history {idle['history_mb']:.1f} MB; RSS {idle['before_mb']:.0f} "
                           f"→ {idle['peak_mb']:.0f} MB; a copy per viewer would be "
                           f"{32 * idle['history_mb']:.0f} MB"})
    seconds = 2.0 if quick else 4.0
    quiet = storm_log_latency(seconds, storm=False)
    storm = storm_log_latency(seconds, storm=True)
    rows.append({"name": "log() p99, connect/disconnect storm", "value": storm["p99"] * 1e3,
                 "unit": "ms", "goal": "<= 1",
                 "detail": f"{storm['cycles']} connections in {seconds:g} s; quiet p99 "
                           f"{quiet['p99'] * 1e3:.3f} ms (ratio "
                           f"{storm['p99'] / quiet['p99']:.1f}x); max {storm['max'] * 1e3:.1f} ms"})
    blocked = blocked_target_log_latency(5_000 if quick else 20_000)
    rows.append({"name": "log() p99, target takes no data", "value": blocked["p99"] * 1e3,
                 "unit": "ms", "goal": "<= 1",
                 "detail": f"a FIFO nobody reads (special_files=True): max "
                           f"{blocked['max'] * 1e3:.2f} ms, {blocked['dropped']} dropped; "
                           f"quiet training p99 {quiet['p99'] * 1e3:.3f} ms"})
    with tempfile.TemporaryDirectory() as folder:
        distinct = os.path.join(folder, "distinct.jsonl")
        same = os.path.join(folder, "same.jsonl")
        size = (2 if quick else 5) * MB
        epochs = write_distinct_names(distinct, size)
        write_same_names(same, epochs)
        from lstm_top.sources.formats import read_history

        read_times = []
        for path in (same, distinct):
            started = time.perf_counter()
            read_history(path)
            read_times.append(time.perf_counter() - started)
        rows.append({"name": f"read, {size // MB} MB of distinct names", "value": read_times[1],
                     "unit": "s", "goal": "<= 2",
                     "detail": f"read_history alone; same file with 4 names "
                               f"{read_times[0]:.2f} s (ratio "
                               f"{read_times[1] / read_times[0]:.1f}x)"})
        baseline, _ = check_seconds(same)
        elapsed, code = check_seconds(distinct)
        rows.append({"name": f"check, {size // MB} MB of distinct names", "value": elapsed,
                     "unit": "s", "goal": "<= 2",
                     "detail": f"{epochs:,} epochs, 2 new names each, exit {code}; same file "
                               f"with 4 names {baseline:.2f} s (ratio {elapsed / baseline:.1f}x)"})
        try:
            quit_s = viewer_quit_seconds(distinct)
            tiny = os.path.join(folder, "tiny.jsonl")
            write_same_names(tiny, 40)
            tiny_s = viewer_quit_seconds(tiny)
            detail = (f"q pressed while the file is read and judged, until the process exited "
                      f"(tmux 80x24); a 40-epoch file: {tiny_s:.2f} s "
                      f"(ratio {quit_s / tiny_s:.1f}x)")
        except RuntimeError as exc:
            quit_s, detail = float("nan"), str(exc)
        rows.append({"name": "viewer quit while reading it", "value": quit_s, "unit": "s",
                     "goal": "<= 1", "detail": detail})
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(f"{row['name']:<42} {row['value']:>9.3f} {row['unit']:<3} goal {row['goal']:<6} "
              f"{row['detail']}")
