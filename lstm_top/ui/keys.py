"""Every key of the main screen in one table: the app's bindings, the footer and the help
screen are all made from it, so none of them can leave a key out."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType


@dataclass(frozen=True, slots=True)
class Key:
    keys: str  # Textual key names, comma-separated
    action: str  # the app action; "" for keys a widget handles itself
    footer: str  # the footer's short label
    help: str  # the help screen's line
    shown_as: str = ""  # how the help screen writes the key (default: the first key name)

    @property
    def label(self) -> str:
        return self.shown_as or self.keys.split(",")[0]


KEYS: tuple[Key, ...] = (
    Key("q", "quit", "Quit", "quit (stops demo trainings started here)"),
    Key("question_mark", "help", "Help", "this help: every key", "?"),
    Key("l", "view('toggled_log')", "Log", "log / linear y axis"),
    Key("s", "view('toggled_smoothing')", "Smooth",
        "smoothing on/off (EMA; the raw line stays, faint)"),
    Key("w", "view('next_window')", "Window", "window: all epochs / last 20 / last 100"),
    Key("v", "view('next_series')", "Series",
        "series: train + val + subsets / train + val / val + subsets"),
    Key("o", "toggle_overlay", "Overlay", "overlay: val loss of the marked runs (or all)"),
    Key("f", "toggle_follow", "Pause", "pause / resume following new records"),
    Key("e", "export", "Export", "export the screen (SVG and text)"),
    Key("d", "demo", "Demo", "start a demo training"),
    Key("x", "stop_demo", "Stop", "stop the demo training of the selected run"),
    Key("t", "run_table", "Runs", "sweep table: every run, worst first (s sort, / filter, "
        "space mark, o overlay, enter open)"),
    Key("plus,equals_sign", "view('more_smoothing')", "More", "more smoothing", "+"),
    Key("minus,underscore", "view('less_smoothing')", "Less", "less smoothing", "-"),
    Key("tab", "", "", "move focus: warnings, metrics, run list"),
    Key("enter", "", "", "on a warning: its detail (evidence, remedy, zoomed chart)"),
    Key("up,down", "", "", "scroll the focused panel; in the run list: choose a run", "↑ ↓"),
    Key("pageup,pagedown", "", "", "scroll the focused panel a page", "PgUp PgDn"),
    Key("space", "", "", "in the run list: mark a run for the overlay"),
    Key("escape", "", "", "close this help, a detail or the demo picker", "esc"),
)


def bindings() -> list[BindingType]:
    """The app's bindings; every one is in the footer while it fits (the help has them all)."""
    listed: list[BindingType] = [Binding(k.keys, k.action, k.footer,
                                         key_display=k.shown_as or None) for k in KEYS if k.action]
    return listed + [Binding(str(n), f"warning({n})", f"Warning {n}", show=False)
                     for n in range(1, 10)]
