"""lstm-top over SSH: a real ``sshd`` on 127.0.0.1, a real ``ssh -tt`` inside tmux at 80x24.

The test starts its own sshd (a throwaway host key and client key in a temp folder, its own
sshd_config, ``UsePAM no``, loopback only, a spare port), runs ``ssh -tt ... lstm-top FILE`` in a
tmux pane with ``TERM=xterm-256color``, appends epochs to the file while it is watched, reads the
warning off the captured pane, presses ``q`` and checks that the shell is back.

Needs root (sshd logs in as the user it runs as only when it is root) and Debian's
openssh-server, openssh-client and tmux; skips with the reason otherwise.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lstm_top import Logger
from tests.e2e.tmux import TMUX, Pane
from tests.e2e.tmux import pane as tmux_pane
from tests.waiting import WAIT_S

SSHD = shutil.which("sshd") or next(
    (p for p in ("/usr/sbin/sshd", "/sbin/sshd") if os.path.exists(p)), None)
SSH = shutil.which("ssh")
SSH_KEYGEN = shutil.which("ssh-keygen")


def _missing() -> str | None:
    if SSHD is None:
        return "sshd not installed (apt-get install openssh-server)"
    if SSH is None or SSH_KEYGEN is None:
        return "ssh client not installed (apt-get install openssh-client)"
    if TMUX is None:
        return "tmux not installed (apt-get install tmux)"
    if os.geteuid() != 0:
        return "needs root: a non-root sshd cannot start a login session"
    return None


pytestmark = [pytest.mark.e2e, pytest.mark.skipif(_missing() is not None,
                                                  reason=_missing() or "")]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout: float, what: str,
               describe: Callable[[], str] = lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{describe()}")


def lstm_top_command() -> list[str]:
    """This interpreter's ``lstm-top`` script, by absolute path: the remote shell's PATH is
    sshd's default, which does not hold a virtualenv or pyenv."""
    script = Path(sys.executable).parent / "lstm-top"
    return [str(script)] if script.exists() else [sys.executable, "-m", "lstm_top"]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """(port, client key) of an sshd serving 127.0.0.1 until the module's tests are done."""
    folder = tmp_path_factory.mktemp("sshd")
    assert SSHD and SSH_KEYGEN
    for name in ("host_key", "client_key"):
        subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)],
                       check=True)
    (folder / "authorized_keys").write_text((folder / "client_key.pub").read_text())
    port = free_port()
    config = folder / "sshd_config"
    config.write_text(f"""\
Port {port}
ListenAddress 127.0.0.1
HostKey {folder / "host_key"}
PidFile {folder / "sshd.pid"}
AuthorizedKeysFile {folder / "authorized_keys"}
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
PrintMotd no
PrintLastLog no
""")
    # Debian's sshd refuses to start without its privilege-separation folder.
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log = open(folder / "sshd.log", "wb")  # noqa: SIM115 - closed after the daemon ends
    daemon = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)

    def listening() -> bool:
        if daemon.poll() is not None:
            raise AssertionError(f"sshd exited: {(folder / 'sshd.log').read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return True
        return False

    try:
        wait_until(listening, 15, "sshd to listen")
        yield port, folder / "client_key"
    finally:
        daemon.terminate()
        try:
            daemon.wait(5)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(5)
        log.close()


@pytest.fixture
def pane() -> Iterator[Pane]:
    with tmux_pane() as made:
        yield made


def test_watch_a_run_over_ssh(sshd: tuple[int, Path], pane: Pane, tmp_path: Path) -> None:
    port, key = sshd
    run = tmp_path / "remote.jsonl"
    logger = Logger(run, run_name="over-ssh")
    for epoch in range(1, 4):
        logger.log(epoch=epoch, loss=1.0 / epoch, val_loss=1.1 / epoch)

    # What the user types on their laptop; the remote side gets a throwaway config folder so
    # the viewer's saved preferences do not touch the real home.
    remote = shlex.join(["env", f"XDG_CONFIG_HOME={tmp_path / 'config'}",
                         *lstm_top_command(), str(run)])
    ssh = shlex.join([str(SSH), "-tt", "-p", str(port), "-i", str(key),
                      "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                      "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "localhost", remote])
    pane.start("bash --norc --noprofile", {**os.environ, "TERM": "xterm-256color"})
    assert pane.display("#{pane_width}x#{pane_height}") == "80x24"
    pane.send(f"export TERM=xterm-256color PS1='local$ '; {ssh}", "Enter")

    assert "nonfinite" not in pane.wait_for("over-ssh", timeout=60)  # the viewer shows the run

    # Training goes on while it is watched: two more epochs, the second diverging.
    logger.log(epoch=4, loss=0.2, val_loss=0.25)
    logger.log(epoch=5, loss=float("nan"), val_loss=float("nan"))
    pane.wait_for("nonfinite", "CRITICAL")  # the warning appears
    logger.close()

    pane.send("q")

    def prompt_is_back() -> bool:
        lines = [line for line in pane.screen().splitlines() if line.strip()]
        return bool(lines) and lines[-1].strip() == "local$"

    # The viewer quit, ssh closed the connection, and the local shell prompts again...
    wait_until(prompt_is_back, WAIT_S, "the local prompt after q", pane.screen)
    # ...and answers.
    pane.send("echo back-in-$((6 * 7))", "Enter")
    pane.wait_for("back-in-42")  # the local shell answers


def test_sshd_is_loopback_only(sshd: tuple[int, Path]) -> None:
    port, _ = sshd
    if not shutil.which("ss"):
        pytest.skip("ss (iproute2) not installed")
    listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True,
                               text=True).stdout
    assert {line.split()[3] for line in listening.splitlines()} == {f"127.0.0.1:{port}"}



