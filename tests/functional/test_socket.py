"""Streaming a run over a real socket: a real Logger serving, real viewers (threads and a
subprocess killed with SIGKILL), a viewer that never reads, restarts and impostors."""

from __future__ import annotations

import os
import signal
import socket
import stat
import statistics
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from lstm_top.format import encode_epoch, encode_header, encode_step
from lstm_top.hook.logger import Logger, LoggerWarning
from lstm_top.hook.serve import HistoryServer
from lstm_top.sources import socket_client
from lstm_top.sources.base import DISCONNECTED, ENDED, ERROR, LIVE, SourceUpdate, display_state
from lstm_top.sources.open import open_source
from lstm_top.sources.socket_client import SocketSource
from tests.waiting import WAIT_S, poll_until


def epochs_of(source: SocketSource) -> list[int]:
    with source.history.lock:
        return [int(e) for e in source.history.epochs.index]


class Recorder:
    def __init__(self) -> None:
        self.updates: list[SourceUpdate] = []

    def __call__(self, update: SourceUpdate) -> None:
        self.updates.append(update)


@pytest.fixture
def sock_dir(tmp_path: Path) -> Path:
    # AF_UNIX paths are limited to ~107 bytes; pytest's tmp_path can be longer.
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix="lt-"))
    directory.chmod(0o700)
    yield directory
    for child in directory.iterdir():
        child.unlink()
    directory.rmdir()


@pytest.fixture
def sources() -> Iterator[list[SocketSource]]:
    started: list[SocketSource] = []
    threads_before = {t.ident for t in threading.enumerate()}
    yield started
    for source in started:
        source.stop()
    assert poll_until(lambda: {t.ident for t in threading.enumerate()} <= threads_before), \
        [t.name for t in threading.enumerate()]


def viewer(target: str, sources: list[SocketSource]) -> tuple[SocketSource, Recorder]:
    source = open_source(target)
    assert isinstance(source, SocketSource)
    recorder = Recorder()
    source.start(recorder)
    sources.append(source)
    return source, recorder


def test_two_viewers_one_late_see_the_whole_run_and_its_end(tmp_path: Path, sock_dir: Path,
                                                           sources: list[SocketSource]) -> None:
    address = f"unix:{sock_dir}/run.sock"
    logger = Logger(tmp_path / "run.jsonl", run_name="served", serve=address)
    early, _ = viewer(address, sources)
    for n in range(1, 51):
        logger.log(epoch=n, loss=1.0 / n, val_loss=1.5 / n)
    assert poll_until(lambda: epochs_of(early) == list(range(1, 51)))
    late, late_updates = viewer(address, sources)
    assert poll_until(lambda: epochs_of(late) == list(range(1, 51)))  # the replay
    assert late.history.run_name == "served"
    for n in range(51, 61):
        logger.log(epoch=n, loss=1.0 / n, val_loss=1.5 / n)
    logger.close()
    for source in (early, late):
        assert poll_until(lambda source=source: source.state == ENDED)
        assert epochs_of(source) == list(range(1, 61))
        assert source.history.problem_count == 0
        assert display_state(source) == "finished"
    # The replay arrived coalesced, not one update per record.
    assert len(late_updates.updates) < 30
    assert not (sock_dir / "run.sock").exists()  # the server removed its socket
    assert (tmp_path / "run.jsonl").read_bytes().count(b'"kind":"epoch"') == 60  # still written


def test_tcp_loopback_streams_too(sources: list[SocketSource]) -> None:
    server = HistoryServer("tcp://127.0.0.1:0")
    try:
        server.publish(encode_header("tcp", 1.0).encode())
        source, _ = viewer(server.address, sources)
        server.publish(encode_epoch(1, 2.0, {"loss": 1.0}).encode())
        assert poll_until(lambda: epochs_of(source) == [1])
        assert source.history.run_name == "tcp"
    finally:
        server.close()


