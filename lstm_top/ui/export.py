"""``e``: the screen saved as an SVG picture and as plain text, named after the run.

The files are created, never overwritten, and never through a symlink (``O_CREAT | O_EXCL |
O_NOFOLLOW``): the export folder may be a shared working directory, and another user who could
predict a name could otherwise plant a link there to make us overwrite a file of ours (or, as
root, anyone's). Names end in random hex, so they cannot be predicted from outside.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lstm_top.reduce import MetricSummary, format_value
from lstm_top.ui.text import clean

if TYPE_CHECKING:
    from textual.app import App


def export_stem(run_name: str | None) -> str:
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in (run_name or "lstm-top"))
    return f"lstm-top-{name[:40]}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"


def screen_text(status: str, chart: str, warnings: str,
                metrics: Sequence[MetricSummary]) -> str:
    """The screen's content as plain text: status, chart, warnings, metrics."""
    lines = [status, "", chart, "", "warnings:", warnings, "", "metrics:"]
    for row in metrics:
        best = "–" if row.best is None else f"{format_value(row.best)} @{row.best_epoch}"
        lines.append(f"  {clean(row.name, 40):<24} {format_value(row.latest):>10} "
                     f"{best:>16} {format_value(row.change):>10}")
    return "\n".join(lines) + "\n"


def export_screen(app: App[int], folder: str | Path, stem: str, text: str) -> tuple[str, str]:
    """Write ``stem``.svg (the screen) and ``stem``.txt (``text``); raises OSError."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    svg_path = folder / f"{stem}.svg"
    text_path = folder / f"{stem}.txt"
    write_new_file(svg_path, app.export_screenshot().encode("utf-8"))
    try:
        write_new_file(text_path, text.encode("utf-8"))
    except OSError:
        os.unlink(svg_path)  # both or neither
        raise
    return str(svg_path), str(text_path)


def write_new_file(path: Path, data: bytes) -> None:
    """Create ``path`` and write ``data``; FileExistsError if anything (a file, a symlink,
    dangling or not) is already there."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) \
        | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o666)  # the umask applies
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
