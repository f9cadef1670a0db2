"""The status line's text: run, state, epoch, elapsed, seconds per epoch. Textual-free, so the
first paint (``ui.first_paint``) writes the same line before Textual has loaded."""

from __future__ import annotations

from rich.text import Text

from lstm_top.reduce import format_age, format_duration, format_value
from lstm_top.sanitize import truncate
from lstm_top.ui.view import StatusFacts

STATE_STYLES = {
    "live": "bold green", "finished": "bold cyan", "crashed": "bold red",
    "interrupted": "bold yellow", "stalled": "bold yellow", "waiting": "dim",
    "error": "bold red", "deleted": "bold red", "disconnected": "bold yellow",
    "not growing": "bold cyan",
}
# The run name's share of the status line; state, epoch, elapsed and pace always fit.
NAME_MIN = 12
NAME_SHARE = 0.4
LOADING_BAR = 8  # cells of the progress bar while a large file is read behind its tail


def compose_text(parts: list[tuple[str, str]]) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    for i, (piece, style) in enumerate(parts):
        if i:
            text.append(" │ ", style="dim")
        text.append(piece, style=style)
    return text


def status_text(facts: StatusFacts | None, width: int) -> Text:
    """The line for ``width`` cells: the name gets a bounded share, the facts always show."""
    if facts is None:
        return compose_text([("lstm-top", "bold"), ("no run", "dim")])
    label = facts.state
    if facts.state == "stalled" and facts.stalled_for is not None:
        label = f"stalled {format_duration(facts.stalled_for)}"
    elif facts.state == "not growing" and facts.stalled_for is not None:
        # A file that was quiet before it was opened: a past run, not a stalled one.
        label = f"not growing · last write {format_age(facts.stalled_for)} ago"
    pieces = [(f"● {label}", STATE_STYLES.get(facts.state, ""))]
    if facts.loading is not None:  # shown from its newest part; the rest is being read
        done = round(facts.loading * LOADING_BAR)
        pieces.append((f"reading {'█' * done}{'░' * (LOADING_BAR - done)} {facts.loading:.0%}",
                       "bold"))
    if facts.stopped_by:  # stop_on= ended the run: say which sign
        pieces.append((f"■ stopped: {facts.stopped_by}", "bold red"))
    if facts.unit == "step":  # judged by its evaluation points: the x axis is steps
        pieces.append((f"step {facts.epoch} · steps", ""))
    else:
        pieces.append((f"epoch {facts.epoch if facts.epoch is not None else '–'}", ""))
    pieces.append((f"elapsed {format_duration(facts.elapsed)}", ""))
    if facts.seconds_per_epoch is not None:
        per = "eval" if facts.unit == "step" else "epoch"  # a step run's rows are evaluations
        pieces.append((f"{format_value(facts.seconds_per_epoch)} s/{per}", ""))
    if facts.paused_unseen is not None:
        pieces.append((f"⏸ paused (+{facts.paused_unseen})", "bold reverse"))
    if facts.malformed_lines:
        pieces.append((f"{facts.malformed_lines} bad lines", "yellow"))
    needed = sum(len(piece) + 3 for piece, _ in pieces) + 2  # separators, padding
    budget = max(NAME_MIN, min(int(width * NAME_SHARE), width - needed))
    parts = [(truncate(facts.name, budget), "bold"), *pieces]
    if facts.file_name and facts.file_name != facts.name:
        parts.append((facts.file_name, "dim"))
    return compose_text(parts)
