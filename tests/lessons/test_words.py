"""Symbols in the lessons never carry meaning alone: a machine without an emoji font shows
them as empty boxes, so the words beside them must say it (docs/AUTHORING.md)."""

from __future__ import annotations

import json

import pytest

from autograder.lessons import ROOT, Lesson, all_lessons
from coursekit.display import SYMBOLS, WORDS

# symbol -> a word that must stand on the same line of markdown
MARKDOWN_SYMBOLS = {"✏️": "xercise", **{symbol: "" for symbol in SYMBOLS.values()}}


def markdown_lines(path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [line for cell in cells if cell["cell_type"] == "markdown" for line in "".join(cell["source"]).splitlines()]


@pytest.mark.parametrize("lesson", all_lessons(), ids=lambda lesson: lesson.slug)
def test_every_symbol_in_a_lessons_text_has_its_word_beside_it(lesson: Lesson):
    for path in (lesson.solution, lesson.release):
        for line in markdown_lines(path):
            for symbol, word in MARKDOWN_SYMBOLS.items():
                if symbol in line:
                    # the check symbols appear in text only quoted with their words ("✅ passes")
                    assert word in line if word else any(f"{symbol} {w}" in line for w in WORDS.values()), (
                        f"{path.relative_to(ROOT)}: {symbol!r} without its word: {line!r}"
                    )
