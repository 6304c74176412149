"""A lesson's plausible wrong answers (``mistakes.toml`` in its folder), read and put into its solution.

Each ``[[mistake]]`` names an exercise, says why the answer is wrong (``why``), what the
feedback must mention (``feedback``), whether the lesson's text warns about it (``warned``), and
holds a ``source`` that is *appended* to the reference solution's cell for that exercise: it
redefines the exercise's name with one bug, while any helper the cell defines stays available.

Read in one place, because two readers must build the very same wrong notebooks: the lesson
tests (``tests/lessons/test_lessons.py``: each must lose points with a useful message) and the
grading benchmark (``scripts/benchmark_grading.py``: its "wrong" submissions).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass

from . import notebook
from .lessons import Lesson


@dataclass(frozen=True)
class Mistake:
    lesson: str
    exercise: str
    why: str
    feedback: str
    source: str
    number: int  # its place in the file, from 1
    # The lesson's text warns about this mistake: its visible self-check must catch it too.
    warned: bool = False

    @property
    def name(self) -> str:
        return f"mistake-{self.number:02d}-{self.exercise}"


def mistakes_of(lesson: Lesson) -> list[Mistake]:
    """The lesson's plausible wrong answers, in the file's order ([] while it has none)."""
    if not lesson.mistakes.exists():
        return []
    entries = tomllib.loads(lesson.mistakes.read_text())["mistake"]
    return [Mistake(lesson.slug, number=number, **entry) for number, entry in enumerate(entries, 1)]


def mistaken(source: str, mistake: Mistake) -> str:
    """An exercise cell's source with the mistake appended: it redefines the exercise's name."""
    return source + "\n\n# a plausible mistake:\n" + mistake.source


def with_mistake(solution: notebook.Document, mistake: Mistake, first: str = "") -> notebook.Document:
    """A copy of the solution notebook whose cell for the mistake's exercise is ``first`` (code
    run before the cell's own, "" for none), then the cell with the mistake appended."""
    sources = [
        notebook.source(cell)
        for cell in solution["cells"]
        if notebook.grade_id(cell) == mistake.exercise and cell.get("cell_type") == "code"
    ]
    if len(sources) != 1:
        raise ValueError(f"{mistake.lesson}'s solution has {len(sources)} code cells {mistake.exercise!r}, not one")
    return notebook.with_cell(solution, mistake.exercise, first + mistaken(sources[0], mistake))
