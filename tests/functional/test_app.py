"""The app driven by Textual pilots against real files: keys, live appends, several runs."""

from __future__ import annotations

import asyncio
import json
import math
import os
from pathlib import Path

import pytest
from textual.message import Message

from lstm_top.ui.app import LstmTopApp
from lstm_top.ui.components.help import HelpScreen
from lstm_top.ui.components.metrics import MetricsTable
from lstm_top.ui.components.plot import LossPlot
from lstm_top.ui.components.status import StatusHeader
from lstm_top.ui.components.warnings import WarningsPanel
from lstm_top.ui.messages import RunsChanged
from tests.functional.histories import STARTED, append_epochs, run_text, write_run
from tests.functional.pilots import WAIT_S, settled, wait_until
from tests.waiting import poll_until

pytestmark = pytest.mark.anyio


SIZE = (80, 24)
FROZEN_NOW = STARTED + 10_000.0


def status(app: LstmTopApp) -> str:
    return getattr(app.query_one("#status", StatusHeader), "_shown", "")


def plot(app: LstmTopApp) -> LossPlot:
    return app.query_one("#plot", LossPlot)


def warnings(app: LstmTopApp) -> str:
    return app.query_one("#warnings", WarningsPanel).plain


def metric_names(app: LstmTopApp) -> list[str]:
    table = app.query_one("#metrics", MetricsTable)
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


def make_app(*targets: Path | str, **options: object) -> LstmTopApp:
    options.setdefault("clock", lambda: FROZEN_NOW)
    return LstmTopApp([str(t) for t in targets], **options)  # type: ignore[arg-type]


async def test_finished_run_shows_chart_warnings_and_metrics(tmp_path: Path) -> None:
    path = write_run(tmp_path / "stag.jsonl", "stagnating", 60)
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        assert "finished" in status(app)
        assert "epoch 60" in status(app)
        assert "2.5 s/epoch" in status(app)
        chart = plot(app).plain
        assert "━━ train" in chart and "━━ val" in chart
        assert "best val" in chart
        assert "stagnating" in warnings(app).lower()
        assert "since epoch" in warnings(app)
        assert metric_names(app)[:2] == ["loss", "val_loss"]
        assert "lr" in metric_names(app)


