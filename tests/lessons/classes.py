"""Each lesson's class: every notebook the lesson tests want graded, graded once per test session.

The tests of ``tests/lessons`` read grades of many variants of a lesson's solution: the solution
itself, the untouched learner notebook, each listed mistake, the do-nothing answers, a sample of
mutants. Grading them one class per test (or per test module) would pay each time for what a
grading run shares: the warm worker processes, the hidden suite read once, the differential
tests' inputs and the reference's answers (``autograder.answers``), and the grader's idle
cores at the end of a small run. So a lesson's variants are graded together, in one
``grade_all`` run, the first time a test asks for one of them (``graded_classes``, a
session-scoped fixture in ``conftest.py``), and every test reads its result from there.

A test module adds its variants with ``@in_every_class``: a function of the lesson and its
solution notebook returning ``{name: Submission}``; names are unique across modules. Modules
are imported when pytest collects them, before any test runs, so a session grades the variants
of the modules it collected. Tests that read a lesson's class run in one pytest-xdist group
per lesson (``conftest.py``), so that no two worker processes grade the same class.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.grade import grade_all
from autograder.lessons import Lesson
from autograder.types import Only, SubmissionResult


@dataclass(frozen=True)
class Submission:
    notebook: dict | bytes = field(compare=False)  # bytes: the file exactly as they are
    only: str | Only | None = None  # grade this exercise alone (an id: stopping at its first failed test)


Maker = Callable[[Lesson, nbformat.NotebookNode], dict[str, Submission]]
MAKERS: list[Maker] = []
# Submissions graded at once. Grading is mostly waiting (the suites' timing checks, time
# limits on answers that hang): a lesson-04 solution takes 15 to 30 s to grade and 2.6 s of
# CPU. So more at once than there are cores, which the timing checks allow for (they compare
# with a baseline measured in the same run, and repeat before failing).
JOBS = 3 * (os.cpu_count() or 1)


def in_every_class(maker: Maker) -> Maker:
    """Add ``maker``'s submissions to every lesson's class."""
    MAKERS.append(maker)
    return maker


class Classes:
    """lesson -> {submission name: SubmissionResult}, each lesson's class graded on first use."""

    def __init__(self, folder: Callable[[str], Path]) -> None:
        self.folder = folder  # a new empty folder, named after its argument
        self.graded: dict[str, dict[str, SubmissionResult]] = {}

    def __call__(self, lesson: Lesson) -> dict[str, SubmissionResult]:
        if lesson.slug not in self.graded:
            self.graded[lesson.slug] = self.grade(lesson)
        return self.graded[lesson.slug]

    def submissions(self, lesson: Lesson) -> dict[str, Submission]:
        solution = nbformat.read(lesson.solution, as_version=4)
        made: dict[str, Submission] = {}
        for maker in MAKERS:
            for name, submission in maker(lesson, copy.deepcopy(solution)).items():
                assert name not in made, f"two variants of {lesson.slug} are named {name}"
                made[name] = submission
        return made

    def grade(self, lesson: Lesson) -> dict[str, SubmissionResult]:
        """Every variant's result, and as "solution" the run's canary: the reference graded
        first like a submission (``autograder.grade.run_canary``), so it is not graded twice."""
        folder = self.folder(lesson.slug)
        paths, only = [], {}
        for name, submission in sorted(self.submissions(lesson).items()):
            path = folder / f"{name}.ipynb"
            if isinstance(submission.notebook, bytes):
                path.write_bytes(submission.notebook)
            else:
                nbformat.write(nbformat.from_dict(submission.notebook), path)
            paths.append(path)
            if submission.only:
                only[path] = submission.only
        started: list = []
        results = grade_all(paths, lesson=lesson, only=only, jobs=JOBS, on_start=started.append)
        [canary] = started[0].canaries
        return {"solution": canary.result, **{result.submission: result for result in results}}
