"""Issue 16: nothing a viewer does can hurt the training that serves its history.

Real processes (a training child serving over TCP), real sockets, a real descriptor limit.
The figures are those of ``python -m bench --only hostile``; the bounds here are looser, for
two shared cores.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from bench.bench_hostile import idle_viewers_rss, storm_log_latency
from lstm_top.format import encode_epoch, encode_header
from lstm_top.hook.serve import MAX_VIEWERS, HistoryServer
from tests.waiting import poll_until


def test_idle_viewers_do_not_grow_the_training_process() -> None:
    # Before: every viewer held its own copy of the replay (13 MB here): 32 idle viewers
    # took this training process from 32 MB to 466 MB.
    figures = idle_viewers_rss(history_records=10_000, viewers=32)
    assert figures["accepted"] == 32
    assert figures["history_mb"] > 10
    assert figures["growth_mb"] < 50, figures


def test_a_connect_storm_does_not_stall_log() -> None:
    # Before: each accept rebuilt the replay while holding the GIL (p99 1.6 ms, max 39 ms, and
    # the loop ran a third as many records in the same time).
    # Each storm is compared with a quiet run just before it. Another process busy on the
    # shared cores during one of the two skews that pair, so a few pairs are measured: the
    # fault shows in every pair, the neighbours' noise not.
    pairs = []
    for _ in range(3):
        quiet = storm_log_latency(2.0, storm=False)
        storm = storm_log_latency(2.0, storm=True)
        pairs.append((quiet, storm))
        assert storm["cycles"] > 100 and storm["accepted"] > 100, storm
        if storm["p99"] < max(5 * quiet["p99"], 0.005) \
                and storm["calls"] > 0.5 * quiet["calls"]:  # before: 0.3
            break
    else:
        raise AssertionError(f"log() stalled by the connect storm in every pair: {pairs}")


def test_a_crowd_connecting_at_once_hears_the_goodbye(tmp_path: Path) -> None:
    server = HistoryServer("tcp://127.0.0.1:0")
    server.publish(encode_header("crowd", 1.0).encode())
    host, port = server.address.removeprefix("tcp://").rsplit(":", 1)
    answers: list[bytes] = []
    lock = threading.Lock()
    start = threading.Barrier(100)
    clients: list[socket.socket] = []

    def connect() -> None:
        start.wait()
        try:
            client = socket.create_connection((host, int(port)), timeout=10)
            with lock:
                clients.append(client)
            client.settimeout(10)
            first = client.recv(200)
        except OSError as exc:
            first = f"error: {exc}".encode()
        with lock:
            answers.append(first)

    threads = [threading.Thread(target=connect) for _ in range(100)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        hellos = [a for a in answers if a.startswith(b'{"kind":"hello"')]
        goodbyes = [a for a in answers if b"too many viewers" in a]
        # Before: 82 of 100 got "resource temporarily unavailable" (a listen backlog of 16).
        assert len(hellos) == MAX_VIEWERS and len(goodbyes) == 100 - MAX_VIEWERS, \
            [a[:60] for a in answers if a not in hellos and a not in goodbyes]
        assert server.viewers_turned_away == 100 - MAX_VIEWERS
    finally:
        for client in clients:
            client.close()
        server.close()


_OUT_OF_DESCRIPTORS = """
import json, os, resource, socket, sys, time
from lstm_top.hook.serve import HistoryServer
from lstm_top.format import encode_header
server = HistoryServer("tcp://127.0.0.1:0")
server.publish(encode_header("fds", 1.0).encode())
host, port = server.address.removeprefix("tcp://").rsplit(":", 1)
# Use up the descriptors, leaving a few for the connections below.
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
hoard = []
try:
    while True:
        hoard.append(os.open("/dev/null", os.O_RDONLY))
except OSError:
    pass
for fd in hoard[-6:]:
    os.close(fd)
del hoard[-6:]
clients = [socket.create_connection((host, int(port))) for _ in range(3)]  # backlog: pending
cpu_before = time.process_time()
time.sleep(2.0)
cpu = time.process_time() - cpu_before
pauses = server.accept_pauses
for fd in hoard:
    os.close(fd)
late = socket.create_connection((host, int(port)), timeout=5)  # descriptors are back
late.settimeout(5)
greeting = b""
deadline = time.monotonic() + 5
while b"\\n" not in greeting and time.monotonic() < deadline:
    greeting += late.recv(200)
print(json.dumps({"cpu_s": cpu, "pauses": pauses, "greeting": greeting.decode()[:40]}))
server.close()
"""


def test_out_of_descriptors_backs_off_instead_of_spinning(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(_OUT_OF_DESCRIPTORS)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    # Before: the server thread spun at 86 % of a core on the ever-readable listener.
    assert result["cpu_s"] < 0.3, result
    assert 1 <= result["pauses"] <= 12, result  # a growing back-off: few attempts in 2 s
    assert result["greeting"].startswith('{"kind":"hello"'), result


def test_replay_is_shared_and_trimmed_to_the_newest_steps() -> None:
    server = HistoryServer("tcp://127.0.0.1:0", max_replay_steps=100)
    try:
        server.publish(encode_header("steps", 1.0).encode())
        for n in range(1, 5001):
            server.publish(f'{{"kind":"step","step":{n},"time":1.0,"metrics":'
                           f'{{"loss":1.0}}}}\n'.encode())
            if n % 1000 == 0:
                server.publish(encode_epoch(n // 1000, 1.0, {"loss": 1.0}).encode())
        host, port = server.address.removeprefix("tcp://").rsplit(":", 1)
        received = []
        for _ in range(2):
            client = socket.create_connection((host, int(port)), timeout=5)
            data = b""
            while data.count(b"\n") < 1 + 1 + 100 + 5:
                chunk = client.recv(1 << 16)
                if not chunk:
                    break
                data += chunk
            client.close()
            received.append(data)
        assert poll_until(lambda: server.viewer_count == 0)
        hello, *lines = received[0].decode().splitlines()
        assert json.loads(hello)["dropped_steps"] == 4900
        records = [json.loads(line) for line in lines]
        assert [r["step"] for r in records if r["kind"] == "step"] == list(range(4901, 5001))
        assert [r["epoch"] for r in records if r["kind"] == "epoch"] == [1, 2, 3, 4, 5]
        assert received[0].split(b"\n", 1)[1] == received[1].split(b"\n", 1)[1]
    finally:
        server.close()