async def test_live_appends_change_plot_metrics_and_warnings(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    path.write_text(run_text("stagnating", 6, end=None))
    seen: list[Message] = []
    app = make_app(path, clock=__import__("time").time)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await settled(pilot)
        await wait_until(pilot, lambda: "epoch 6" in status(app), what="epoch 6")
        first_chart = plot(app).plain
        assert "stagnating" not in warnings(app).lower()
        assert "live" in status(app)
        before = sum(isinstance(m, RunsChanged) for m in seen)
        views_before = app.renders_done

        append_epochs(path, "stagnating", 7, 60)  # 54 records in a burst
        await wait_until(pilot, lambda: "epoch 60" in status(app), what="epoch 60")
        await settled(pilot)
        assert plot(app).plain != first_chart
        assert "stagnating" in warnings(app).lower()
        table = app.query_one("#metrics", MetricsTable)
        assert "@" in str(table.get_row_at(1)[2])  # val_loss best, with its epoch
        # A burst of appends is coalesced: far fewer updates than records.
        updates = sum(isinstance(m, RunsChanged) for m in seen) - before
        assert 1 <= updates < 20
        assert app.renders_done > views_before  # new views built and shown


def painted_lines(app: LstmTopApp) -> list[str]:
    """The screen as the compositor last painted it (what a terminal shows), row by row."""
    return ["".join(segment.text for segment in strip)
            for strip in app.screen._compositor.render_strips()]


async def test_an_epoch_after_a_quiet_spell_is_painted_at_once(tmp_path: Path) -> None:
    """The frame cap (FRAMES_PER_SECOND) and the CPU budget hold back only a stream of
    changes: an epoch logged after a quiet spell is on the painted screen — the status line,
    the metrics table and the chart's legend, all of that epoch — within one frame interval
    (the best of five appends: a bound a busy machine meets, which a held frame would not)."""
    from lstm_top import Logger
    from lstm_top.ui.app import FRAMES_PER_SECOND

    path = tmp_path / "live.jsonl"
    logger = Logger(path, run_name="quiet")
    logger.log(epoch=1, loss=1.0, val_loss=1.1)
    app = make_app(path, clock=__import__("time").time)
    took = []
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        for epoch in range(2, 7):
            await asyncio.sleep(0.4)  # quiet: longer than the pacer's calm_after
            started = asyncio.get_running_loop().time()
            logger.log(epoch=epoch, loss=1.0 / epoch, val_loss=1.1 / epoch)

            def painted(epoch: int = epoch) -> bool:
                lines = painted_lines(app)
                legend = next((line for line in lines if "best val" in line), "")
                table = next((line for line in lines if "val_loss" in line), "")
                return f"epoch {epoch} " in lines[0] and f"@{epoch}" in legend and \
                    f"@{epoch}" in table

            while not painted():
                assert asyncio.get_running_loop().time() - started < WAIT_S, painted_lines(app)
                await asyncio.sleep(0.001)
            took.append(asyncio.get_running_loop().time() - started)
    logger.close()
    assert min(took) < 1 / FRAMES_PER_SECOND, took


async def test_no_garbage_collection_holds_up_an_appended_epoch(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Python's collector is held off from the build of an appended epoch's frame until it is
    painted (plotext's thousands of objects a chart set a collection off on the way, now and
    then an older generation's of several ms), and is back on once it is: garbage is still
    collected while a run is followed."""
    import gc
    import time

    from lstm_top import Logger
    from lstm_top.ui.view import ViewBuilder

    builds: list[float] = []
    build = ViewBuilder.build

    def timed_build(self: ViewBuilder, request: object) -> object:
        builds.append(time.monotonic())
        return build(self, request)  # type: ignore[arg-type]

    monkeypatch.setattr(ViewBuilder, "build", timed_build)
    collections: list[float] = []

    def on_collection(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(time.monotonic())

    path = tmp_path / "live.jsonl"
    logger = Logger(path, run_name="collected")
    logger.log(epoch=1, loss=1.0, val_loss=1.1)
    app = make_app(path, clock=time.time)
    windows = []  # (the frame's build began, its epoch painted)
    gc.callbacks.append(on_collection)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settled(pilot)
            for epoch in range(2, 8):
                await asyncio.sleep(0.3)
                builds.clear()
                logger.log(epoch=epoch, loss=1.0 / epoch, val_loss=1.1 / epoch)
                while f"epoch {epoch} " not in painted_lines(app)[0]:
                    assert not builds or time.monotonic() - builds[0] < WAIT_S
                    await asyncio.sleep(0.001)
                windows.append((builds[0], time.monotonic()))
            await settled(pilot)
            collecting = gc.isenabled()
            before = len(collections)
            garbage = [[] for _ in range(2000)]  # tracked objects: a collection's due
            del garbage
    finally:
        gc.callbacks.remove(on_collection)
        logger.close()
    in_the_way = [t for t in collections if any(start <= t <= end for start, end in windows)]
    assert not in_the_way, (in_the_way, windows)
    assert collecting and len(collections) > before  # a settled viewer collects as ever


async def test_a_new_epoch_updates_the_metrics_where_the_cursor_was_left(
        tmp_path: Path) -> None:
    """The table's values change in place: the row a person moved the cursor to stays
    selected, and the latest values are the new epoch's, as the status line says."""
    path = tmp_path / "live.jsonl"
    path.write_text(run_text("stagnating", 10, end=None))
    app = make_app(path, clock=__import__("time").time)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        table = app.query_one("#metrics", MetricsTable)
        names = metric_names(app)
        assert len(names) >= 3
        await pilot.press("tab")
        assert app.focused is table
        await pilot.press("down", "down")
        assert table.cursor_row == 2
        latest_before = str(table.get_row_at(1)[1])
        append_epochs(path, "stagnating", 11, 11)
        await wait_until(pilot, lambda: "epoch 11" in status(app), what="epoch 11")
        await settled(pilot)
        assert metric_names(app) == names
        assert table.cursor_row == 2
        history = app.runs[str(path)].history
        val_loss = float(history.epochs.column("val_loss")[-1])
        latest = str(table.get_row_at(1)[1])
        assert latest != latest_before
        assert math.isclose(float(latest), val_loss, rel_tol=5e-3)


async def test_display_keys(tmp_path: Path) -> None:
    path = write_run(tmp_path / "gap.jsonl", "subset_gap", 60)
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        base = plot(app).plain
        assert "val[long_seqs]" in base

        await pilot.press("l")
        await settled(pilot)
        assert "[log]" in plot(app).plain

        await pilot.press("s")
        await settled(pilot)
        assert "ema 0.8" in plot(app).plain
        await pilot.press("plus")
        await settled(pilot)
        assert "ema 0.9" in plot(app).plain
        await pilot.press("minus", "minus")
        await settled(pilot)
        assert "ema 0.7" in plot(app).plain
        await pilot.press("s")
        await settled(pilot)
        assert "ema" not in plot(app).plain

        await pilot.press("w")
        await settled(pilot)
        assert "last 20" in plot(app).plain
        # The x axis now starts at epoch 41, not 1.
        assert " 50" in plot(app).plain and "  10 " not in plot(app).plain
        await pilot.press("w", "w")
        await settled(pilot)
        assert "last" not in plot(app).plain

        await pilot.press("v")
        await settled(pilot)
        assert "val[long_seqs]" not in plot(app).plain
        assert "━━ train" in plot(app).plain
        await pilot.press("v")
        await settled(pilot)
        assert "━━ train" not in plot(app).plain
        assert "val[long_seqs]" in plot(app).plain


async def test_pause_follow_freezes_the_view(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    path.write_text(run_text("healthy", 5, end=None))
    app = make_app(path, clock=__import__("time").time)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        await wait_until(pilot, lambda: "epoch 5" in status(app), what="epoch 5")
        await pilot.press("f")
        assert "paused" in status(app)
        chart = plot(app).plain
        append_epochs(path, "healthy", 6, 9)
        await wait_until(pilot, lambda: "(+" in status(app) and "(+0)" not in status(app),
                       what="unseen updates counted")
        await pilot.pause(0.3)
        assert plot(app).plain == chart
        await pilot.press("f")
        await wait_until(pilot, lambda: "epoch 9" in status(app), what="resumed view")
        await settled(pilot)
        assert "paused" not in status(app)
        assert plot(app).plain != chart


async def test_focus_scroll_help_export_and_quit(tmp_path: Path) -> None:
    path = write_run(tmp_path / "gap.jsonl", "subset_gap", 60)
    export_dir = tmp_path / "exports"
    app = make_app(path, export_dir=str(export_dir))
    # Short enough that two signs and the resolved list overflow the compact panel.
    async with app.run_test(size=(80, 16)) as pilot:
        await settled(pilot)
        panel = app.query_one("#warnings", WarningsPanel)
        assert app.focused is panel
        assert panel.max_scroll_y > 0, "fixture should overflow the warnings panel at 80x16"
        await pilot.press("down", "down")  # (the panel scrolls animated: waited for)
        await wait_until(pilot, lambda: panel.scroll_y > 0, what="the panel scrolled down")
        await pilot.press("pagedown")
        await pilot.press("home")
        await wait_until(pilot, lambda: panel.scroll_y == 0, what="the panel back at the top")

        await pilot.press("tab")
        assert app.focused is app.query_one("#metrics", MetricsTable)

        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)

        await pilot.press("e")
        await wait_until(pilot, lambda: export_dir.exists() and len(os.listdir(export_dir)) == 2,
                       what="export files")
        svg = next(export_dir.glob("*.svg")).read_text()
        text = next(export_dir.glob("*.txt")).read_text()
        assert svg.startswith("<svg")
        assert "subset gap" in text and "val_loss" in text and "epoch 60" in text

        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_export_into_an_unusable_folder_says_so_and_keeps_running(
        tmp_path: Path) -> None:
    path = write_run(tmp_path / "run.jsonl", "stagnating", 30)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the export folder should be")
    app = make_app(path, export_dir=str(blocker))
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        await pilot.press("e")
        await pilot.pause()
        notices = [n.message for n in app._notifications]
        assert notices and notices[-1].startswith("export failed:"), notices
        assert app.last_export is None
        assert "epoch 30" in status(app)  # still on screen, still answering
        await pilot.press("q")
    assert app.return_code == 0


async def test_missing_file_is_waited_for(tmp_path: Path) -> None:
    path = tmp_path / "later.jsonl"
    app = make_app(path, clock=__import__("time").time)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "waiting" in status(app), what="waiting state")
        await wait_until(pilot, lambda: "waiting for" in plot(app).plain, what="waiting message")
        path.write_text(run_text("healthy", 8, end=None))
        await wait_until(pilot, lambda: "epoch 8" in status(app), what="file picked up")
        await settled(pilot)
        assert "━━ val" in plot(app).plain


@pytest.mark.parametrize(("name", "content"), [("broken.json", b'{"a": 1}'),
                                             ("broken.csv", b"epoch\n1\n")])
async def test_unreadable_file_is_a_message_not_a_traceback(tmp_path: Path, name: str,
                                                            content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "error" in status(app), what="error state")
        await settled(pilot)
        assert name in plot(app).plain and "cannot read" in warnings(app)
        assert "Traceback" not in plot(app).plain


async def test_file_without_epochs_says_so(tmp_path: Path) -> None:
    path = tmp_path / "garbage.jsonl"
    path.write_bytes(b"\x00\x01 not json\n{also not}\n" + run_text("healthy", 0).encode())
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "finished" in status(app), what="end record read")
        await settled(pilot)
        assert "no epoch records (2 unreadable lines)" in plot(app).plain
        assert "2 bad lines" in status(app)


async def test_hostile_names_are_shown_literally(tmp_path: Path) -> None:
    path = tmp_path / "evil.jsonl"
    text = run_text("healthy", 5, name="[bold red]x[@click=app.quit]\x1b]52;c;aGk=\x07")
    path.write_text(text.replace('"lr"', '"[@click=app.quit]lr"'))
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        # Literal text (cut to the name's share of the status line), never markup.
        assert status(app).startswith("[bold red]x[@click=app.q")
        assert "\x1b" not in status(app)
        # (the metric column is 11 characters at 80 columns: the markup shows, cut, not obeyed)
        assert any("[@click=ap" in name for name in metric_names(app))
        await pilot.click("#status")
        await pilot.pause()
        assert app.is_running


async def test_several_runs_list_switch_and_overlay(tmp_path: Path) -> None:
    first = write_run(tmp_path / "a.jsonl", "healthy", 30, name="alpha")
    second = write_run(tmp_path / "b.jsonl", "oscillating", 30, name="beta")
    app = make_app(first, second)
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(pilot)
        run_list = app.query_one("#runs")
        assert run_list.display
        assert status(app).startswith("alpha")
        run_list.focus()
        await pilot.press("down")
        await wait_until(pilot, lambda: status(app).startswith("beta"), what="switch to beta")
        await pilot.press("o")
        await settled(pilot)
        legend = plot(app).plain
        assert "overlay val loss" in legend
        assert "━━ alpha" in legend and "━━ beta" in legend


async def test_folder_lists_runs_and_picks_up_new_ones(tmp_path: Path) -> None:
    write_run(tmp_path / "one.jsonl", "healthy", 10, name="one")
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: len(app.runs) == 1, what="existing file")
        write_run(tmp_path / "two.jsonl", "stagnating", 10, name="two")
        await wait_until(pilot, lambda: len(app.runs) == 2, what="new file in folder")
        await settled(pilot)
        assert app.query_one("#runs").display


