"""Issue 8: security. Sockets are private, nothing on an input path is executed, and names from
a history file never drive the terminal in ``lstm-top check`` (the TUI: test_security_tui.py).
"""

from __future__ import annotations

import ast
import io
import json
import os
import socket
import stat
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import lstm_top
from lstm_top.check import run_check
from lstm_top.format import encode_end, encode_epoch, encode_header
from lstm_top.hook.logger import Logger, LoggerWarning
from lstm_top.hook.serve import HistoryServer
from lstm_top.sanitize import safe_text

PACKAGE = Path(lstm_top.__file__).resolve().parent

# Everything a hostile file can put in a name or value, and what must never reach a terminal.
HOSTILE = [
    "\x1b[2J\x1b[31mred",  # CSI: clear screen, colour
    "\x1b]52;c;cm0gLXJmIH4=\x07clip",  # OSC 52: write the clipboard
    "\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\",  # OSC 8 hyperlink
    "\x9b31mC1-CSI",  # 8-bit CSI
    "\x9d52;c;eA==\x9cC1-OSC",
    "\u202eevil\u202c.txt",  # bidi override
    "[bold red]markup[/]",
    "[@click=app.quit]x",
    "bell\x07back\x08cr\rnl\nnul\x00del\x7f",
    "\udcff-lone-surrogate",
]
FORBIDDEN = ["\x1b", "\x9b", "\x9d", "\x9c", "\x07", "\x08", "\r", "\x00", "\x7f", "\u202e",
             "\u202c", "\udcff"]


@pytest.fixture
def private_dir() -> Iterator[Path]:
    directory = Path(f"/tmp/lts-{os.getpid()}-{time.monotonic_ns() % 10**9}")
    directory.mkdir(mode=0o700)
    yield directory
    for child in directory.iterdir():
        child.unlink()
    directory.rmdir()


# --------------------------------------------------------------------------- sockets


def test_unix_socket_is_created_0600(private_dir: Path) -> None:
    path = private_dir / "run.sock"
    server = HistoryServer(f"unix:{path}")
    try:
        mode = os.lstat(path).st_mode
        assert stat.S_ISSOCK(mode)
        assert stat.S_IMODE(mode) == 0o600
    finally:
        server.close()
    assert not path.exists(), "the socket file is removed on close"


def test_refuses_a_path_that_is_not_a_socket(private_dir: Path) -> None:
    path = private_dir / "precious.txt"
    path.write_text("do not delete me")
    with pytest.raises(ValueError, match="not a socket"):
        HistoryServer(f"unix:{path}")
    assert path.read_text() == "do not delete me"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create another user's socket")
def test_refuses_a_socket_owned_by_another_user(private_dir: Path) -> None:
    path = private_dir / "theirs.sock"
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    other.bind(str(path))
    other.close()  # stale, but not ours
    os.chown(path, 65534, 65534)
    with pytest.raises(ValueError, match="another user"):
        HistoryServer(f"unix:{path}")
    assert path.exists()


def test_refuses_a_socket_someone_is_serving_on(private_dir: Path) -> None:
    path = private_dir / "busy.sock"
    first = HistoryServer(f"unix:{path}")
    try:
        with pytest.raises(ValueError, match="already serving"):
            HistoryServer(f"unix:{path}")
    finally:
        first.close()


def test_refuses_a_directory_other_users_may_write(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)  # world-writable without the sticky bit: anyone could swap it
    with pytest.raises(ValueError, match="writable by other users"):
        HistoryServer(f"unix:{shared / 'run.sock'}")


def test_a_refused_address_never_stops_the_logger(private_dir: Path, tmp_path: Path) -> None:
    target = private_dir / "file.txt"
    target.write_text("x")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logger = Logger(tmp_path / "run.jsonl", serve=f"unix:{target}")
        logger.log(epoch=1, loss=0.5)
        logger.close()
    assert any(issubclass(w.category, LoggerWarning) and "not a socket" in str(w.message)
               for w in caught)
    assert (tmp_path / "run.jsonl").read_text().count("\n") == 3


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "example.com"])
def test_tcp_refuses_non_loopback_unless_overridden(host: str) -> None:
    shown = f"[{host}]" if ":" in host else host
    with pytest.raises(ValueError, match="not a loopback address"):
        HistoryServer(f"tcp://{shown}:0")


def test_tcp_binds_loopback_by_default_and_elsewhere_only_when_asked() -> None:
    server = HistoryServer("tcp://127.0.0.1:0")
    try:
        host, _ = server._listener.getsockname()[:2]
        assert host == "127.0.0.1"
    finally:
        server.close()
    exposed = HistoryServer("tcp://0.0.0.0:0?allow_remote=1")
    try:
        assert exposed._listener.getsockname()[0] == "0.0.0.0"
    finally:
        exposed.close()


