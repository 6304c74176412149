"""``autograder release``: make the learner's notebook from the solution notebook.

The work is done by nbgrader's own preprocessors, composed here as nbgrader's
``generate_assignment`` composes them, minus the steps that need its database
(``SaveCells``) or that this course does not use (headers, test templates). Order matters:

1. ``LockCells``          first, so the read-only flags are set on cells as authored;
2. ``ClearSolutions``     replaces ``### BEGIN/END SOLUTION`` regions with the stub;
3. ``ClearOutput``        learners start with no outputs and no execution counts;
4. ``CheckCellMetadata``  rejects a notebook whose nbgrader metadata is inconsistent;
5. ``ComputeChecksums``   before hidden tests are cleared, as nbgrader does;
6. ``ClearHiddenTests``, ``ClearMarkScheme``   for cells that use nbgrader's own markers;
7. ``ComputeChecksums``, ``CheckCellMetadata`` again, over what the learner will receive;
8. ``KeepReleasedSource``: each exercise cell keeps, in its metadata, its source as
   released, so a learner can put one exercise back (``coursekit.progress.reset``) without a
   copy of the course's files;
9. ``AppendSubmitCell``: a closing cell that hands the notebook in to the course's
   grading service (``coursekit.submit``), or says how to configure one when none is.
10. ``WriteKernelMetadata`` last: the notebook's ``kernelspec`` and ``language_info`` as
   JupyterLab writes them when the kernel starts, so an untouched lesson opens unmodified
   (``autograder.kernel_metadata``). It touches no cell, so it can go anywhere; it goes last
   so that ``nbgrader_config.py`` appends the course's own steps, in this order, to
   nbgrader's list.

Before all of these, the solution notebook itself is brought up to date, in place, since
instructors open it in Lab and nbgrader makes its learner copy from it too: each exercise's
statement gets its numbered promises from the lesson's ``promises.toml`` between its markers
(``autograder.promises.with_lists``), and the notebook gets the kernel metadata (nothing else
of it changes). The learner's copy is made from that.
``nbgrader_config.py`` gives ``nbgrader generate_assignment`` the same list, steps 8 to 10 included.
``autograder release`` also writes what is made from ``course.toml`` (``autograder.manifest``):
the README's lesson table and the learner's start page.

The result is written byte for byte the same every time, so a test can compare the committed
learner notebook with a fresh release and fail when it drifts.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
from nbconvert.exporters.exporter import ResourcesDict
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearHiddenTests,
    ClearMarkScheme,
    ClearOutput,
    ClearSolutions,
    ComputeChecksums,
    LockCells,
)
from nbgrader.preprocessors.base import NbGraderPreprocessor

from . import manifest
from .errors import ReleaseOutOfDate
from .kernel_metadata import WriteKernelMetadata, kernel_metadata
from .lessons import ROOT, Lesson
from .promises import with_lists


class KeepReleasedSource(NbGraderPreprocessor):
    """Keep each exercise cell's released source in ``metadata.course.released``. (nbgrader's
    base class: nbconvert runs a preprocessor of its own base only when it is enabled.)"""

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
            cell.metadata["course"] = {"released": cell.source}
        return cell, resources


class AppendSubmitCell(NbGraderPreprocessor):
    """End the learner's notebook with a cell that submits it to the grading service
    (``autograder serve``). Written here, once, rather than in every solution notebook; it is
    neither an exercise nor a check, so no grader runs it."""

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        # nbgrader's converters name the notebook in ``unique_key``; ``released_text`` does too.
        filename = f"{resources['unique_key']}.ipynb"
        nb.cells.append(
            nbformat.v4.new_markdown_cell(
                "## Hand it in\n\n"
                "Save the notebook (Ctrl+S), then run the cell below. If your course has a grading server, it "
                "submits this notebook and shows your score and feedback in seconds; if none is configured, it "
                "says how to configure one (nothing else happens).",
                id="submit-md",
            )
        )
        nb.cells.append(
            nbformat.v4.new_code_cell(
                f"from coursekit.submit import submit_notebook\n\nsubmit_notebook({filename!r})", id="submit"
            )
        )
        return nb, resources


PIPELINE: tuple[type[Preprocessor], ...] = (
    LockCells,
    ClearSolutions,
    ClearOutput,
    CheckCellMetadata,
    ComputeChecksums,
    ClearHiddenTests,
    ClearMarkScheme,
    ComputeChecksums,
    CheckCellMetadata,
    KeepReleasedSource,
    AppendSubmitCell,
    WriteKernelMetadata,
)


def authored(lesson: Lesson) -> NotebookNode:
    """The solution notebook as the release leaves it: each statement listing its promises,
    and the kernel metadata Lab writes, so that it opens unmodified too."""
    notebook: NotebookNode = nbformat.read(lesson.solution, as_version=4)
    shown = lesson.solution.relative_to(ROOT) if lesson.solution.is_relative_to(ROOT) else lesson.solution
    with_lists(notebook, lesson.promises, str(shown))
    notebook.metadata.update(kernel_metadata())
    return notebook


def released_text(lesson: Lesson, solution: NotebookNode | None = None) -> str:
    notebook = copy.deepcopy(solution if solution is not None else authored(lesson))
    resources = ResourcesDict(unique_key=lesson.slug)  # what nbconvert hands nbgrader's converters
    for step in PIPELINE:
        notebook, resources = step().preprocess(notebook, resources)
    text: str = nbformat.writes(notebook, version=4)
    return text + "\n"


def solution_text(lesson: Lesson, solution: NotebookNode | None = None) -> str:
    text: str = nbformat.writes(solution if solution is not None else authored(lesson), version=4)
    return text + "\n"


def written(lesson: Lesson) -> dict[Path, str]:
    """What the release writes for ``lesson``: its learner notebook, and its solution's
    promises and metadata."""
    solution = authored(lesson)
    return {lesson.solution: solution_text(lesson, solution), lesson.release: released_text(lesson, solution)}


def _stale(path: Path, text: str) -> bool:
    return not path.exists() or path.read_text(encoding="utf-8") != text


def release(lesson: Lesson) -> list[str]:
    """Write the learner notebook and the solution's kernel metadata; return what changed."""
    changed = []
    for path, text in written(lesson).items():
        if _stale(path, text):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(str(path))
    return changed


def release_course() -> list[str]:
    """Write the files made from ``course.toml``; return those that changed."""
    changed = []
    for path, text in manifest.made().items():
        if _stale(path, text):
            path.write_text(text, encoding="utf-8")
            changed.append(str(path))
    return changed


def check(lessons: list[Lesson]) -> None:
    """Raise ReleaseOutOfDate unless every committed learner notebook matches a fresh release,
    every solution holds its promises and the kernel metadata, and the files made from the
    course's manifest match it too."""
    stale = [str(path) for lesson in lessons for path, text in written(lesson).items() if _stale(path, text)]
    stale += [str(path) for path, text in manifest.made().items() if _stale(path, text)]
    if stale:
        raise ReleaseOutOfDate(stale)