def test_a_viewer_killed_with_sigkill_disturbs_nothing(tmp_path: Path, sock_dir: Path,
                                                       sources: list[SocketSource]) -> None:
    address = f"unix:{sock_dir}/run.sock"
    logger = Logger(tmp_path / "run.jsonl", serve=address)
    script = (
        "import sys, time\n"
        "from lstm_top.sources.open import open_source\n"
        "s = open_source(sys.argv[1])\n"
        "s.start(lambda u: print(len(u.history.epochs), flush=True))\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script, address], stdout=subprocess.PIPE,
                             text=True)
    counts: list[int] = []  # epochs the child viewer reports, read without blocking the test
    reader = threading.Thread(target=lambda: counts.extend(int(line) for line in child.stdout),
                              daemon=True)
    reader.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", LoggerWarning)  # any logger trouble fails the test
            n = 0
            deadline = time.monotonic() + WAIT_S
            while not (counts and counts[-1] >= 5) and time.monotonic() < deadline:
                n += 1
                logger.log(epoch=n, loss=1.0)
                time.sleep(0.02)
            assert counts and counts[-1] >= 5, "the subprocess viewer never received records"
            child.send_signal(signal.SIGKILL)
            child.wait(5)
            for _ in range(200):  # training goes on, writing into a socket nobody reads
                n += 1
                logger.log(epoch=n, loss=1.0)
            server = logger._server
            assert poll_until(lambda: server.viewer_count == 0)
            fresh, _ = viewer(address, sources)
            assert poll_until(lambda: epochs_of(fresh) == list(range(1, n + 1)))
            logger.close()
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(5)
        reader.join(5)
        child.stdout.close()


def _median_log_seconds(logger: Logger, first_epoch: int, count: int) -> float:
    durations = []
    metrics = {f"metric_{i}": 0.1 * i for i in range(20)}  # ~500-byte records
    for n in range(first_epoch, first_epoch + count):
        started = time.perf_counter()
        logger.log(epoch=n, **metrics)
        durations.append(time.perf_counter() - started)
    return statistics.median(durations)


def test_a_viewer_that_never_reads_does_not_slow_training(tmp_path: Path, sock_dir: Path) -> None:
    address = f"unix:{sock_dir}/run.sock"
    logger = Logger(tmp_path / "run.jsonl", serve=address)
    count = 3000  # 1.5 MB: far beyond the socket buffer of the stuck viewer
    try:
        _median_log_seconds(logger, 1, 200)  # warm up
        without = _median_log_seconds(logger, 201, count)
        stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stuck.connect(str(sock_dir / "run.sock"))
        try:
            assert poll_until(lambda: logger._server.viewer_count == 1)
            with_stuck = _median_log_seconds(logger, 201 + count, count)
            started = time.perf_counter()
            logger.close()
            close_seconds = time.perf_counter() - started
        finally:
            stuck.close()
    finally:
        logger.close()
    print(f"\nlog() median: {without * 1e6:.1f} µs alone, {with_stuck * 1e6:.1f} µs with a "
          f"stuck viewer (ratio {with_stuck / without:.2f}); close {close_seconds:.2f} s")
    assert with_stuck < 2.0 * without + 20e-6
    assert close_seconds < 1.5  # close waits for a stuck viewer only briefly


def test_a_viewer_falling_behind_is_dropped_and_can_replay(sources: list[SocketSource],
                                                           sock_dir: Path) -> None:
    server = HistoryServer(f"unix:{sock_dir}/run.sock", max_viewer_lag_bytes=64 << 10)
    try:
        server.publish(encode_header("lag", 1.0).encode())
        stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stuck.connect(str(sock_dir / "run.sock"))
        try:
            assert poll_until(lambda: server.viewer_count == 1)
            for n in range(1, 5001):  # ~250 kB beyond what the kernel buffers hold
                server.publish(encode_epoch(n, float(n), {"loss": 1.0, "x": 0.5}).encode())
            assert poll_until(lambda: server.viewers_dropped_slow == 1)
            assert server.viewer_count == 0
            stuck.settimeout(5)
            received = bytearray()
            while chunk := stuck.recv(1 << 16):  # what got through, then the end of stream
                received += chunk
            assert received.startswith(b'{"kind":"hello"')
        finally:
            stuck.close()
        source, _ = viewer(server.address, sources)  # a reconnecting viewer gets everything
        assert poll_until(lambda: epochs_of(source) == list(range(1, 5001)))
    finally:
        server.close()


