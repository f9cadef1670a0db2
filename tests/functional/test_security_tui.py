"""Issue 8: the TUI with hostile data and under faults, driven by ``App.run_test()``.

Run, metric, subset names and config values carrying ANSI/OSC escapes, C1 controls, bidi
overrides and Textual markup are shown literally; clicking them does nothing; no ESC byte from
the data reaches the screen; a 400-character name is cut, not allowed to break the layout.
Faults: an unreadable file, a folder of thousands of files, a 20x5 terminal and back — clear
messages, no traceback, and ``q`` quits every time.
"""

from __future__ import annotations

import asyncio
import html
import os
import re
import threading
from pathlib import Path

import pytest

try:
    from lstm_top.ui.app import LstmTopApp
except ImportError as exc:  # pragma: no cover - the app is another engineer's module
    pytest.skip(f"the TUI is not importable: {exc}", allow_module_level=True)

from lstm_top.format import encode_end, encode_epoch, encode_header
from tests.functional.pilots import WAIT_S, settled, wait_painted, wait_until

pytestmark = pytest.mark.anyio

FROZEN_NOW = 1_000_000.0
SIZE = (100, 30)
# No ESC, CSI/OSC introducers, BEL, bidi controls: what would drive or reorder the terminal.
FORBIDDEN = ["\x1b", "\x9b", "\x9d", "\x9c", "\x07", "\x08", "\x00", "\u202e", "\u202c",
             "\udcff"]
INJECTED = ("[@click=app.quit]x\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\x9b31m"
            "\u202eevil\u202c[bold red]R[/]")


def make_app(*targets: Path | str) -> LstmTopApp:
    return LstmTopApp([str(t) for t in targets], clock=lambda: FROZEN_NOW)


def screen_text(app: LstmTopApp) -> str:
    """What the terminal would show, as text (the SVG export carries every glyph)."""
    svg = app.export_screenshot()
    body = svg[svg.find("<g class=") :] if "<g class=" in svg else svg  # skip the CSS
    text = html.unescape(re.sub(r"<[^>]+>", "", body))
    return text.replace("\xa0", " ")


def hostile_run(path: Path, name: str, epochs: int = 12) -> None:
    lines = [encode_header(name, FROZEN_NOW - 100, {name: name, "optimizer": name})]
    for epoch in range(1, epochs + 1):
        lines.append(encode_epoch(epoch, FROZEN_NOW - 100 + epoch,
                                  {"loss": 1.0 / epoch, "val_loss": 1.2 / epoch,
                                   name: 0.5, f"{name[:30]}_acc": 0.9},
                                  {name: {"val_loss": 1.5 / epoch, "n": 7}}))
    lines.append(encode_end("crashed", FROZEN_NOW - 50, f"RuntimeError: {name}"))
    path.write_text("".join(lines), errors="surrogatepass")


async def test_injected_names_are_literal_inert_and_never_reach_the_terminal(
        tmp_path: Path) -> None:
    path = tmp_path / "evil.jsonl"
    hostile_run(path, INJECTED)
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "epoch 12" in screen_text(app), what="the run")
        await settled(pilot)
        shown = screen_text(app)
        for bad in FORBIDDEN:
            assert bad not in shown, f"{bad!r} from the data reached the screen"
        assert "@click=app.quit" in shown, "markup is shown as text, not swallowed"
        assert "Traceback" not in shown
        # click everywhere the name could be: nothing quits, nothing raises
        for y in range(SIZE[1] - 1):  # not the footer: its "q Quit" is meant to quit
            for x in (4, 40):
                await pilot.click(offset=(x, y))
        await pilot.pause(0.2)
        assert app.is_running, "clicking injected [@click=app.quit] must not quit"
        for key in ("r", "tab", "m", "question_mark", "escape"):
            await pilot.press(key)
        await pilot.pause(0.2)
        assert app.is_running
        await pilot.press("q")
        await wait_until(pilot, lambda: not app.is_running, what="q to quit")


async def test_a_400_character_name_is_cut_not_allowed_to_break_the_layout(
        tmp_path: Path) -> None:
    long_name = "run-" + "W" * 200 + "界" * 100 + "-tail"
    path = tmp_path / "long.jsonl"
    hostile_run(path, long_name)
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: "crashed" in screen_text(app), what="the run")
        await settled(pilot)
        shown = screen_text(app)
        assert "-tail" not in shown, "the name is truncated"
        assert "W" * 20 + "…" in shown or "W…" in shown, "with an ellipsis"
        assert "crashed" in shown, "the run's state is still visible beside the name"
        assert "train" in shown and "val" in shown, "the chart legend is still drawn"
        await pilot.press("q")
        await wait_until(pilot, lambda: not app.is_running, what="q to quit")


# --------------------------------------------------------------------------- faults


async def test_unreadable_file_is_a_clear_message_and_q_quits(tmp_path: Path) -> None:
    path = tmp_path / "locked.jsonl"
    path.write_text(encode_header("locked", 1.0))
    os.chmod(path, 0)
    if os.access(path, os.R_OK):  # root reads anything: a symlink loop is unreadable to all
        path.unlink()
        os.symlink(path, path)
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "locked.jsonl" in screen_text(app), what="a message")
        await settled(pilot)
        shown = screen_text(app)
        assert "Traceback" not in shown
        assert "cannot read" in shown or "error" in shown.lower()
        await pilot.press("q")
        await wait_until(pilot, lambda: not app.is_running, what="q to quit")


def viewer_threads() -> set[threading.Thread]:
    """The threads a viewer starts: its readers and watchers (named lstm-top…) and watchdog's
    observer and emitters (its file events). Not asyncio's executor pool (idle workers kept by
    the event loop until it closes), nor other libraries' threads an earlier test in this
    process left behind (Ray's, W&B's, tqdm's: they come and go on their own)."""
    from watchdog.utils import BaseThread

    return {t for t in threading.enumerate()
            if t.name.startswith("lstm-top") or isinstance(t, BaseThread)}


async def test_folder_with_thousands_of_files_tiny_terminal_and_back(tmp_path: Path) -> None:
    threads_before = viewer_threads()
    for index in range(2000):
        (tmp_path / f"notes-{index:04d}.txt").write_text("not a history\n")
    for index in range(30):
        (tmp_path / f"run-{index:02d}.jsonl").write_text(
            encode_header(f"run-{index:02d}", 1.0)
            + "".join(encode_epoch(e, 1.0 + e, {"loss": 1.0 / e}) for e in range(1, 6)))
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(app.runs) == 30, what="the 30 histories")
        await pilot.resize_terminal(20, 5)
        await wait_painted(pilot)
        assert "Traceback" not in screen_text(app)
        assert app.is_running
        await pilot.resize_terminal(*SIZE)
        await wait_painted(pilot)
        assert "Traceback" not in screen_text(app)
        assert "run-" in screen_text(app)
        await pilot.resize_terminal(20, 5)
        await pilot.press("q")
        await wait_until(pilot, lambda: not app.is_running, what="q to quit at 20x5")
    # the viewer's reader threads are gone after it quits
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not viewer_threads() <= threads_before and loop.time() < deadline:
        await asyncio.sleep(0.05)
    left = viewer_threads() - threads_before
    assert not left, [(t.name, type(t).__name__) for t in left]
