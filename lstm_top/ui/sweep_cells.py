"""What the sweep table shows, cell by cell: Textual-free, so the first paint of a sweep (before
Textual has loaded, ``ui.sweep_paint``) and the table screen (``components.run_table``) show
the same text in the same styles.

At 80 columns a sweep's table must show the run, its worst sign, its best val loss and the
config values that tell the runs apart: so the sign is a coloured glyph and a short name
(``✖ stagnating``; the finding itself is one ``enter`` away), and the state column is left out
while every run is in the same state (a finished sweep: the summary line says "all finished"),
as config keys the same everywhere are.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from lstm_top.sweep import RunRow

SEVERITY_STYLES = {3: "bold red", 2: "yellow", 1: "cyan", 0: "dim"}
SEVERITY_GLYPHS = {3: "✖", 2: "▲", 1: "•"}
STATE_STYLES = {"live": "green", "stalled": "yellow", "crashed": "bold red", "error": "red",
                "finished": "", "interrupted": "yellow", "deleted": "dim", "waiting": "dim",
                "not growing": ""}
NAME_CHARS = 30
# Rows in the table's first paint: two screens' worth at 80x24, the first paint is what one
# waits for (the DataTable measures every cell of a new row before it paints; the rest follow).
NEW_ROWS_FIRST_PAINT = 40
# Sign ids as the table names them: what they say, without what every one of them is about.
_SIGN_WORDS = (("_val_loss", ""), ("_loss", ""), ("_gradients", " grads"), ("_", " "))


def sign_label(sign: str) -> str:
    """``stagnating_val_loss`` → ``stagnating``, ``exploding_gradients`` → ``exploding grads``."""
    for old, new in _SIGN_WORDS:
        sign = sign.replace(old, new)
    return sign


def columns(config_keys: Sequence[str], rows: Sequence[RunRow]) -> list[str]:
    """The table's column labels: the state only when the runs' states differ."""
    states = {row.state for row in rows}
    return ["run", *(["state"] if len(states) > 1 else []), "epochs", "best val @",
            "worst sign", *config_keys]


def cells(row: RunRow, labels: Sequence[str]) -> tuple[str, ...]:
    """The row's cell texts under ``columns``' labels."""
    texts = []
    for label in labels:
        if label == "run":
            texts.append(row.run[:NAME_CHARS])
        elif label == "state":
            texts.append(row.state)
        elif label == "epochs":
            texts.append(f"{row.rows}" + (" st" if row.unit == "step" else ""))
        elif label == "best val @":
            texts.append("–" if row.best_val is None else f"{row.best_val:.4g} @{row.best_at}")
        elif label == "worst sign":
            sign = "–" if row.sign is None else \
                f"{SEVERITY_GLYPHS.get(row.severity, '•')} {sign_label(row.sign)}"
            texts.append(sign + (f" +{row.active_signs - 1}" if row.active_signs > 1 else ""))
        else:
            texts.append(row.config.get(label, ""))
    return tuple(texts)


def styled(labels: Sequence[str], texts: Sequence[str], severity: int, marked: bool
           ) -> list[Text]:
    """The cells as the table shows them (Text: the table would parse a str as markup)."""
    out: list[Text] = []
    for label, text in zip(labels, texts, strict=True):
        if label == "run":
            # A mark takes room only where there is one: at 80 columns every column counts.
            out.append(Text(("◉ " if marked else "") + text))
        elif label == "state":
            out.append(Text(text, style=STATE_STYLES.get(text, "")))
        elif label == "worst sign":
            out.append(Text(text, style=SEVERITY_STYLES.get(severity, "")))
        else:
            out.append(Text(text))
    return out


def summary(rows: Sequence[RunRow], shown: int, sort_key: str, filter_text: str = "",
            marks: int = 0, judging: tuple[int, int] | None = None) -> str:
    """The line above the table: how many runs, how many in trouble, how it is sorted.
    ``judging``: (runs judged, runs) while the signs are still going through them."""
    text = f"{shown} of {len(rows)} runs" if filter_text else f"{len(rows)} runs"
    troubled = sum(1 for row in rows if row.severity >= 2)
    text += f" · {troubled} with warnings" if troubled else ""
    states = {row.state for row in rows}
    if len(states) == 1 and len(rows) > 1:
        text += f" · all {next(iter(states))}"
    if judging is not None and judging[0] < judging[1]:
        text += f" · signs {judging[0]}/{judging[1]}"
    text += f" · sorted by {sort_key}"
    if filter_text:
        text += f" · filter: {filter_text}"
    if marks:
        text += f" · {marks} marked (o: overlay)"
    return text