async def test_notice_goes_away_when_the_file_appears(tmp_path: Path) -> None:
    path = tmp_path / "later.jsonl"
    app = make_app(path, clock=__import__("time").time)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "to appear" in warnings(app), what="the missing notice")
        path.write_text(run_text("healthy", 0, end=None))  # a header, no epoch yet
        await wait_until(pilot, lambda: "live" in status(app), what="the file picked up")
        await settled(pilot)
        assert "to appear" not in warnings(app) and "to appear" not in plot(app).plain
        assert "waiting for the first epoch" in warnings(app)


async def test_a_new_run_in_the_same_file_keeps_the_earlier_one(tmp_path: Path) -> None:
    path = write_run(tmp_path / "train.jsonl", "healthy", 12, end=None, name="first")
    app = make_app(path, clock=__import__("time").time)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "epoch 12" in status(app), what="the first run")
        replacement = tmp_path / "next.jsonl"
        replacement.write_text(run_text("stagnating", 5, end=None, name="second").replace(
            str(int(STARTED)), str(int(STARTED) + 5000), 1))
        os.replace(replacement, path)
        await wait_until(pilot, lambda: len(app.runs) == 2, what="the earlier run kept")
        await settled(pilot)
        names = sorted(run.name for run in app.runs.values())
        assert names == ["first (earlier)", "second"]
        earlier = next(r for r in app.runs.values() if r.name == "first (earlier)")
        assert earlier.history.last_epoch() == 12
        assert "second" in status(app) and "epoch 5" in status(app)
        assert app.run_list.display and app.run_list.option_count == 2


