"""The keys that put something over the main screen: help, a warning's detail, the demo
picker, an export, and the notices they answer with (one at a time, on the footer's line).

The app (``ui.app``) inherits these; it keeps only the wiring of sources, workers and widgets.
The screens load when first opened: the first frame does not need them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.app import App

from lstm_top.ui.export import export_screen, export_stem, screen_text

if TYPE_CHECKING:
    from lstm_top.ui.chart import ChartOptions
    from lstm_top.ui.components.main_view import MainView
    from lstm_top.ui.components.warnings import WarningsPanel
    from lstm_top.ui.demo_runner import DemoRunner
    from lstm_top.ui.run_state import Run
    from lstm_top.ui.runs import RunBook


class OverlayKeys(App[int]):
    # Set by the app.
    book: RunBook
    main_view: MainView
    demos: DemoRunner
    export_dir: str
    clock: Callable[[], float]
    demo_epochs: int | None
    demo_epoch_delay: float | None
    last_export: tuple[str, str] | None = None

    @property
    def options(self) -> ChartOptions:
        raise NotImplementedError

    def add_run(self, target: str, select: bool = False) -> Run:
        raise NotImplementedError

    def notify(self, message: str, *args: Any, **kwargs: Any) -> None:
        """One notification at a time, on the footer's line, so none covers data."""
        self.clear_notifications()
        super().notify(message, *args, **kwargs)

    def action_help(self) -> None:
        from lstm_top.ui.components.help import HelpScreen

        self.push_screen(HelpScreen())

    def action_warning(self, number: int) -> None:
        request = self.book.detail_request(number, self.clock(), self.options.color)
        if request is not None:
            from lstm_top.ui.components.finding_detail import FindingDetail

            self.push_screen(FindingDetail(request))

    def on_warnings_panel_chosen(self, message: WarningsPanel.Chosen) -> None:
        self.action_warning(message.number)

    def action_export(self) -> None:
        run = self.book.current
        try:
            self.last_export = export_screen(self, self.export_dir,
                                             export_stem(run.name if run else None),
                                             self.snapshot_text())
        except OSError as exc:  # a read-only or full folder: say so, keep running
            self.notify(f"export failed: {exc}", severity="error", markup=False)
            return
        svg, text = self.last_export
        self.notify(f"saved {svg} and {text.rsplit('/', 1)[-1]}", markup=False)

    def snapshot_text(self) -> str:
        main, run = self.main_view, self.book.current
        return screen_text(main.status_header.plain_text, main.loss_plot.plain,
                           main.warnings_panel.plain, run.metrics if run else [])

    def action_demo(self) -> None:
        from lstm_top.ui.components.demo_picker import DemoPicker
        from lstm_top.ui.demo_runner import list_scenarios

        self.push_screen(DemoPicker(list_scenarios()),
                         lambda scenario: self.launch_demo(scenario) if scenario else None)

    def launch_demo(self, scenario: str) -> None:
        demo, notice = self.demos.launch(scenario, self.demo_epochs, self.demo_epoch_delay)
        if demo is not None:
            self.add_run(str(demo.path), select=True)
        self.notify(notice, severity="information" if demo else "error", markup=False)

    def action_stop_demo(self) -> None:
        self.notify(self.demos.stop_started_here(self.book.selected), markup=False)
