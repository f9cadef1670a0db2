"""The run list: one line per run, with its overlay colour and state; space marks for overlay."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.binding import BindingType
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from lstm_top.sanitize import truncate
from lstm_top.ui.components.status import STATE_STYLES
from lstm_top.ui.view import RunRow


def row_label(row: RunRow, name_width: int) -> Text:
    label = Text()
    label.append("◉ " if row.marked else "━ ",
                 style=f"color({row.color})" if row.color is not None else "")
    label.append(truncate(row.name, name_width))
    label.append(f"\n  {row.state}", style=STATE_STYLES.get(row.state, "dim"))
    if row.active_warnings:
        label.append(f" ⚠{row.active_warnings}", style="yellow")
    return label


class RunList(OptionList):
    BINDINGS: ClassVar[list[BindingType]] = [
        ("space", "toggle_mark", "Mark for overlay")]

    def show_runs(self, rows: Sequence[RunRow], selected: str | None) -> None:
        narrow = self.screen.has_class("-narrow")
        self.show([(row.key, row_label(row, 13 if narrow else 18)) for row in rows], selected)

    def show(self, rows: list[tuple[str, Text]], selected: str | None) -> None:
        """``rows``: (run key, label). Keeps the highlight on the selected run."""
        signature = [(key, label.plain, tuple(label.spans)) for key, label in rows]
        if signature == getattr(self, "_shown", None):
            return
        self._shown = signature
        self.clear_options()
        self.add_options([Option(label, id=key) for key, label in rows])
        if selected is not None:
            for index, (key, _) in enumerate(rows):
                if key == selected:
                    self.highlighted = index

    def action_toggle_mark(self) -> None:
        if self.highlighted is not None:
            option = self.get_option_at_index(self.highlighted)
            self.app.toggle_overlay_mark(option.id)  # type: ignore[attr-defined]
