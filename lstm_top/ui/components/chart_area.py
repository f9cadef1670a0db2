"""The chart's cells: the plotext figure (a Rich ``Text`` of a few colours) drawn as strips.

A ``Static`` would turn the whole figure into Textual ``Content`` and lay it out again on every
frame: the chart was half of an appended epoch's time from the file to the screen. The figure
is a grid of single-line runs in a handful of styles (``no_wrap``: a message that may wrap
goes the Static's way), so each style is worked out once through
Textual's own path (``Content`` rendered with this widget's style: the same colours, dimming and
background a ``Static`` gives) and every frame is then only cut into runs of those styles.
"""

from __future__ import annotations

import itertools

from rich.segment import Segment
from rich.style import Style as RichStyle
from rich.text import Text
from textual.content import Content
from textual.strip import Strip
from textual.visual import Visual
from textual.widget import Widget


class ChartArea(Widget):
    DEFAULT_CSS = "ChartArea { height: 1fr; }"
    ALLOW_SELECT = False

    def __init__(self, text: Text, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._text = text
        self._strips: list[Strip] | None = None
        self._drawn_for: tuple[object, ...] = ()
        self._styles_for: object = None
        self._final: dict[tuple[object, ...], RichStyle] = {}

    @property
    def text(self) -> Text:
        return self._text

    def show(self, text: Text) -> None:
        self._text, self._strips = text, None
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        visual_style = self.visual_style
        if visual_style is not self._styles_for:  # a new theme, focus or size of styles
            self._styles_for, self._final = visual_style, {}
        key = (width, height, visual_style)
        if self._strips is None or key != self._drawn_for:
            self._strips, self._drawn_for = self._draw(width, height), key
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(width, visual_style.rich_style)

    def _draw(self, width: int, height: int) -> list[Strip]:
        if not self._text.no_wrap:  # a message, not a figure: wrapped as a Static wraps it
            return Visual.to_strips(self, Content.from_rich_text(self._text), width, height,
                                    self.visual_style)
        strips = []
        for line in self._text.split("\n", allow_blank=True)[:height]:
            plain = line.plain[:width]
            segments = []
            position = 0
            spans = sorted(line.spans, key=lambda span: span.start)
            for span in spans:
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
            strips.append(Strip(segments).simplify())
        return strips

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
