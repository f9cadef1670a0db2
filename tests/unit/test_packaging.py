"""The package as a user gets it: build a wheel, install it into a fresh virtualenv, run it.

The venv uses ``--system-site-packages`` so the dependencies (textual, numpy...) come from this
interpreter instead of a download; the wheel itself is installed with ``--no-deps --no-index``.
The wheel is built from a copy of the source without ``.git``, as a release build sees it, and
without build isolation (the installed setuptools builds it; nothing is fetched).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lstm_top import Logger, __version__

PROJECT_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def run(command: list[str | Path], **options: object) -> subprocess.CompletedProcess[str]:
    # Without PYTHONPATH: a developer's source tree on it would shadow the installed wheel.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([str(c) for c in command], capture_output=True, text=True,
                          timeout=300, env=env, **options)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("setuptools", reason="setuptools is needed to build the wheel")
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (PROJECT_ROOT / name).exists():
            shutil.copy2(PROJECT_ROOT / name, source / name)
    shutil.copytree(PROJECT_ROOT / "lstm_top", source / "lstm_top",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    result = run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation",
                  "--no-index", "-w", out, "-q"], cwd=source)
    assert result.returncode == 0, result.stderr
    (built,) = out.glob("lstm_top-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("venv")
    result = run([sys.executable, "-m", "venv", "--system-site-packages", folder])
    assert result.returncode == 0, result.stderr
    python = folder / "bin" / "python"
    result = run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel])
    assert result.returncode == 0, result.stderr
    return folder


def test_wheel_holds_the_package_data(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "lstm_top/ui/lstm_top.tcss" in names  # the app cannot start without its stylesheet
    assert "lstm_top/hook/logger.py" in names
    assert "lstm_top/py.typed" in names  # PEP 561: users' type checkers read our hints
    assert not any(name.startswith("tests/") for name in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "lstm-top = lstm_top.cli:entry" in zipfile.ZipFile(wheel).read(entry_points).decode()
    assert wheel.name.startswith(f"lstm_top-{__version__}-")


def test_installed_command_runs_from_the_wheel(venv: Path, tmp_path: Path) -> None:
    where = run([venv / "bin" / "python", "-c", "import lstm_top; print(lstm_top.__file__)"],
                cwd=tmp_path)
    assert where.stdout.strip().startswith(str(venv)), where.stdout  # not the source tree
    command = venv / "bin" / "lstm-top"
    version = run([command, "--version"], cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"lstm-top {__version__}"

    history = tmp_path / "run.jsonl"
    with Logger(history, run_name="packaged") as logger:
        for epoch in range(1, 4):
            logger.log(epoch=epoch, loss=1.0 / epoch, val_loss=1.1 / epoch)
        logger.log(epoch=4, loss=float("nan"), val_loss=float("nan"))
    check = run([command, "check", history], cwd=tmp_path)
    assert check.returncode == 1, check.stdout + check.stderr  # the NaN is a warning sign
    assert "packaged" in check.stdout and "nonfinite" in check.stdout


@pytest.mark.parametrize("arguments", [["--help"], ["check", "--help"], ["demo", "--help"]],
                         ids=["lstm-top", "check", "demo"])
def test_every_command_has_help_with_examples(venv: Path, arguments: list[str]) -> None:
    result = run([venv / "bin" / "lstm-top", *arguments])
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout
    assert "example" in result.stdout.lower(), result.stdout


def test_pipx_install_from_the_wheel(wheel: Path, tmp_path: Path) -> None:
    pipx = shutil.which("pipx")
    if pipx is None:
        pytest.skip("pipx not installed (apt-get install pipx)")
    env = {"PIPX_HOME": str(tmp_path / "pipx"), "PIPX_BIN_DIR": str(tmp_path / "bin"),
           "PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    # This interpreter's site packages hold the dependencies: nothing to download.
    result = run([pipx, "install", "--python", sys.executable, "--system-site-packages",
                  "--pip-args=--no-index", wheel], env=env)
    assert result.returncode == 0, result.stderr
    version = run([tmp_path / "bin" / "lstm-top", "--version"], env=env)
    assert version.stdout.strip() == f"lstm-top {__version__}"
