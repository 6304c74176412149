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
7. ``ComputeChecksums``, ``CheckCellMetadata`` again, over what the learner will receive.

The result is written byte for byte the same every time, so a test can compare the committed
learner notebook with a fresh release and fail when it drifts.
"""

from __future__ import annotations

import nbformat
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearHiddenTests,
    ClearMarkScheme,
    ClearOutput,
    ClearSolutions,
    ComputeChecksums,
    LockCells,
)

from .errors import ReleaseOutOfDate
from .lessons import Lesson

PIPELINE = (
    LockCells,
    ClearSolutions,
    ClearOutput,
    CheckCellMetadata,
    ComputeChecksums,
    ClearHiddenTests,
    ClearMarkScheme,
    ComputeChecksums,
    CheckCellMetadata,
)


def released_text(lesson: Lesson) -> str:
    notebook = nbformat.read(lesson.solution, as_version=4)
    resources: dict = {}
    for step in PIPELINE:
        notebook, resources = step().preprocess(notebook, resources)
    return nbformat.writes(notebook, version=4) + "\n"


def release(lesson: Lesson) -> bool:
    """Write the learner notebook; return whether it changed."""
    text = released_text(lesson)
    if lesson.release.exists() and lesson.release.read_text(encoding="utf-8") == text:
        return False
    lesson.release.parent.mkdir(parents=True, exist_ok=True)
    lesson.release.write_text(text, encoding="utf-8")
    return True


def check(lessons: list[Lesson]) -> None:
    """Raise ReleaseOutOfDate unless every committed learner notebook matches a fresh release."""
    stale = [
        str(lesson.release) for lesson in lessons
        if not lesson.release.exists() or lesson.release.read_text(encoding="utf-8") != released_text(lesson)
    ]
    if stale:
        raise ReleaseOutOfDate(stale)
