"""The run list: one line per run, with its overlay colour and state; space marks for overlay."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import BindingType
from textual.widgets import OptionList
from textual.widgets.option_list import Option


class RunList(OptionList):
    BINDINGS: ClassVar[list[BindingType]] = [
        ("space", "toggle_mark", "Mark for overlay")]

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
