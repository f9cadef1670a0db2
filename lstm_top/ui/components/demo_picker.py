"""The demo picker: one line per scenario; enter starts it, escape closes."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from lstm_top.ui.demo_runner import ScenarioInfo


class DemoPicker(ModalScreen[str | None]):
    # The app's own AUTO_FOCUS names a main-screen widget; here the arrows must move the list.
    AUTO_FOCUS = "#scenarios"
    BINDINGS: ClassVar[list[BindingType]] = [
        ("escape", "dismiss_none", "Close"), ("q", "dismiss_none", "Close")]
    DEFAULT_CSS = """
    DemoPicker { align: center middle; }
    DemoPicker > Vertical { width: 90%; max-width: 100; height: auto; max-height: 90%;
                            border: round $accent; background: $surface; padding: 0 1; }
    DemoPicker OptionList { height: auto; max-height: 16; border: none; }
    DemoPicker #picker-help { color: $text-muted; }
    """

    def __init__(self, scenarios: list[ScenarioInfo]) -> None:
        super().__init__()
        self.scenarios = scenarios

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Start a demo training", style="bold"))
            if self.scenarios:
                options = []
                for scenario in self.scenarios:
                    label = Text(f"{scenario.name:<14}", style="bold")
                    label.append(scenario.description, style="")
                    options.append(Option(label, id=scenario.name))
                yield OptionList(*options, id="scenarios")
                yield Static("enter start · esc close — it runs as a separate process and "
                             "writes a new history under the runs folder", id="picker-help")
            else:
                yield Static("The demo package is not available in this installation.")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
