"""The first paint: the real chart and status line on the terminal before Textual has loaded.

A bare Textual app takes ~0.45 s to show its first frame on a small machine; lstm-top's chart
needs only numpy, plotext and the file's newest records. So the command line, before importing
Textual, reads the file as the follower will show it first (all of it, or the newest
``FIRST_PAINT_TAIL_BYTES`` of a large one, which the follower then starts from instead of
reading a tail of its own), builds the same ``View`` the render worker would, and
writes the status line, chart and legend onto the alternate screen at the places and in the
colours Textual will give them. Textual then starts on that screen (``handover_driver``: it
does not enter the alternate screen a second time, which clears it on xterm-like terminals)
and its first frame, composed with this same chart (``LstmTopApp(first_paint=...)``), paints
over it: the chart and status line stay as they are, the panels and the footer appear.

Keys typed meanwhile stay in the terminal's queue (no echo, no line buffering) and Textual
reads them when it starts. Skipped (``None``) whenever it cannot be both cheap and right: not a
terminal on stdin, stdout and stderr, a terminal too small for the layout, ``NO_COLOR`` or a
Textual setting that changes its colours or driver, or a target that is not one JSON Lines file.
Textual-free; nothing here may raise: a failure leaves the terminal as it was.
"""

from __future__ import annotations

import functools
import itertools
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from lstm_top.history import History
from lstm_top.sources.base import LiveSource, UpdateCallback

if TYPE_CHECKING:
    from rich.color import Color
    from rich.style import Style
    from rich.text import Text

# Textual's default theme (textual-dark), as its compositor paints our screen: the chart on
# the screen's background, the status line on ``$boost``; text in ``$foreground``. The test
# of the first paint compares these, cell by cell, with the frame Textual renders.
FOREGROUND = "#e0e0e0"
BACKGROUND = "#121212"
STATUS_BACKGROUND = "#1b1b1b"
# Textual blends a dim colour this far from the background towards the colour (its
# TEXTUAL_DIM_FACTOR default) and maps the 16 ANSI colours through its MONOKAI theme.
DIM_FACTOR = 0.66
ANSI_THEME_BACKGROUND = (12, 12, 12)
ANSI_THEME_FOREGROUND = (217, 217, 217)
ANSI_THEME_NORMAL = ((26, 26, 26), (244, 0, 95), (152, 224, 36), (253, 151, 31),
                     (157, 101, 255), (244, 0, 95), (88, 209, 235), (196, 197, 181))
ANSI_THEME_BRIGHT = ((98, 94, 76), (244, 0, 95), (152, 224, 36), (224, 213, 97),
                     (157, 101, 255), (244, 0, 95), (88, 209, 235), (246, 246, 239))

# The layout of ``lstm_top.tcss`` with one run (no run list): status line, then the plot
# (3fr, at least 8 rows; its last LEGEND_LINES rows are the legend) above the panels (2fr, at
# least 6), then the footer.
STATUS_ROWS = 1
FOOTER_ROWS = 1
PLOT_SHARE = (3, 5)
PLOT_MIN_ROWS = 8
LOWER_MIN_ROWS = 6
MIN_WIDTH = 40
# Enter the alternate screen, hide the cursor, no line wrap (as Textual sets them).
ENTER = "\x1b[?1049h\x1b[?25l\x1b[?7l"
LEAVE = "\x1b[?7h\x1b[?25h\x1b[?1049l"
SYNC_BEGIN, SYNC_END = "\x1b[?2026h", "\x1b[?2026l"  # ignored by terminals without it
# The Textual settings that change what it paints or where: with any of them, no first paint.
TEXTUAL_SETTINGS = ("TEXTUAL_DRIVER", "TEXTUAL_DIM_FACTOR", "TEXTUAL_THEME", "TEXTUAL_FPS")