# --------------------------------------------------------------------------- no code from data

_FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}
_FORBIDDEN_MODULES = {"pickle", "cPickle", "dill", "marshal", "shelve", "yaml", "jsonpickle"}


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else (
                func.attr if isinstance(func, ast.Attribute) else "")
            builtin = isinstance(func, ast.Name) or (
                isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                and func.value.id == "builtins")  # re.compile is fine; compile() is not
            if name in _FORBIDDEN_CALLS and builtin:
                found.append(f"{path.name}:{node.lineno} calls {name}()")
            if name in ("load", "loads", "Unpickler") and isinstance(func, ast.Attribute) \
                    and isinstance(func.value, ast.Name) and func.value.id in _FORBIDDEN_MODULES:
                found.append(f"{path.name}:{node.lineno} calls {func.value.id}.{name}()")
            if any(k.arg == "shell" and isinstance(k.value, ast.Constant) and k.value.value
                   for k in node.keywords):
                found.append(f"{path.name}:{node.lineno} runs a shell")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""]
            for module in modules:
                if module.split(".")[0] in _FORBIDDEN_MODULES:
                    found.append(f"{path.name}:{node.lineno} imports {module}")
    return found


def test_no_pickle_eval_exec_or_yaml_load_anywhere_in_the_package() -> None:
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 10, "the scan must actually see the package"
    violations = [v for source in sources for v in _violations(source)]
    assert violations == []


def test_the_scan_catches_what_it_looks_for(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import pickle\nimport yaml\nx = eval('1')\nyaml.load(s)\n"
                   "subprocess.run('ls', shell=True)\nre.compile('x')\nbuiltins.exec(c)\n")
    assert len(_violations(bad)) == 6


# --------------------------------------------------------------------------- check output


def hostile_run(path: Path, name: str) -> None:
    lines = [encode_header(name, 1000.0, {name: name, "lr": name})]
    for epoch in range(1, 31):
        lines.append(encode_epoch(
            epoch, 1000.0 + epoch,
            {"loss": 1.0 / epoch, "val_loss": 0.5 + (epoch % 2) * 0.4, name: float(epoch),
             f"val_loss[{name}]": 5.0},
            {name: {"val_loss": 2.0 + epoch % 3, "n": 10}}))
    lines.append(encode_end("crashed", 1100.0, f"RuntimeError: {name}"))
    path.write_text("".join(lines) + '{"kind": "epoch", "epoch": "' + name.replace("\\", "")
                    .replace('"', "") + '"}\n', errors="surrogatepass")


@pytest.mark.parametrize("name", HOSTILE)
def test_check_text_output_never_drives_the_terminal(tmp_path: Path, name: str) -> None:
    path = tmp_path / "evil.jsonl"
    hostile_run(path, name)
    out, err = io.StringIO(), io.StringIO()
    code = run_check(str(path), out=out, err=err)
    assert code in (0, 1)
    text = out.getvalue() + err.getvalue()
    for bad in FORBIDDEN:
        assert bad not in text.replace("\n", ""), f"{bad!r} reached the terminal"
    text.encode("utf-8")  # printable on any UTF-8 terminal: no lone surrogate
    if name.startswith("["):
        assert name in text, "markup is shown literally"


@pytest.mark.parametrize("name", HOSTILE)
def test_check_json_output_escapes_everything(tmp_path: Path, name: str) -> None:
    path = tmp_path / "evil.jsonl"
    hostile_run(path, name)
    out = io.StringIO()
    run_check(str(path), as_json=True, out=out, err=io.StringIO())
    raw = out.getvalue()
    assert raw.isascii() and all(ch >= " " for ch in raw.rstrip("\n"))
    report = json.loads(raw)
    assert report["run"] == name[:200]


def test_check_through_a_real_terminal_pipe(tmp_path: Path) -> None:
    """The installed command, its stdout bytes as a terminal would receive them."""
    path = tmp_path / "evil.jsonl"
    hostile_run(path, HOSTILE[0] + HOSTILE[1] + HOSTILE[5])
    result = subprocess.run([sys.executable, "-m", "lstm_top", "check", str(path)],
                            capture_output=True, timeout=60, check=False)
    assert result.returncode in (0, 1), result.stderr.decode(errors="replace")
    for output in (result.stdout, result.stderr):
        assert b"\x1b" not in output and b"\x07" not in output
        assert "\u202e".encode() not in output and b"\xc2\x9b" not in output
    assert b"Traceback" not in result.stderr


def test_sanitize_is_what_check_needs() -> None:
    for name in HOSTILE:
        shown = safe_text(name)
        assert not any(bad in shown for bad in [*FORBIDDEN, "\n"])
