"""SVG snapshots of the main screen at 80x24: a healthy run and each seed warning sign.

Histories are deterministic fixtures with fixed timestamps and an end record, and the clock is
frozen, so elapsed time and state never change. Update with ``pytest --snapshot-update`` after
checking the new pictures by eye.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from lstm_top.ui.app import LstmTopApp
from tests.functional.histories import STARTED, write_run
from tests.functional.pilots import wait_painted, wait_until

FROZEN_NOW = STARTED + 10_000.0


def _ready(app: LstmTopApp) -> bool:
    """The whole file read, and the app settled: chart drawn at its size from the latest
    history, findings up to date, status current, nothing queued."""
    return bool(app.runs) and all(run.history.finished for run in app.runs.values()) \
        and app.is_settled()


async def _rendered(pilot: Pilot[int]) -> None:
    """Wait (bounded) until ready twice in a row across a pause, then until the screen is
    painted (the picture is what the compositor holds)."""
    app = pilot.app
    assert isinstance(app, LstmTopApp)
    await wait_until(pilot, lambda: _ready(app), what="the app to settle")
    await pilot.pause()
    await wait_until(pilot, lambda: _ready(app), what="the app to settle")
    await pilot.wait_for_scheduled_animations()
    await wait_painted(pilot)


@pytest.mark.parametrize(("kind", "epochs"), [("healthy", 40), ("stagnating", 60),
                                              ("oscillating", 50), ("subset_gap", 50)])
def test_main_screen(snap_compare, tmp_path: Path, kind: str, epochs: int) -> None:
    path = write_run(tmp_path / f"{kind}.jsonl", kind, epochs)
    app = LstmTopApp([str(path)], clock=lambda: FROZEN_NOW)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_rendered)


def test_main_screen_no_color(snap_compare, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    path = write_run(tmp_path / "stagnating.jsonl", "stagnating", 60)
    app = LstmTopApp([str(path)], clock=lambda: FROZEN_NOW)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_rendered)


# --------------------------------------------------------------------------- screens and signs
# Each picture is also read as text (the SVG's text runs), so a screen that opens empty (the
# old 4x2 help box) or a warning that lost its words fails even when its picture is updated.

def svg_text(svg: str) -> str:
    """The characters of a Textual SVG screenshot, one line per terminal row."""
    rows: dict[float, list[tuple[float, str]]] = {}
    for match in re.finditer(r'<text[^>]*\bx="([\d.]+)"[^>]*\by="([\d.]+)"[^>]*>(.*?)</text>',
                             svg, re.S):
        text = html.unescape(re.sub("<[^>]+>", "", match.group(3))).replace("\xa0", " ")
        rows.setdefault(float(match.group(2)), []).append((float(match.group(1)), text))
    return "\n".join("".join(t for _, t in sorted(row)) for _, row in sorted(rows.items()))


def _then(*keys: str, shown: list[str], wait: Callable[[LstmTopApp], bool] | None = None):
    """run_before: settle, press ``keys``, wait for ``wait``, keep the screen's text."""

    async def run_before(pilot: Pilot[int]) -> None:
        await _rendered(pilot)
        app = pilot.app
        assert isinstance(app, LstmTopApp)
        for key in keys:
            await pilot.press(key)
        if wait is not None:
            await wait_until(pilot, lambda: wait(app), what=f"the screen after {keys}")
        await pilot.wait_for_scheduled_animations()
        await wait_painted(pilot)
        shown.append(svg_text(app.export_screenshot()))

    return run_before


def test_help_screen_lists_every_key(snap_compare, tmp_path: Path) -> None:
    path = write_run(tmp_path / "healthy.jsonl", "healthy", 40)
    app = LstmTopApp([str(path)], clock=lambda: FROZEN_NOW)
    shown: list[str] = []
    assert snap_compare(app, terminal_size=(80, 24), run_before=_then("question_mark",
                                                                      shown=shown))
    lines = shown[0].splitlines()
    assert any("lstm-top keys" in line for line in lines)
    for key, words in (("q", "quit"), ("l", "log"), ("s", "smoothing"), ("w", "window"),
                       ("v", "series"), ("o", "overlay"), ("f", "pause"), ("e", "export"),
                       ("d", "demo"), ("x", "stop the demo")):
        # "│x   what it does": the key in the box's first column, then its action.
        pattern = re.compile(rf"│{re.escape(key)} +[^│]*{words}")
        assert any(pattern.search(line) for line in lines), \
            f"no line for {key!r} in the help:\n{shown[0]}"


def test_demo_picker(snap_compare, tmp_path: Path) -> None:
    from lstm_top.ui.components.demo_picker import DemoPicker

    app = LstmTopApp([], runs_dir=str(tmp_path / "runs"), clock=lambda: FROZEN_NOW)
    shown: list[str] = []

    async def run_before(pilot: Pilot[int]) -> None:
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, DemoPicker),
                         what="the demo picker")
        await wait_painted(pilot)
        shown.append(svg_text(pilot.app.export_screenshot()))

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
    assert "Start a demo training" in shown[0]
    for scenario in ("healthy", "stagnating", "oscillating"):
        assert scenario in shown[0]
    assert not (tmp_path / "runs").exists(), "showing the picker starts nothing"


# The words each kind of warning is summed up in (the key numbers of its evidence).
HEADLINE_WORDS = {"stagnating": ("stagnating val loss", "epochs ago", "train −"),
                  "oscillating": ("oscillating val loss", "peaks in", "largest"),
                  "subset_gap": ("subset gap", "long_seqs", "vs others")}


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
@pytest.mark.parametrize(("kind", "epochs"), [("stagnating", 60), ("oscillating", 50),
                                              ("subset_gap", 50)])
def test_each_warning_reads_in_plain_lines(snap_compare, tmp_path: Path, kind: str,
                                           epochs: int, size: tuple[int, int]) -> None:
    path = write_run(tmp_path / f"{kind}.jsonl", kind, epochs)
    app = LstmTopApp([str(path)], clock=lambda: FROZEN_NOW)
    shown: list[str] = []
    assert snap_compare(app, terminal_size=size, run_before=_then(shown=shown))
    text = shown[0]
    for words in HEADLINE_WORDS[kind]:
        assert words in text, f"{words!r} missing:\n{text}"
    assert "since epoch" in text and "evidence:" not in text  # no wall of key=value


# What the detail's chart marks for each kind: the peaks, the best epoch, the worst subset.
DETAIL_MARKS = {"stagnating": ("best @", "what to try"), "oscillating": ("peak @", "evidence"),
                "subset_gap": ("val[long_seqs]", "worst subset: long_seqs")}


@pytest.mark.parametrize(("kind", "epochs"), [("stagnating", 60), ("oscillating", 50),
                                              ("subset_gap", 50)])
def test_warning_detail(snap_compare, tmp_path: Path, kind: str, epochs: int) -> None:
    from lstm_top.ui.components.finding_detail import FindingDetail

    path = write_run(tmp_path / f"{kind}.jsonl", kind, epochs)
    app = LstmTopApp([str(path)], clock=lambda: FROZEN_NOW)
    shown: list[str] = []

    def drawn(app: LstmTopApp) -> bool:
        return isinstance(app.screen, FindingDetail) and bool(app.screen.plain)

    assert snap_compare(app, terminal_size=(80, 24),
                        run_before=_then("enter", shown=shown, wait=drawn))
    text = shown[0]
    assert "esc closes" in text and "since epoch" in text
    for words in DETAIL_MARKS[kind]:
        assert words in text, f"{words!r} missing:\n{text}"
