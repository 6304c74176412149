"""The course's lessons in order (``course.toml``), and what is made from that list: the
lesson table in README.md and the learner's start page, ``notebooks/START.ipynb``.

Both are written by ``autograder release`` and checked by ``autograder release --check``, so
adding a lesson means adding it to ``course.toml`` once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .lessons import ROOT, manifest

README = ROOT / "README.md"
START = ROOT / "notebooks" / "START.ipynb"
TABLE_BEGIN, TABLE_END = "<!-- lessons: made from course.toml by `autograder release` -->", "<!-- /lessons -->"


@dataclass(frozen=True)
class Entry:
    slug: str
    title: str
    outcome: str
    builds_on: str

    @property
    def number(self) -> str:
        return self.slug[:2]

    @property
    def notebook(self) -> str:
        """The learner's notebook, relative to the notebooks folder."""
        return f"{self.slug}/{self.slug}.ipynb"


def entries() -> list[Entry]:
    return [Entry(**entry) for entry in manifest()]


def lesson_table(prefix: str = "notebooks/") -> str:
    rows = ["| # | lesson | you will be able to | builds on |", "| --- | --- | --- | --- |"]
    rows += [
        f"| {each.number} | [{each.title}]({prefix}{each.notebook}) | {each.outcome} | {each.builds_on} |"
        for each in entries()
    ]
    return "\n".join(rows)


def readme_text() -> str:
    text = README.read_text(encoding="utf-8")
    before, rest = text.split(TABLE_BEGIN, 1)
    _, after = rest.split(TABLE_END, 1)
    return f"{before}{TABLE_BEGIN}\n{lesson_table()}\n{TABLE_END}{after}"


START_INTRO = """# FastAPI Deep Dive: start here

Work through the lessons in order: each builds on the one before. Open a lesson by its link.

{table}

## How you work and how you are graded

- In a lesson, read a short explanation, then run the cell under it. Exercises state the exact
  interface to write; write your answer **inside the exercise cell** (the grader runs exercise
  cells only, so a helper written in a cell of its own is not there when it grades), then run
  the self-check cell under it. Open the hints one at a time if you are stuck.
- The self-checks are visible and small; the grader's **hidden tests** check more.
  - **On your own** (you have the whole course, hidden tests included), grade a lesson from a
    terminal in the course's folder: `.venv/bin/autograder check notebooks/<lesson>/<lesson>.ipynb`.
    It prints your score and what to fix, exercise by exercise. Do not read the hidden tests
    first: they are there to tell you what you missed.
  - **In a class**, your copy has no hidden tests: hand your notebook in as your instructor
    says (or submit it to the class's grading server), and you get the same feedback back.
- "Run All" on a lesson always reaches its end: an exercise you have not solved yet is
  reported calmly, not as an error.
"""

PROGRESS = """## Your progress

The table below is made from your own notebooks: each time a self-check runs, it records its
result next to the lesson. Run this cell to see where you stand; `progress.show(refresh=True)`
runs every lesson's exercise and self-check cells again first (about ten seconds a lesson)."""

RESET = """## Start one exercise again

To put one exercise back as it was released, without touching the rest of the lesson: close
the lesson's tab (or, after, use File > Reload Notebook from Disk), then run, with the lesson
and the exercise you want:"""


def start_notebook_text() -> str:
    import nbformat  # only here: it is slow to import, and only the maintainers' release needs it

    from .kernel_metadata import kernel_metadata

    cells = [
        nbformat.v4.new_markdown_cell(START_INTRO.format(table=lesson_table(prefix="")), id="start"),
        nbformat.v4.new_markdown_cell(PROGRESS, id="progress-intro"),
        nbformat.v4.new_code_cell("from coursekit import progress\n\nprogress.show()", id="progress"),
        nbformat.v4.new_markdown_cell(RESET, id="reset-intro"),
        # It imports what it uses: run before the cell above, it must not fail with a NameError.
        nbformat.v4.new_code_cell(
            f'from coursekit import progress\n\n# progress.reset("{entries()[0].slug}", "exercise_name")', id="reset"
        ),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells, metadata=kernel_metadata())
    text: str = nbformat.writes(notebook, version=4)
    return text + "\n"


def made() -> dict[Path, str]:
    """Every file made from the manifest, with the text it should have."""
    return {README: readme_text(), START: start_notebook_text()}