def test_restarted_training_shows_disconnected_then_a_new_run(sock_dir: Path,
                                                              sources: list[SocketSource]) -> None:
    address = f"unix:{sock_dir}/run.sock"
    first = HistoryServer(address)
    first.publish(encode_header("one", 1.0).encode())
    first.publish(encode_epoch(1, 2.0, {"loss": 1.0}).encode())
    source, recorder = viewer(address, sources)
    assert poll_until(lambda: epochs_of(source) == [1])
    first_history = source.history
    first.close()  # the training process died without an end record
    assert poll_until(lambda: source.state == DISCONNECTED)
    assert display_state(source) == "disconnected"
    assert "reconnect" in (source.message or "")
    second = HistoryServer(address)
    try:
        second.publish(encode_header("two", 3.0).encode())
        second.publish(encode_epoch(1, 4.0, {"loss": 0.5}).encode())
        second.publish(encode_epoch(2, 5.0, {"loss": 0.4}).encode())
        assert poll_until(lambda: source.state == LIVE and epochs_of(source) == [1, 2])
        assert source.history is not first_history
        assert source.history.run_name == "two"
        assert [int(e) for e in first_history.epochs.index] == [1]  # the old run is kept
        assert sum(u.new_run for u in recorder.updates) == 1
    finally:
        second.close()


def test_same_server_reconnect_replays_without_duplicates(sock_dir: Path,
                                                          sources: list[SocketSource]) -> None:
    server = HistoryServer(f"unix:{sock_dir}/run.sock")
    try:
        server.publish(encode_header("same", 1.0).encode())
        for n in range(1, 4):
            server.publish(encode_epoch(n, float(n), {"loss": 1.0}).encode())
        source, recorder = viewer(server.address, sources)
        assert poll_until(lambda: epochs_of(source) == [1, 2, 3])
        # Cut this viewer's connection from the server side (as a lag drop does).
        assert poll_until(lambda: server.viewer_count == 1)
        for viewer_state in list(server._viewers.values()):
            viewer_state.sock.shutdown(socket.SHUT_RDWR)
        assert poll_until(lambda: source.connections == 2 and source.state == LIVE)
        server.publish(encode_epoch(4, 4.0, {"loss": 1.0}).encode())
        assert poll_until(lambda: epochs_of(source) == [1, 2, 3, 4])
        assert not any(u.new_run for u in recorder.updates)
    finally:
        server.close()


def test_a_server_that_is_not_lstm_top_is_refused_clearly(sock_dir: Path, monkeypatch,
                                                          sources: list[SocketSource]) -> None:
    monkeypatch.setattr(socket_client, "HELLO_TIMEOUT_S", 0.5)
    for banner in (b"SSH-2.0-OpenSSH_9.6\r\n", b""):  # a chatty impostor, a silent one
        path = sock_dir / "other.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        listener.listen(1)
        accepted: list[socket.socket] = []

        def serve(listener: socket.socket = listener, banner: bytes = banner,
                  accepted: list[socket.socket] = accepted) -> None:
            conn, _ = listener.accept()
            accepted.append(conn)
            if banner:
                conn.sendall(banner)

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            source, _ = viewer(f"unix:{path}", sources)
            assert poll_until(lambda source=source: source.state == ERROR)
            assert "lstm-top" in (source.message or "")
            assert display_state(source) == "error"
        finally:
            thread.join(5)
            for conn in accepted:
                conn.close()
            listener.close()
            path.unlink()


def test_waiting_for_a_server_that_is_not_there_yet(sock_dir: Path,
                                                    sources: list[SocketSource]) -> None:
    address = f"unix:{sock_dir}/later.sock"
    source, _ = viewer(address, sources)
    assert poll_until(lambda: source.message is not None)
    assert display_state(source) == "waiting"
    server = HistoryServer(address)
    try:
        server.publish(encode_header("late", 1.0).encode())
        assert poll_until(lambda: source.state == LIVE and source.history.run_name == "late")
        assert source.message is None
    finally:
        server.close()


