"""lstm_top.sanitize on arbitrary text: nothing that drives or reorders a terminal survives,
truncation respects terminal cells, and escaped markup renders literally in Textual."""

from __future__ import annotations

import unicodedata

from hypothesis import example, given, settings
from hypothesis import strategies as st

from lstm_top.sanitize import ELLIPSIS, cell_width, escape_markup, safe_name, safe_text, truncate
from tests.conftest import fuzz_examples

FUZZ = settings(max_examples=fuzz_examples(200), deadline=None)
hostile = st.text(alphabet=st.one_of(
    st.characters(codec=None),  # everything, lone surrogates included
    st.sampled_from(["\x1b", "[", "]", "\\", "\x07", "\x9b", "\x9d", "\x9c", "\u202e", ";",
                     "@", "=", "$", "/"]),
), max_size=60)


@FUZZ
@given(text=hostile)
@example(text="\x1b]52;c;cm0gLXJmIH4=\x07ok")
@example(text="\x1b[2J\x1b[31mred\x1b[0m")
def test_safe_text_leaves_nothing_that_drives_the_terminal(text: str) -> None:
    shown = safe_text(text)
    for ch in shown:
        category = unicodedata.category(ch)
        assert category not in ("Cc", "Cs", "Cf", "Zl", "Zp"), repr(ch)
    shown.encode("utf-8")  # no lone surrogate
    assert safe_text(shown) == shown  # idempotent


def test_escape_sequences_are_removed_whole() -> None:
    assert safe_text("\x1b[1;31mred\x1b[0m") == "red"
    assert safe_text("a\x1b]52;c;aGk=\x07b") == "ab"
    assert safe_text("a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\") == "alink"
    assert safe_text("\u202eevil") == "?evil"
    assert safe_text("tab\there") == "tab here"


@FUZZ
@given(text=st.text(max_size=80), cells=st.integers(0, 40))
def test_truncate_fits_the_cells_and_marks_the_cut(text: str, cells: int) -> None:
    cut = truncate(text, cells)
    assert cell_width(cut) <= cells
    if cell_width(text) <= cells:
        assert cut == text
    elif cells:
        assert cut.endswith(ELLIPSIS) and text.startswith(cut[:-1])


@FUZZ
@given(text=hostile)
@example(text="[$accent]x")
@example(text="[B]x [ bold ]y \\[z]")
@example(text="[@click=app.quit]x")
def test_escaped_markup_renders_literally_in_textual(text: str) -> None:
    from textual.content import Content

    safe = safe_name(text, 1000)
    assert Content.from_markup(escape_markup(safe)).plain == safe