def test_follow_a_remote_file_through_ssh_url(sshd: tuple[int, Path], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """``lstm-top ssh://user@host:port/path``: the viewer's side runs ``ssh ... tail -F``;
    epochs appear as written, a truncated file is a new run, a dropped connection reconnects."""
    from lstm_top.sources.open import open_source
    from lstm_top.sources.ssh import SshSource

    port, key = sshd
    monkeypatch.setenv("LSTM_TOP_SSH", shlex.join([
        str(SSH), "-i", str(key), "-o", "StrictHostKeyChecking=no", "-o",
        "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes"]))
    run = tmp_path / "remote.jsonl"
    logger = Logger(run, run_name="far-away")
    logger.log(epoch=1, loss=1.0, val_loss=1.1)
    user = os.environ.get("USER") or "root"
    source = open_source(f"ssh://{user}@127.0.0.1:{port}{run}")
    assert isinstance(source, SshSource)
    updates: list[object] = []
    source.start(updates.append)
    try:
        wait_until(lambda: len(source.history.epochs) == 1, 30, "the first epoch over ssh",
                   lambda: f"{source.state}: {source.message}")
        assert source.history.run_name == "far-away" and source.state == "live"
        began = time.monotonic()
        logger.log(epoch=2, loss=0.5, val_loss=0.6)
        wait_until(lambda: len(source.history.epochs) == 2, 10, "an appended epoch")
        assert time.monotonic() - began < 1.0 + 3.0  # tail -F polls each second; a margin
        logger.close()
        # A dropped connection: ssh is started again and the file read again, same run.
        process = source._process
        assert process is not None
        process.kill()
        wait_until(lambda: source.connects >= 2 and len(source.history.epochs) == 2, 30,
                   "the reconnect", lambda: f"{source.state}: {source.message}")
        assert not any(getattr(u, "new_run", False) for u in updates)
        # Truncated and rewritten by another run: a new run.
        run.write_text("")
        time.sleep(1.5)
        other = Logger(run, run_name="second")
        other.log(epoch=1, loss=2.0, val_loss=2.1)
        other.close()
        wait_until(lambda: source.history.run_name == "second", 15, "the new run",
                   lambda: f"{source.state}: {source.message} {source.history.run_name}")
        assert any(getattr(u, "new_run", False) for u in updates)
    finally:
        source.stop()
    assert source._process is None


def test_a_remote_run_that_stopped_days_ago_is_not_growing_not_stalled(
        sshd: tuple[int, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A remote history with no end record, last written three days ago: what tail sends at
    once is the file as it stands, its records keep their times, and the run reads as a past
    one ("not growing"); a record appended while watched makes it live."""
    from lstm_top.sources.base import display_state
    from lstm_top.sources.open import open_source

    port, key = sshd
    monkeypatch.setenv("LSTM_TOP_SSH", shlex.join([
        str(SSH), "-i", str(key), "-o", "StrictHostKeyChecking=no", "-o",
        "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes"]))
    then = time.time() - 3 * 86_400
    run = tmp_path / "old.jsonl"
    lines = [f'{{"kind":"header","format":"lstm-top","version":1,"run":"old","started":{then}}}']
    lines += [f'{{"kind":"epoch","epoch":{e},"time":{then + 60 * e},'
              f'"metrics":{{"loss":{1 / e},"val_loss":{1.1 / e}}}}}' for e in range(1, 6)]
    run.write_text("\n".join(lines) + "\n")
    user = os.environ.get("USER") or "root"
    source = open_source(f"ssh://{user}@127.0.0.1:{port}{run}")
    source.start(lambda update: None)
    try:
        wait_until(lambda: len(source.history.epochs) == 5 and not source.reading_backlog, 30,
                   "the remote file read", lambda: f"{source.state}: {source.message}")
        assert display_state(source) == "not growing"
        with run.open("a") as handle:
            handle.write(f'{{"kind":"epoch","epoch":6,"time":{time.time()},'
                         f'"metrics":{{"loss":0.16,"val_loss":0.18}}}}\n')
        wait_until(lambda: len(source.history.epochs) == 6, 10, "the appended epoch")
        assert display_state(source) == "live"
    finally:
        source.stop()