def test_replay_keeps_every_epoch_but_caps_steps_with_a_note(sock_dir: Path,
                                                             sources: list[SocketSource]) -> None:
    server = HistoryServer(f"unix:{sock_dir}/run.sock", max_replay_steps=10)
    try:
        server.publish(encode_header("steps", 1.0).encode())
        for n in range(1, 101):
            server.publish(encode_step(n, 1 + n // 50, float(n), {"loss": 1.0}).encode())
            if n % 50 == 0:
                server.publish(encode_epoch(n // 50, float(n), {"loss": 1.0}).encode())
        source, _ = viewer(server.address, sources)
        # the replay's last record is epoch 2, after the steps: wait for all of it
        assert poll_until(lambda: len(source.history.steps) == 10
                          and epochs_of(source) == [1, 2]), epochs_of(source)
        assert [int(s) for s in source.history.steps.index] == list(range(91, 101))
        assert "90 older" in (source.message or "")
    finally:
        server.close()


# ---------------------------------------------------------------------------- socket safety


def test_unix_socket_is_private_and_paths_are_not_hijacked(sock_dir: Path) -> None:
    path = sock_dir / "run.sock"
    server = HistoryServer(f"unix:{path}")
    try:
        assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600
        with pytest.raises(ValueError, match="already serving"):
            HistoryServer(f"unix:{path}")
    finally:
        server.close()
    # A stale socket of ours (a killed training) is replaced.
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()
    HistoryServer(f"unix:{path}").close()
    # A regular file is never replaced.
    regular = sock_dir / "notes.txt"
    regular.write_text("precious")
    with pytest.raises(ValueError, match="not a socket"):
        HistoryServer(f"unix:{regular}")
    assert regular.read_text() == "precious"
    regular.unlink()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
def test_another_users_socket_is_refused(sock_dir: Path) -> None:
    path = sock_dir / "theirs.sock"
    theirs = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    theirs.bind(str(path))
    theirs.close()
    os.chown(path, 65534, 65534)
    with pytest.raises(ValueError, match="another user"):
        HistoryServer(f"unix:{path}")
    assert path.exists()


def test_a_directory_others_can_write_is_refused_unless_sticky(sock_dir: Path) -> None:
    shared = sock_dir / "shared"
    shared.mkdir()
    try:
        shared.chmod(0o777)
        with pytest.raises(ValueError, match="writable by other users"):
            HistoryServer(f"unix:{shared}/run.sock")
        shared.chmod(0o1777)  # like /tmp: others cannot remove or replace our socket
        HistoryServer(f"unix:{shared}/run.sock").close()
    finally:
        shared.rmdir()


def test_tcp_binds_loopback_only_unless_explicitly_allowed() -> None:
    with pytest.raises(ValueError, match="loopback"):
        HistoryServer("tcp://0.0.0.0:0")
    server = HistoryServer("tcp://0.0.0.0:0?allow_remote=1")
    server.close()
    with warnings.catch_warnings(record=True) as logger_warnings:
        warnings.simplefilter("always")
        Logger(os.devnull, serve="tcp://0.0.0.0:0").close()
    assert any("loopback" in str(w.message) for w in logger_warnings)


def test_after_a_crash_a_restarted_training_on_the_same_address_is_followed(
        tmp_path: Path, sock_dir: Path, sources: list[SocketSource]) -> None:
    address = f"unix:{sock_dir}/run.sock"
    with pytest.raises(RuntimeError), Logger(tmp_path / "a.jsonl", serve=address) as logger:
        source, recorder = viewer(address, sources)
        source.backoff_max = 0.2  # look for the restart often, for the test's sake
        logger.log(epoch=1, loss=1.0)
        assert poll_until(lambda: epochs_of(source) == [1])
        raise RuntimeError("out of memory")
    assert poll_until(lambda: source.state == ENDED)
    assert display_state(source) == "crashed"
    crashed = source.history
    restarted = Logger(tmp_path / "b.jsonl", run_name="retry", serve=address)
    try:
        restarted.log(epoch=1, loss=0.9)
        assert poll_until(lambda: source.history.run_name == "retry" and epochs_of(source) == [1])
        assert display_state(source) == "live"
        assert crashed.end_status == "crashed"  # the crashed run's view is kept
        assert sum(u.new_run for u in recorder.updates) == 1
    finally:
        restarted.close()
