"""Text drawn as strips, a line at a time: the chart's cells (the plotext figure), the status
line and the legend.

A ``Static`` turns its whole text into Textual ``Content`` and lays it out again on every
update, and each update repaints every line of it: the chart was half of an appended epoch's
time from the file to the screen. Here the text is a grid of single-line runs in a handful of
styles, so each style is worked out once through Textual's own path (``Content`` rendered with
this widget's style: the same colours, dimming and background a ``Static`` gives) and a line is
then only cut into runs of those styles. An update repaints only the lines that changed (an
epoch leaves the legend's second line, the status line's run name, often a chart row as they
were), so Textual's compositor renders only those.

Text that a ``Static`` would lay out differently — a line wider than the widget that should
wrap or end in an ellipsis, wide characters, another justification — goes the ``Static``'s
way (``Content``), whole.
"""

from __future__ import annotations

import itertools

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style as RichStyle
from rich.text import Text
from textual.content import Content
from textual.geometry import Region
from textual.strip import Strip
from textual.visual import Visual
from textual.widget import Widget

# A line as drawn: its characters, its spans and its base style (equal keys, equal strips).
LineKey = tuple[str, tuple[tuple[int, int, object], ...], object]
# Strips kept for lines no longer shown, beyond the lines on screen (a line that comes back,
# e.g. the status line's pace flipping between two values, is not cut again).
SPARE_STRIPS = 64


def _line_key(line: Text) -> LineKey:
    return line.plain, tuple((s.start, s.end, s.style) for s in line.spans), line.style


class ChartArea(Widget):
    DEFAULT_CSS = "ChartArea { height: 1fr; }"
    ALLOW_SELECT = False

    def __init__(self, text: Text, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._text = text
        self._lines: list[Text] = []
        self._keys: list[LineKey] = []
        self._split(text)
        self._strips: dict[LineKey, Strip] = {}
        self._whole: list[Strip] | None = None  # the Content way's strips, for its text
        self._drawn_for: tuple[object, ...] = ()
        self._final: dict[tuple[object, ...], RichStyle] = {}

    @property
    def text(self) -> Text:
        return self._text

    def render(self) -> Text:
        """What is shown (as ``Static.render`` gives it; the painting is ``render_line``'s)."""
        return self._text

    def show(self, text: Text, lines: list[Text] | None = None) -> None:
        """``lines``: ``text.split("\\n")``, when the caller has them (the chart's builder)."""
        before, fast_before = self._keys, self._whole is None and self._drawn_for != ()
        self._text = text
        self._split(text, lines)
        self._whole = None
        width, height = self.size
        if not (fast_before and self._fits(width) and len(before) == len(self._keys)
                and self._drawn_for[:2] == (width, height)):
            self._drawn_for = ()
            self.refresh()
            return
        changed = [Region(0, y, width, 1) for y, (old, new) in
                   enumerate(zip(before, self._keys, strict=True)) if old != new and y < height]
        if changed:
            self.refresh(*changed)  # only these lines are painted again

    def _split(self, text: Text, lines: list[Text] | None = None) -> None:
        self._lines = list(text.split("\n", allow_blank=True)) if lines is None else lines
        self._keys = [_line_key(line) for line in self._lines]

    def _fits(self, width: int) -> bool:
        """Every line is drawn as it stands, as a ``Static`` would draw it: cut at the edge
        (a figure: ``no_wrap`` and ``overflow="crop"``) or not needing to be."""
        text = self._text
        if text.justify not in (None, "default", "left"):
            return False
        crops = text.no_wrap is True and text.overflow == "crop"
        for plain, _, _ in self._keys:
            if not plain.isascii() and cell_len(plain) != len(plain):
                return False  # wide characters: Textual measures the cells
            if len(plain) > width and not crops:
                return False
        return True

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        visual_style = self.visual_style
        key = (width, height, visual_style)
        if key != self._drawn_for:  # a new size, theme or focus: everything again
            self._drawn_for, self._strips, self._final, self._whole = key, {}, {}, None
        if self._whole is None and not self._fits(width):
            self._whole = Visual.to_strips(self, Content.from_rich_text(self._text), width,
                                           height, visual_style)
        if self._whole is not None:
            strips = self._whole
            return strips[y] if y < len(strips) else Strip.blank(width, visual_style.rich_style)
        if y >= len(self._lines) or y >= height:
            return Strip.blank(width, visual_style.rich_style)
        line_key = self._keys[y]
        strip = self._strips.get(line_key)
        if strip is None:
            if len(self._strips) > height + SPARE_STRIPS:
                shown = set(self._keys)
                self._strips = {k: s for k, s in self._strips.items() if k in shown}
            strip = self._strips[line_key] = self._draw_line(self._lines[y], width)
        return strip

    def _draw_line(self, line: Text, width: int) -> Strip:
        plain = line.plain[:width]
        segments = []
        position = 0
        for span in sorted(line.spans, key=lambda span: span.start):
            if span.start < position:  # overlapping spans (not plotext's): cut by cut
                segments = self._runs_by_cuts(line, width)
                break
            if span.start >= len(plain):
                break
            if span.start > position:
                segments.append(Segment(plain[position:span.start],
                                        self._style_of(line.style, ())))
            end = min(span.end, len(plain))
            if end > span.start:
                segments.append(Segment(plain[span.start:end],
                                        self._style_of(line.style, (span.style,))))
            position = max(position, end)
        else:
            if position < len(plain):
                segments.append(Segment(plain[position:], self._style_of(line.style, ())))
        return Strip(segments).simplify()

    def _runs_by_cuts(self, line: Text, width: int) -> list[Segment]:
        plain = line.plain[:width]
        cuts = {0, len(plain)}
        for span in line.spans:
            cuts.update((min(span.start, len(plain)), min(span.end, len(plain))))
        edges = sorted(cuts)
        segments = []
        for start, end in itertools.pairwise(edges):
            if start < end:
                styles = tuple(span.style for span in line.spans
                               if span.start <= start and span.end >= end)
                segments.append(Segment(plain[start:end], self._style_of(line.style, styles)))
        return segments

    def _style_of(self, base: str | RichStyle, spans: tuple[str | RichStyle, ...]
                  ) -> RichStyle:
        """The final style of text in ``base`` with ``spans`` over it, as a Static paints it;
        worked out once per distinct style."""
        key = (base, *spans)
        final = self._final.get(key)
        if final is None:
            sample = Text("x", style=base)
            for span_style in spans:
                sample.stylize(span_style)
            strips = Visual.to_strips(self, Content.from_rich_text(sample), 1, 1,
                                      self.visual_style)
            segment = next(iter(strips[0])) if strips and strips[0] else None
            final = segment.style if segment is not None and segment.style else \
                self.visual_style.rich_style
            # Without the sample's text offset (a Static's, for selecting text; a chart of
            # braille dots is exported with `x`, not selected).
            final = final.clear_meta_and_links()
            self._final[key] = final
        return final
