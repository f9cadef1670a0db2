"""The view layer without a running app: requests, builds, settings, the run book, the pacer.

Histories are real files read by the real reader; nothing here starts Textual.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lstm_top.prefs import Prefs
from lstm_top.sources.formats import read_history
from lstm_top.sources.open import FrozenSource
from lstm_top.ui.chart import ChartOptions
from lstm_top.ui.components.run_list import row_label
from lstm_top.ui.components.status import status_text
from lstm_top.ui.frames import FramePacer
from lstm_top.ui.run_state import Diagnosers, DiagnosisJob
from lstm_top.ui.runs import RunBook
from lstm_top.ui.view import (
    RunRow,
    ShownRun,
    StatusFacts,
    ViewBuilder,
    ViewRequest,
    settings_from_prefs,
    store_settings,
    warnings_waiting,
)
from tests.functional.histories import write_run


def _shown(path: Path, **changes: object) -> ShownRun:
    history = read_history(path)
    run = ShownRun(str(path), "run", history, (1, history.epochs.version), state="finished")
    return ShownRun(**{**{f: getattr(run, f) for f in run.__slots__}, **changes})


def test_build_draws_chart_legend_metrics_and_status_facts(tmp_path: Path) -> None:
    shown = _shown(write_run(tmp_path / "gap.jsonl", "subset_gap", 50))
    view = ViewBuilder().build(ViewRequest(7, 70, 14, ChartOptions(color=False), (shown,)))
    assert view.generation == 7 and view.size == (70, 14)
    legend = view.legend.plain
    assert "train" in legend and "val[long_seqs]" in legend and "best val" in legend
    assert "┤" in view.chart.plain  # a plotext axis, not a message
    summary = view.summaries[shown.key]
    assert summary.facts.last_epoch == 50 and summary.facts.epoch_count == 50
    assert [m.name for m in summary.metrics][:2] == ["loss", "val_loss"]
    assert summary.version == (1, shown.history.epochs.version)


def test_a_build_kept_waiting_for_its_history_still_counts_as_quick(tmp_path: Path) -> None:
    """The app builds an epoch's view on the UI thread when the last build took little CPU
    (``QUICK_BUILD_S``): a build that only waited (here for the history's lock, held by a
    reader; on a shared machine, for a core) is no slower to draw, so it keeps that way."""
    import threading
    import time

    from lstm_top.ui.app import QUICK_BUILD_S

    shown = _shown(write_run(tmp_path / "run.jsonl", "stagnating", 40))
    builder = ViewBuilder()
    request = ViewRequest(1, 70, 14, ChartOptions(color=False), (shown,))
    builder.build(request)  # the first build of the process warms plotext up
    held, release = threading.Event(), threading.Event()

    def reader() -> None:
        with shown.history.lock:
            held.set()
            release.wait(5)

    thread = threading.Thread(target=reader)
    thread.start()
    held.wait(5)
    threading.Timer(2 * QUICK_BUILD_S, release.set).start()
    started = time.perf_counter()
    view = builder.build(request)
    thread.join()
    assert time.perf_counter() - started >= 2 * QUICK_BUILD_S  # it did wait
    assert "┤" in view.chart.plain
    assert builder.last_build_cpu_s < QUICK_BUILD_S


def test_flags_and_empty_states_read_as_words(tmp_path: Path) -> None:
    shown = _shown(write_run(tmp_path / "h.jsonl", "healthy", 30))
    options = ChartOptions(log_y=True, smoothing=0.8, window=20, color=False)
    view = ViewBuilder().build(ViewRequest(1, 70, 14, options, (shown,)))
    assert view.legend.plain.startswith("[log · ema 0.8 · last 20]")
    nothing = ViewBuilder().build(ViewRequest(2, 70, 14, options, ()))
    assert "press d to start a demo" in nothing.chart.plain
    missing = _shown(write_run(tmp_path / "e.jsonl", "healthy", 0), state="error",
                     message="cannot read e.jsonl: not a history")
    failed = ViewBuilder().build(ViewRequest(3, 70, 14, options, (missing,)))
    assert failed.chart.plain == "cannot read e.jsonl: not a history"


def test_request_key_changes_only_with_what_is_drawn(tmp_path: Path) -> None:
    shown = _shown(write_run(tmp_path / "h.jsonl", "healthy", 10))
    base = ViewRequest(1, 70, 14, ChartOptions(), (shown,))
    assert base.key() == ViewRequest(2, 70, 14, ChartOptions(), (shown,)).key()
    newer = _shown(tmp_path / "h.jsonl", version=(1, shown.version[1] + 1))
    assert base.key() != ViewRequest(1, 70, 14, ChartOptions(), (newer,)).key()
    assert base.key() != ViewRequest(1, 70, 14, ChartOptions(log_y=True), (shown,)).key()
    assert base.key() != ViewRequest(1, 71, 14, ChartOptions(), (shown,)).key()


def test_settings_keys_and_their_round_trip_through_prefs() -> None:
    settings = settings_from_prefs(Prefs(), color=True)
    assert settings.options == ChartOptions()
    changed = settings.toggled_log().toggled_smoothing().more_smoothing().next_window()
    assert changed.options.log_y and changed.options.smoothing == 0.9
    assert changed.options.window == 20
    assert changed.next_series().options.series == "train + val"
    prefs = Prefs()
    store_settings(changed.toggled_smoothing(), prefs)  # off; the strength is kept
    again = settings_from_prefs(prefs, color=True)
    assert again.options.smoothing is None and again.toggled_smoothing().options.smoothing == 0.9
    assert settings.less_smoothing().less_smoothing().less_smoothing().options.smoothing == 0.5


def test_run_book_overlay_pause_and_diagnosis_jobs(tmp_path: Path) -> None:
    book = RunBook()
    for name, kind in (("a", "healthy"), ("b", "stagnating")):
        path = write_run(tmp_path / f"{name}.jsonl", kind, 60)
        book.add(str(path), FrozenSource(str(path), read_history(path)))
    first, second = book.runs.values()
    assert book.current is first and book.shown() == [first]
    book.overlay = True
    assert book.shown() == [first, second]
    book.marks.add(second.key)
    assert book.shown() == [second]
    assert book.view_request(1, (70, 14), ChartOptions(), 0.0).overlay
    book.overlay = False

    jobs = book.diagnosis_jobs()
    assert [j.key for j in jobs] == [first.key, second.key]  # the one on screen first
    diagnosers = Diagnosers()
    for result in diagnosers.results(jobs):
        book.apply_findings(result)
    assert not book.undiagnosed()
    assert any(f.id == "stagnating_val_loss" for f in second.findings)
    assert book.rows(0.0, color=False)[1].active_warnings >= 1

    book.following = False  # paused: the selected run's version stays what was drawn
    request = book.view_request(2, (70, 14), ChartOptions(), 0.0)
    assert request.runs[0].version == first.rendered


def test_diagnosers_start_over_for_a_new_history(tmp_path: Path) -> None:
    path = write_run(tmp_path / "s.jsonl", "stagnating", 60)
    history = read_history(path)
    diagnosers = Diagnosers()
    result = diagnosers.run(DiagnosisJob("k", (1, 0), history, None, None))
    assert result.version == (1, history.epochs.version) and result.findings
    fresh = read_history(write_run(tmp_path / "h.jsonl", "healthy", 10))
    again = diagnosers.run(DiagnosisJob("k", (2, 0), fresh, None, None))
    assert again.version[0] == 2 and not any(f.active for f in again.findings)


class _Timer:
    def __init__(self, delay: float, callback: object) -> None:
        self.delay, self.callback, self.stopped = delay, callback, False

    def stop(self) -> None:
        self.stopped = True


class _PacerRig:
    """A FramePacer on a fake clock and CPU clock; each frame drawn costs ``frame_cpu`` CPU s
    and is noted at the time it was drawn, each timer asked for is kept."""

    def __init__(self, frame_cpu: float = 0.0, **options: object) -> None:
        self.now, self.cpu = [100.0], [5.0]
        self.timers: list[_Timer] = []
        self.drawn: list[float] = []
        self.frame_cpu = frame_cpu
        if "cpu_share" in options:
            options["cpu_clock"] = lambda: self.cpu[0]
        self.pacer = FramePacer(self._draw, self._schedule, per_second=10,
                                clock=lambda: self.now[0], **options)  # type: ignore[arg-type]

    def _draw(self) -> None:
        self.drawn.append(self.now[0])
        self.cpu[0] += self.frame_cpu
        self.pacer.drawn()

    def _schedule(self, delay: float, callback: object) -> _Timer:
        self.timers.append(_Timer(delay, callback))
        return self.timers[-1]


def test_frame_pacer_draws_at_once_then_at_most_ten_a_second() -> None:
    rig = _PacerRig()
    now, timers, drawn, pacer = rig.now, rig.timers, rig.drawn, rig.pacer
    pacer.request()
    assert drawn == [100.0] and not timers  # idle: at once
    now[0] = 100.03
    pacer.request()
    pacer.request()  # a burst: one frame
    assert drawn == [100.0] and len(timers) == 1 and pacer.due
    assert abs(timers[0].delay - 0.07) < 1e-9
    now[0] = 100.1
    timers[0].callback()  # type: ignore[operator]
    assert drawn == [100.0, 100.1] and not pacer.due
    assert pacer.hold("k") and not pacer.hold("k")  # held once, then drawn


def test_status_line_keeps_the_facts_and_rows_say_state() -> None:
    facts = StatusFacts("n" * 300, "stalled", 41, 125.0, 2.5, 30.0, 3, 2, "run.jsonl")
    line = status_text(facts, 80).plain
    for piece in ("stalled 30s", "epoch 41", "elapsed 2m05s", "2.5 s/epoch", "paused (+3)",
                  "2 bad lines"):
        assert piece in line, line
    assert status_text(None, 80).plain == "lstm-top │ no run"
    label = row_label(RunRow("k", "alpha", None, True, "live", 2), 18).plain
    assert label == "◉ alpha\n  live ⚠2"


def test_a_run_read_behind_its_preview_shows_a_progress_bar_and_waits_for_its_signs() -> None:
    facts = StatusFacts("big", "finished", 1_000_000, 3600.0, 1.0, loading=0.42,
                        file_name="big.jsonl")
    line = status_text(facts, 80).plain
    assert "reading ███░░░░░ 42%" in line and "epoch 1000000" in line, line
    assert "reading" not in status_text(replace(facts, loading=None), 80).plain
    waiting = warnings_waiting(state="ended", message=None, key="big.jsonl", epochs=20_000,
                               diagnosis_error=None, diagnosed=False, loading=0.42)
    assert waiting == "reading the whole run… 42%; the warning signs follow"


def test_frame_pacer_keeps_a_busy_process_to_its_share_of_a_core() -> None:
    # Each frame costs 100 ms of CPU.
    rig = _PacerRig(frame_cpu=0.1, cpu_share=0.05, burst=0.2, max_interval=1.0)
    now, timers, drawn, pacer = rig.now, rig.timers, rig.drawn, rig.pacer
    # After a quiet spell appends are drawn at once, ten a second, while the burst lasts:
    # 0.2 CPU s plus what refilled meanwhile, three frames of 0.1 s.
    for _ in range(3):
        pacer.request()
        now[0] += 0.1
    assert len(drawn) == 3 and not timers
    # Then the budget is spent (0.085 s in debt: 1.7 s to refill at 5 %), and the next frame
    # waits, but never longer than max_interval after the last one.
    pacer.request()
    assert len(drawn) == 3 and pacer.due
    assert abs(timers[-1].delay - 0.9) < 1e-6, timers[-1].delay
    now[0] += 0.9
    timers[-1].callback()  # type: ignore[operator]
    assert len(drawn) == 4
    # Still busy: one frame a second, however deep the debt would be.
    now[0] += 0.1
    pacer.request()
    assert pacer.due and abs(timers[-1].delay - 0.9) < 1e-6, timers[-1].delay
    # Quiet for a while: the budget is back, and an append is drawn at once.
    timers[-1].callback()  # type: ignore[operator]
    now[0] += 10.0
    count = len(drawn)
    pacer.request()
    assert len(drawn) == count + 1 and not pacer.due


def test_the_best_cell_fits_its_column_however_long_the_epoch() -> None:
    from lstm_top.ui.components.metrics import NARROW_COLUMNS, best_at

    width = NARROW_COLUMNS[2] - 1  # one space kept from the latest value before it
    assert best_at(0.19612, 12, 3, width) == "0.196@12"
    assert best_at(0.0603, 998_067, 3, width) == "0.06@998k"
    assert best_at(1.23e-5, 2_500_000, 3, width) == "1.23e-5@2M"
    for epoch in (9, 99_999, 123_456, 1_000_000, 987_654_321):
        assert len(best_at(0.0663, epoch, 3, width)) <= width


def test_frame_pacer_never_holds_back_what_a_person_asked_for() -> None:
    rig = _PacerRig(cpu_share=0.05, burst=0.2, max_interval=1.0)
    now, cpu, timers, drawn, pacer = rig.now, rig.cpu, rig.timers, rig.drawn, rig.pacer
    cpu[0] += 30.0  # start-up before the first request is not charged
    pacer.request()
    assert len(drawn) == 1
    cpu[0] += 5.0  # then a very busy spell: data frames wait...
    now[0] += 0.2
    pacer.request()
    assert pacer.due and len(drawn) == 1
    pacer.request(urgent=True)  # ...a key press does not (the pending one is replaced)
    assert len(drawn) == 2 and not pacer.due
    now[0] += 0.05
    pacer.request(urgent=True)  # still at most ten a second
    assert pacer.due and abs(timers[-1].delay - 0.05) < 1e-9


def _diagnosed_after_steps(epochs: int) -> tuple[bool, bool]:
    """(diagnosed right after its diagnosis, diagnosed after 50 more step records)."""
    from lstm_top.history import History
    from lstm_top.ui.run_state import Run

    history = History(source="mixed.jsonl")
    for epoch in range(1, epochs + 1):
        history.epochs.append(epoch, float(epoch), {"loss": 1.0 / epoch, "val_loss": 1.2 / epoch})
    for step in range(1, 40):
        history.steps.append(step, float(step), {"loss": 1.0 / step})
    run = Run("mixed.jsonl", FrozenSource("mixed.jsonl", history))
    book = RunBook()
    book.runs[run.key] = run
    (job,) = book.diagnosis_jobs()
    book.apply_findings(Diagnosers().run(job))
    before = run.diagnosed
    for step in range(40, 90):
        history.steps.append(step, float(step), {"loss": 1.0 / step})
    return before, run.diagnosed


def test_step_records_of_a_run_judged_by_epochs_need_no_new_diagnosis() -> None:
    assert _diagnosed_after_steps(epochs=30) == (True, True)  # steps: nothing new to judge
    assert _diagnosed_after_steps(epochs=0) == (True, False)  # a step run: its steps count


def test_frame_pacer_draws_each_of_a_few_epochs_a_second_at_once() -> None:
    # Frames far over a 5 % share...
    rig = _PacerRig(frame_cpu=0.2, cpu_share=0.05, burst=0.2, calm_after=0.25)
    now, drawn, pacer = rig.now, rig.drawn, rig.pacer
    for _ in range(20):  # ...but three epochs a second: each is drawn when it comes
        pacer.request()
        now[0] += 0.3
    assert len(drawn) == 20 and not pacer.due


def test_frame_pacer_does_not_keep_a_calm_change_waiting_for_a_put_off_frame() -> None:
    # Over budget, the frame asked for just after a frame is put off (up to a second)...
    rig = _PacerRig(frame_cpu=0.2, cpu_share=0.05, burst=0.0, calm_after=0.25)
    now, drawn, pacer = rig.now, rig.drawn, rig.pacer
    pacer.request()
    pacer.request()  # at once after the frame: busy, so on the budget
    put_off = rig.timers[-1]
    assert len(drawn) == 1 and pacer.due and put_off.delay > 0.25
    now[0] += 0.3  # ...and a new record after a calm spell is drawn when it comes, not then
    pacer.request()
    assert drawn == [100.0, 100.3] and put_off.stopped


def test_frame_pacer_keeps_streaming_changes_on_the_budget() -> None:
    # Changes every 50 ms (a fast run) never make a quiet spell: over budget, a frame a second.
    rig = _PacerRig(frame_cpu=0.2, cpu_share=0.05, burst=0.0, calm_after=0.25)
    now, drawn, pacer = rig.now, rig.drawn, rig.pacer
    for _ in range(100):  # five seconds
        pacer.request()
        now[0] += 0.05
        due = [t for t in rig.timers if not t.stopped and t.callback is not None]
        for timer in due:
            timer.delay -= 0.05
            if timer.delay <= 1e-9:
                timer.stopped = True
                timer.callback()  # type: ignore[operator]
    assert 4 <= len(drawn) <= 7, drawn


def _plotext_charts() -> list[str]:
    from lstm_top.ui.chart import ChartOptions, ChartSpec, Line, VerticalMarker, render

    x = np.arange(1.0, 61.0)
    charts = []
    for options in (ChartOptions(), ChartOptions(log_y=True), ChartOptions(color=False)):
        spec = ChartSpec(60, 14, options)
        spec.lines = [Line("train", x, 1 / x, 39, "•"), Line("val", x, 1.2 / x + 0.1, 208, "+"),
                      Line("raw", x, 1.1 / x, 240, "·", faint=True)]
        spec.best = (40.0, float(1.2 / 40 + 0.1))
        spec.markers = [VerticalMarker(20.0, "stagnating", "stagnating @20", 226)]
        charts.append(render(spec))
    return charts


@pytest.mark.parametrize("ansi", [*_plotext_charts(),
                                  "\x1b[1mbold\nstill bold\x1b[0m plain\x1b[38;5;39mblue",
                                  "\x1b[38;2;10;20;30mrgb\x1b[48;5;4mon blue\x1b[0m\n\n",
                                  "a \x1b]8;;https://x\x1b\\link\x1b]8;;\x1b\\ and \x1b[2Kmore",
                                  "carriage\rreturn\x1b[31m red\x07", ""])
def test_chart_text_is_what_rich_decodes(ansi: str) -> None:
    """The chart's fast ANSI decoding gives rich's own ``Text.from_ansi``: the same
    characters, spans and styles (codes it does not handle go rich's way), and its lines are
    the ones ``Text.split`` cuts."""
    from rich.text import Text

    from lstm_top.ui.view import chart_text

    (ours, lines), rich_text = chart_text(ansi), Text.from_ansi(ansi, no_wrap=True,
                                                                overflow="crop")
    if lines is not None:
        assert [(line.plain, line.spans) for line in lines] == \
            [(line.plain, line.spans) for line in rich_text.split("\n", allow_blank=True)]
    assert (lines is None) == ("\x1b]" in ansi or "\r" in ansi)
    assert ours.plain == rich_text.plain
    assert ours.spans == rich_text.spans
    assert (ours.no_wrap, ours.overflow, ours.style, ours.end) == \
        (rich_text.no_wrap, rich_text.overflow, rich_text.style, rich_text.end)


def test_a_chart_drawn_on_a_figure_tidied_ahead_is_the_same_chart(tmp_path: Path) -> None:
    """``chart.tidy`` clears plotext's figure after a frame, so the next render need not:
    whatever was drawn before, the chart drawn next is the one a fresh figure gives."""
    from lstm_top.history import resolve_loss_keys
    from lstm_top.ui import chart

    def spec_of(name: str, epochs: int, log_y: bool) -> chart.ChartSpec:
        history = read_history(write_run(tmp_path / f"{name}.jsonl", name, epochs))
        return chart.build_spec(history, resolve_loss_keys(history.epochs.names), [],
                                ChartOptions(log_y=log_y), 76, 14)

    wanted, other = spec_of("stagnating", 60, False), spec_of("oscillating", 30, True)
    first = chart.render(wanted)
    chart.render(other)
    chart.tidy()
    after_tidy = chart.render(wanted)
    chart.render(other)
    untidied = chart.render(wanted)  # the render clears the figure itself
    chart.tidy()
    chart.tidy()  # twice: nothing left to clear
    assert first == after_tidy == untidied == chart.render(wanted)
    assert chart.render(other) != first