def plot_rows(height: int) -> int:
    """Rows of the plot (chart and legend) in a terminal ``height`` rows high, as Textual
    divides the body between the plot and the panels."""
    body = height - STATUS_ROWS - FOOTER_ROWS
    return max(PLOT_MIN_ROWS, body * PLOT_SHARE[0] // PLOT_SHARE[1])


def fits(width: int, height: int) -> bool:
    """The layout is the plain one (no minimum overruling the shares) at this size."""
    body = height - STATUS_ROWS - FOOTER_ROWS
    return width >= MIN_WIDTH and body - plot_rows(height) >= LOWER_MIN_ROWS


@dataclass(kw_only=True)
class PaintedScreen:
    """A screen painted before Textual starts: its cells, for Textual's first frame to match,
    and the terminal's state to give back if Textual never takes over (``release``)."""

    rows: list[list[tuple[str, Style]]] = field(default_factory=list)  # the screen painted
    terminal_attrs: list[Any] | None = None  # stdin's termios attributes before the paint
    painted: bool = False  # on the terminal (False: built only, as the tests do)
    taken_over: bool = False  # Textual's driver has the terminal now

    def release(self) -> None:
        """Textual never started (an error, Ctrl-C): the terminal as it was. Idempotent."""
        if not self.painted or self.taken_over:
            return
        self.painted = False
        try:
            _write(LEAVE)
        finally:
            _restore_terminal(self.terminal_attrs)


@dataclass
class FirstPaint(PaintedScreen):
    """The chart and status line of one run, painted first."""

    key: str  # the target, as the app names its run
    chart: Text
    legend: Text
    status: Text
    chart_size: tuple[int, int]
    # A large file's tail as read here, (history, (device, inode), size): the follower starts
    # from it (``FileFollower.use_preview``) instead of reading the tail again.
    preview: tuple[History, tuple[int, int], int] | None = None


def _write(text: str) -> None:
    data = text.encode("utf-8")
    while data:
        written = os.write(2, data)  # Textual's output stream
        data = data[written:]


def _restore_terminal(attrs: list[Any] | None) -> None:
    if attrs is None:
        return
    import termios

    try:
        termios.tcsetattr(0, termios.TCSANOW, attrs)
    except (termios.error, OSError):
        pass


def on_a_terminal(targets: list[str]) -> bool:
    """Whether a screen may be painted before Textual: one target, a real terminal on all
    three streams, colour, and none of Textual's own settings that change how it draws."""
    if len(targets) != 1 or os.name != "posix" or os.environ.get("NO_COLOR"):
        return False
    if any(os.environ.get(name) for name in TEXTUAL_SETTINGS):
        return False
    if os.environ.get("TERM", "dumb") in ("", "dumb"):
        return False
    streams = (sys.__stdin__, sys.__stdout__, sys.__stderr__)
    try:
        return all(stream is not None and stream.isatty() for stream in streams)
    except (ValueError, OSError):
        return False


def wanted(targets: list[str]) -> str | None:
    """The file to paint first, or None when the first paint does not apply here."""
    if not on_a_terminal(targets):
        return None
    target = targets[0]
    if not target.lower().endswith((".jsonl", ".ndjson")) or not os.path.isfile(target):
        return None  # other formats are read by readers that may be slow, or wait
    return target


Painted = TypeVar("Painted", bound=PaintedScreen)


def paint_on_terminal(build: Callable[[int, int], Painted | None],
                      fits_size: Callable[[int, int], bool]) -> Painted | None:
    """Build a screen for the terminal's size and paint it, keys held for Textual; None (and
    the terminal untouched) when it does not fit, cannot be built, or the terminal refuses."""
    width, height = shutil.get_terminal_size()  # as Textual's driver asks
    if not fits_size(width, height):
        return None
    import termios

    fd = 0  # stdin, where Textual reads its keys
    try:
        attrs = termios.tcgetattr(fd)
    except termios.error:
        return None
    try:
        screen = build(width, height)
    except Exception:  # never in the way: Textual starts as ever
        return None
    if screen is None:
        return None
    screen.terminal_attrs = attrs
    quiet = termios.tcgetattr(fd)
    quiet[3] &= ~(termios.ICANON | termios.ECHO)  # keys wait, unechoed, for Textual
    quiet[6][termios.VMIN], quiet[6][termios.VTIME] = 1, 0
    try:
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
        screen.painted = True
        _write(ENTER + SYNC_BEGIN + encode_rows(screen.rows, color_system()) + SYNC_END)
    except (termios.error, OSError):
        screen.release()
        return None
    return screen


def paint_first(targets: list[str], train_key: str | None = None,
                val_key: str | None = None) -> FirstPaint | None:
    """Paint the chart of ``targets``' one JSON Lines file now, if the first paint applies."""
    target = wanted(targets)
    if target is None:
        return None
    return paint_on_terminal(
        lambda width, height: build_first_paint(target, width, height, train_key, val_key), fits)


def build_first_paint(target: str, width: int, height: int, train_key: str | None = None,
                      val_key: str | None = None, now: float | None = None,
                      color: bool = True) -> FirstPaint | None:
    """The first paint of ``target`` for a ``width`` x ``height`` terminal (not written)."""
    from lstm_top.prefs import load_prefs
    from lstm_top.sources.base import ENDED, LIVE
    from lstm_top.ui.runs import RunBook
    from lstm_top.ui.status_line import status_text
    from lstm_top.ui.view import ViewBuilder, settings_from_prefs

    now = time.time() if now is None else now
    history, loading, identity = read_first(target)
    if history is None:
        return None
    source = _PreviewSource(target, history, loading)
    source.state = ENDED if history.finished and loading is None else LIVE
    source.grew_while_watched = False  # what the follower knows after its first look
    try:  # as the follower notes its first read: when the file was last written
        source.last_activity = os.stat(target).st_mtime
    except OSError:
        source.last_activity = now
    book = RunBook(train_key, val_key)
    book.add(target, source)
    rows = plot_rows(height)
    chart_size = (width, rows - 2)  # LossPlot.chart_size: the legend takes two rows
    options = settings_from_prefs(load_prefs(), color=color).options
    view = ViewBuilder().build(book.view_request(1, chart_size, options, now))
    if not view.chart.plain.strip() or view.chart.style == "dim":
        return None  # an empty or waiting chart: nothing worth painting first
    book.apply_view(view)
    status = status_text(book.status_facts(now), width - 2)  # the header's padding: 0 1
    first = FirstPaint(target, view.chart, view.legend, status, chart_size)
    first.rows = screen_rows(first, width, height)
    if identity is not None:
        first.preview = (history, identity[:2], identity[2])
    return first


# A large file's first paint shows its newest this many bytes (~5,000 epochs, far more than
# 80 columns can tell apart): a quarter of the follower's own preview, read in a quarter of
# its time. The follower then starts from this preview rather than read a tail again.
FIRST_PAINT_TAIL_BYTES = 512 << 10


def read_first(target: str) -> tuple[History | None, float | None, tuple[int, int, int] | None]:
    """(history, loading, file) as the follower shows the file first: the whole file, or for
    a large one its header and newest part with ``loading`` 0.0 and ``file`` its (device,
    inode, size) when read. (None, None, None) if unreadable."""
    from lstm_top.sources.bulk import BulkJsonlParser, read_jsonl, read_tail
    from lstm_top.sources.follow import (
        FIRST_LINE_LOOKAHEAD,
        TAIL_FIRST_BYTES,
        TAIL_PREVIEW_BYTES,
        _header_key,
    )

    try:
        with open(target, "rb") as handle:
            st = os.fstat(handle.fileno())
            if st.st_size < TAIL_FIRST_BYTES:
                history = History(source=target)
                read_jsonl(target, history)
                return history, None, None
            head = handle.read(FIRST_LINE_LOOKAHEAD)
        preview = History(source=target)
        newline = head.find(b"\n")
        if newline >= 0 and _header_key(head[:newline]) is not None:
            BulkJsonlParser(preview).feed(head[: newline + 1])
        read_tail(target, min(TAIL_PREVIEW_BYTES, FIRST_PAINT_TAIL_BYTES), history=preview)
        return preview, 0.0, (st.st_dev, st.st_ino, st.st_size)
    except (OSError, ValueError):
        return None, None, None


class _PreviewSource(LiveSource):
    """The history the first paint read, as a source that never runs."""

    def __init__(self, target: str, history: History, loading: float | None) -> None:
        super().__init__(target)
        self.history, self.loading = history, loading

    def start(self, on_update: UpdateCallback | None = None) -> None:
        """Nothing to follow: the app follows the file itself."""

    def _run(self) -> None:
        """Never started."""


# ---------------------------------------------------------------------------- the screen

def screen_rows(first: FirstPaint, width: int, height: int) -> list[list[tuple[str, Style]]]:
    """Every row of the screen as (text, style) runs, styled as Textual will paint them."""
    from rich.style import Style

    base = Style.parse(f"{FOREGROUND} on {BACKGROUND}")
    status_base = Style.parse(f"{FOREGROUND} on {STATUS_BACKGROUND}")
    rows: list[list[tuple[str, Style]]] = []
    status = first.status.copy()
    status.truncate(width - 2, overflow="ellipsis")
    rows.append(_line(status, status_base, width, indent=1))
    chart_lines = first.chart.split("\n", allow_blank=True)
    chart_height = first.chart_size[1]
    for y in range(chart_height):
        line = chart_lines[y] if y < len(chart_lines) else None
        rows.append(_line(line, base, width))
    for line in [*_wrap(first.legend, width)[:2], None, None]:
        if len(rows) >= STATUS_ROWS + chart_height + 2:
            break
        rows.append(_line(line, base, width))
    while len(rows) < height:
        rows.append([(" " * width, base)])
    return rows


def _wrap(text: Text, width: int) -> list[Text | None]:
    if text.justify not in (None, "default", "left"):
        from rich.console import Console

        console = Console(width=width, color_system=None,
                          file=open(os.devnull, "w"))  # noqa: SIM115
        return list(text.wrap(console, width))
    # Rich reads the console only to justify "full": without it, rich.console (a fiftieth of
    # a second on a small machine, which Textual loads later anyway) stays off the first paint.
    return list(text.wrap(None, width))  # type: ignore[arg-type]


def _line(text: Text | None, base: Style, width: int, indent: int = 0
          ) -> list[tuple[str, Style]]:
    """One row: ``text`` from column ``indent``, cropped and padded to ``width``."""
    runs: list[tuple[str, Style]] = [(" " * indent, base)] if indent else []
    used = indent
    if text is not None:
        background = base.bgcolor
        assert background is not None
        plain = text.plain
        for start, end, style in _style_runs(text):
            piece = plain[start:end][: max(0, width - used)]
            if piece:
                runs.append((piece, as_textual(base + style, background)))
                used += len(piece)
    if used < width:
        runs.append((" " * (width - used), base))
    return runs


def _style_runs(text: Text) -> list[tuple[int, int, Style]]:
    """(start, end, style) of every stretch of ``text`` in one style (spans combined)."""
    from rich.style import Style

    plain = text.plain
    cuts = {0, len(plain)}
    for span in text.spans:
        cuts.update((max(0, span.start), min(len(plain), span.end)))
    edges = sorted(c for c in cuts if 0 <= c <= len(plain))
    base = text.style if isinstance(text.style, Style) else Style.parse(text.style or "")
    runs = []
    for start, end in itertools.pairwise(edges):
        style = base
        for span in text.spans:
            if span.start <= start and span.end >= end:
                span_style = span.style
                style = style + (span_style if isinstance(span_style, Style)
                                 else Style.parse(span_style))
        runs.append((start, end, style))
    return runs


@functools.cache
def _theme() -> Any:
    from rich.terminal_theme import TerminalTheme

    return TerminalTheme(ANSI_THEME_BACKGROUND, ANSI_THEME_FOREGROUND, list(ANSI_THEME_NORMAL),
                         list(ANSI_THEME_BRIGHT))


# A screen has a few dozen distinct styles in thousands of runs: each is converted once.
@functools.lru_cache(maxsize=1024)
def as_textual(style: Style, background: Color) -> Style:
    """``style`` as Textual's compositor turns it into colours: the 16 ANSI colours (and
    256-colour indexes) through its theme, ``dim`` as a colour blended towards the background
    (Textual's ``ANSIToTruecolor`` filter)."""
    from rich.color import Color
    from rich.style import Style

    theme = _theme()
    color, bgcolor = style.color, style.bgcolor
    if color is not None and color.triplet is None:
        color = Color.from_triplet(color.get_truecolor(theme, foreground=True))
    if bgcolor is not None and bgcolor.triplet is None:
        bgcolor = Color.from_triplet(bgcolor.get_truecolor(theme, foreground=False))
    if style.dim and color is not None:
        back = (bgcolor or background).get_truecolor(theme, foreground=False)
        fore = color.get_truecolor(theme)
        color = Color.from_rgb(*(b + (f - b) * DIM_FACTOR for b, f in zip(back, fore,
                                                                           strict=True)))
        style += Style(dim=False)
    return style + Style.from_color(color, bgcolor)


# Rich's colour systems by the end of TERM (its ``_TERM_COLORS``); anything else is standard.
_TERM_COLORS = {"kitty": "256", "256color": "256", "16color": "standard"}


def color_system() -> Any:
    """The colour system Textual's console will use here (rich's detection, or
    TEXTUAL_COLOR_SYSTEM)."""
    from rich.color import ColorSystem

    wanted_system = os.environ.get("TEXTUAL_COLOR_SYSTEM", "auto")
    if wanted_system == "auto" and os.name == "posix" and "IPython" not in sys.modules:
        # Rich's detection for a terminal (the first paint writes only to one), without
        # loading rich.console for it; a test compares the two.
        term = os.environ.get("TERM", "")
        if term.lower() in ("dumb", "unknown"):
            return None
        if os.environ.get("COLORTERM", "").strip().lower() in ("truecolor", "24bit"):
            return ColorSystem.TRUECOLOR
        colors = term.strip().lower().rpartition("-")[2]
        return ColorSystem.EIGHT_BIT if _TERM_COLORS.get(colors) == "256" else \
            ColorSystem.STANDARD
    from rich.console import Console

    console = Console(force_terminal=True, color_system=wanted_system,  # type: ignore[arg-type]
                      file=open(os.devnull, "w"))  # noqa: SIM115
    return console._color_system


def encode_rows(rows: list[list[tuple[str, Style]]], system: Any) -> str:
    """The rows as terminal output: each row placed by a cursor move, as Textual writes."""
    out = []
    for y, runs in enumerate(rows):
        out.append(f"\x1b[{y + 1};1H")
        out.extend(style.render(text, color_system=system) for text, style in runs)
    return "".join(out)
