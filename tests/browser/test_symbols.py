"""The symbols the course shows beside its words (✅ passes, ⏳ not solved yet, ❌ fails, ✏️
Exercise) have a glyph in this machine's Chromium, rather than the empty box of a missing one.

A learner's Lab draws them with the fonts of the learner's own browser; CI's Chromium has only
what ``.ci/run`` installs (Liberation for text, Noto Color Emoji for these). Each symbol is
drawn on a canvas and compared with a character no font has: the same pixels mean a box.
"""

from __future__ import annotations

from autograder.report import SYMBOL
from coursekit.checks import SYMBOLS
from coursekit.progress import NOT_RUN

from .chromium import chromium_page

SHOWN = sorted({*SYMBOLS.values(), *SYMBOL.values(), NOT_RUN, "✏️"})
NO_FONT_HAS_IT = "\U0010fffd"  # the last private-use code point: drawn as the missing-glyph box

DRAW = """(text) => {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 64;
    const context = canvas.getContext("2d");
    context.font = "40px sans-serif";
    context.fillText(text, 4, 48);
    return Array.from(context.getImageData(0, 0, 64, 64).data).join(",");
}"""


def test_every_symbol_the_course_shows_has_a_glyph():
    with chromium_page() as page:
        page.set_content("<html><body></body></html>")
        box = page.evaluate(DRAW, NO_FONT_HAS_IT)
        boxes = [symbol for symbol in SHOWN if page.evaluate(DRAW, symbol) == box]
    assert boxes == [], (
        f"Chromium draws {boxes} as empty boxes: no installed font has them "
        "(.ci/run installs fonts-noto-color-emoji for them)"
    )
