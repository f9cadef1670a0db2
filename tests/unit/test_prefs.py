"""Viewer preferences: XDG location, round trip, corrupt files, atomic writes, reset."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lstm_top.prefs import Prefs, load_prefs, prefs_path, reset_prefs, save_prefs


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config"


def test_location_follows_xdg_config_home(config_home: Path) -> None:
    assert prefs_path() == config_home / "lstm-top" / "prefs.json"


def test_location_defaults_to_dot_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert prefs_path() == tmp_path / ".config" / "lstm-top" / "prefs.json"
    # A relative XDG_CONFIG_HOME is invalid by the spec and ignored.
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")
    assert prefs_path() == tmp_path / ".config" / "lstm-top" / "prefs.json"


def test_nothing_saved_gives_defaults(config_home: Path) -> None:
    assert load_prefs() == Prefs()
    assert not prefs_path().exists()  # loading never creates anything


def test_round_trip_between_runs(config_home: Path) -> None:
    prefs = load_prefs()
    prefs.log_scale, prefs.smoothing, prefs.window, prefs.series = True, 0.6, 50, "val"
    assert save_prefs(prefs)
    assert load_prefs() == Prefs(log_scale=True, smoothing=0.6, window=50, series="val")
    stored = json.loads(prefs_path().read_text())
    assert stored["version"] == 1 and stored["log_scale"] is True


@pytest.mark.parametrize("content", [b"", b"{", b"\x00\xff garbage", b"[1, 2]", b"null",
                                     b"[" * 100_000, b'{"log_scale": true' + b" " * 70_000 + b"}"])
def test_corrupt_file_gives_defaults(config_home: Path, content: bytes) -> None:
    prefs_path().parent.mkdir(parents=True)
    prefs_path().write_bytes(content)
    assert load_prefs() == Prefs()


def test_wrong_field_types_fall_back_one_by_one(config_home: Path) -> None:
    prefs_path().parent.mkdir(parents=True)
    prefs_path().write_text(json.dumps({"log_scale": "yes", "smoothing": 0.3, "window": 2.5}))
    assert load_prefs() == Prefs(smoothing=0.3)
    prefs_path().write_text(json.dumps({"log_scale": True, "smoothing": 7, "window": -4}))
    assert load_prefs() == Prefs(log_scale=True, smoothing=0.99, window=0)  # clamped
    prefs_path().write_text(json.dumps({"series": "\x1b[2J", "window": True}))
    assert load_prefs() == Prefs()  # no terminal escapes, and a bool is not a window
    prefs_path().write_text('{"smoothing": NaN, "window": Infinity}')
    assert load_prefs() == Prefs()


def test_unknown_keys_survive_a_save(config_home: Path) -> None:
    prefs_path().parent.mkdir(parents=True)
    prefs_path().write_text(json.dumps({"version": 2, "window": 10, "theme": "dark"}))
    prefs = load_prefs()
    assert prefs.window == 10 and prefs.extra == {"theme": "dark"}
    prefs.window = 20
    save_prefs(prefs)
    assert json.loads(prefs_path().read_text())["theme"] == "dark"
    assert load_prefs().window == 20


def test_write_is_atomic_and_leaves_no_temporary_file(config_home: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    save_prefs(Prefs(window=5))
    before = prefs_path().read_bytes()

    def failing_replace(src: str, dst: str) -> None:
        raise OSError("simulated crash between write and rename")

    monkeypatch.setattr(os, "replace", failing_replace)
    assert save_prefs(Prefs(window=99)) is False
    assert prefs_path().read_bytes() == before  # the old file is whole
    assert sorted(p.name for p in prefs_path().parent.iterdir()) == ["prefs.json"]


def test_unwritable_config_dir_is_not_an_error(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(blocker))
    assert save_prefs(Prefs(log_scale=True)) is False
    assert load_prefs() == Prefs()


def test_reset_forgets(config_home: Path) -> None:
    save_prefs(Prefs(log_scale=True))
    assert reset_prefs() is True
    assert load_prefs() == Prefs()
    assert reset_prefs() is False  # nothing left to forget


def test_explicit_path(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "prefs.json"
    assert save_prefs(Prefs(smoothing=0.25), path)
    assert load_prefs(path).smoothing == 0.25
