"""``e``: the screen saved as an SVG picture and as plain text, named after the run."""

from __future__ import annotations

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
    return f"lstm-top-{name[:40]}-{time.strftime('%Y%m%d-%H%M%S')}"


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
    svg = app.save_screenshot(f"{stem}.svg", str(folder))
    text_path = folder / f"{stem}.txt"
    text_path.write_text(text, encoding="utf-8")
    return svg, str(text_path)