async def test_a_long_name_leaves_room_for_the_facts(tmp_path: Path) -> None:
    path = write_run(tmp_path / "long.jsonl", "healthy", 30, name="n" * 400)
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        visible = status(app)[: SIZE[0] - 2]  # what fits the line (padding 1 each side)
        for fact in ("finished", "epoch 30", "elapsed", "s/epoch"):
            assert fact in visible, visible
        assert visible.startswith("nnnnnnnnnnnn") and "n…" in visible


async def test_chart_and_metrics_do_not_wait_for_a_slow_diagnosis(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A diagnosis that takes as long as it likes (here: until released) never holds the chart
    or the metrics; the warnings panel says so meanwhile, and the findings come after."""
    import threading

    from lstm_top.signs import Diagnoser

    release = threading.Event()
    real_update = Diagnoser.update

    def slow_update(self: Diagnoser, history, stop=None):  # type: ignore[no-untyped-def]
        release.wait(20.0)
        return real_update(self, history, stop)

    monkeypatch.setattr(Diagnoser, "update", slow_update)
    path = write_run(tmp_path / "stag.jsonl", "stagnating", 60)
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "━━ val" in plot(app).plain, what="the chart")
        await wait_until(pilot, lambda: "val_loss" in metric_names(app), what="the metrics")
        assert "diagnosing" in warnings(app)
        assert not app.is_settled()
        release.set()
        await settled(pilot)
        assert "stagnating val loss" in warnings(app)
        assert "diagnosing" not in warnings(app)


async def test_preferences_are_saved_and_restored(tmp_path: Path, own_config: Path) -> None:
    path = write_run(tmp_path / "gap.jsonl", "subset_gap", 60)
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        await pilot.press("l", "s", "plus", "w")
        await settled(pilot)
        assert "[log · ema 0.9 · last 20]" in plot(app).plain
        await pilot.press("q")
    saved = own_config / "lstm-top" / "prefs.json"
    # The save runs in a worker; bounded wait for the file.
    assert await asyncio.to_thread(poll_until, saved.exists, WAIT_S)

    again = make_app(path)
    async with again.run_test(size=SIZE) as pilot:
        await settled(pilot)
        assert "[log · ema 0.9 · last 20]" in plot(again).plain
        await pilot.press("s")  # off; the strength is remembered for next time
        await settled(pilot)
    third = make_app(path)
    async with third.run_test(size=SIZE) as pilot:
        await settled(pilot)
        assert "ema" not in plot(third).plain and "[log · last 20]" in plot(third).plain
        await pilot.press("s")
        await settled(pilot)
        assert "ema 0.9" in plot(third).plain


async def test_a_run_stopped_by_a_sign_says_so_in_the_status_line(tmp_path: Path) -> None:
    path = tmp_path / "stopped.jsonl"
    from lstm_top import Logger

    with Logger(path, run_name="stopped") as logger:
        for epoch in range(1, 7):
            logger.log(epoch=epoch, loss=1.0 / epoch if epoch < 6 else math.nan,
                       val_loss=1.1 / epoch)
        logger.close(stopped_by={"sign": "nonfinite_loss", "severity": "critical",
                                 "since_epoch": 6, "epoch": 6, "message": "loss = nan"})
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        line = status(app)
        assert "finished" in line and "■ stopped: nonfinite_loss" in line
        assert "epoch 6" in line


async def test_a_run_whose_losses_are_not_recognised_says_how_to_name_them(
        tmp_path: Path) -> None:
    path = tmp_path / "history.json"  # two models in one dict: no "the" loss to judge
    path.write_text(json.dumps({"reg_loss": [1.0, 0.9, 0.8], "reg_val_loss": [1.1, 1.0, 0.9],
                                "cls_loss": [0.7, 0.6, 0.5], "cls_val_loss": [0.7, 0.7, 0.6]}))
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        await wait_until(pilot, lambda: "--val-key" in warnings(app), what="the loss-name hint")
        assert "no training or validation loss recognised" in " ".join(warnings(app).split())
    named = make_app(path, train_key="reg_loss", val_key="reg_val_loss")
    async with named.run_test(size=SIZE) as pilot:
        await settled(pilot)
        assert "--val-key" not in warnings(named)
