"""Every lesson notebook run top to bottom once per test session, read by every test that needs a run.

The lesson tests (``tests/lessons/test_lessons.py``: the notebook runs to its end offline within
the time limit, no error shows, the solution's self-checks pass) and the browser test
(``tests/browser/test_lab.py``: what a learner sees in the Lab) ask about the same runs. So
each notebook runs once (``NotebookRuns``, the session fixture ``notebook_runs``):

- where Chromium is (``tests/browser/chromium.py``), in the learner's Lab in Chromium, as a learner
  runs it (Run > Run All Cells), and both kinds of test read that run: the notebook as Lab
  saved it, the seconds Run All took, and what the page showed;
- elsewhere headless (nbclient), and the browser test is skipped.

Either way, where the machine allows it (root), the run is offline: the kernel, or the Lab with
all its kernels and the Chromium beside it, run in a network namespace with only loopback.
A worker process of pytest-xdist starts its own Lab on its first browser run and keeps it for
the session; the tests of one lesson run in one worker (``tests/conftest.py``).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder.lessons import ROOT, Lesson
from autograder.sandbox import confine
from tests.browser.chromium import missing_browser
from tests.browser.lab import can_run_offline, chromium, copy_course, lab_server
from tests.browser.session import ARTIFACTS, Session, observe_opening, run_in_the_browser

RUN_LIMIT_SECONDS = 90  # a lesson runs top to bottom in about a minute on 2 cores
# The browser's solution runs take about half of the browser's time; COURSE_BROWSER_SOLUTIONS=0
# runs the solutions headless instead (the learner's notebooks still run in the browser).
BROWSER_SOLUTIONS = os.environ.get("COURSE_BROWSER_SOLUTIONS", "1") != "0"


@dataclass
class Run:
    notebook: nbformat.NotebookNode  # as it was after the run (as Lab saved it, in the browser)
    seconds: float  # from the start of the run to the end of its last cell
    where: str  # "browser" or "headless"
    offline: bool  # in a network namespace with only loopback
    seen: dict | None = None  # what the page showed (browser runs)


@dataclass
class LessonRuns:
    learner: Run  # the untouched learner notebook
    solution: Run
    opened: dict[str, dict] | None = None  # "learner"/"solution": what opening it untouched showed (browser)


# Cells marked "appended" (checks run after a lesson: tests/lessons) run after the lesson and
# are not counted in its run time.
EXECUTE = """
import sys, time, nbclient, nbformat
source, target, allow_errors = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
notebook = nbformat.read(source, as_version=4)
client = nbclient.NotebookClient(notebook, timeout=90, kernel_name="python3", allow_errors=allow_errors,
                                 resources={"metadata": {"path": sys.argv[4]}})
started = time.monotonic()
with client.setup_kernel():
    for index, cell in enumerate(notebook.cells):
        if cell.metadata.get("appended"):
            notebook.metadata.setdefault("seconds_to_run", time.monotonic() - started)
        client.execute_cell(cell, index)
notebook.metadata.setdefault("seconds_to_run", time.monotonic() - started)
nbformat.write(notebook, target)
"""


def execute(path: Path, tmp_path: Path, *, allow_errors: bool, folder: Path | None = None) -> Run:
    """Run a notebook top to bottom headless, offline where this machine can prove it (a
    network namespace with only loopback), in ``folder`` (the notebook's own by default)."""
    target = tmp_path / ("executed-" + path.name)
    folder = path.parent if folder is None else folder
    offline = can_run_offline()
    completed = subprocess.run(
        [sys.executable, "-c", EXECUTE, str(path), str(target), "1" if allow_errors else "0", str(folder)],
        capture_output=True, text=True, timeout=RUN_LIMIT_SECONDS * 3,
        preexec_fn=confine.offline if offline else None,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    executed = nbformat.read(target, as_version=4)
    return Run(executed, executed.metadata["seconds_to_run"], "headless", offline)


class NotebookRuns:
    """lesson -> its LessonRuns, run on first use."""

    def __init__(self, tmp_path_factory) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.in_the_browser = missing_browser() is None
        self.runs: dict[str, LessonRuns | BaseException] = {}
        self.closing = contextlib.ExitStack()
        self._lab: Session | None = None

    def __enter__(self) -> "NotebookRuns":
        return self

    def __exit__(self, *exc) -> None:
        self.closing.close()

    def __call__(self, lesson: Lesson) -> LessonRuns:
        if lesson.slug not in self.runs:
            try:
                self.runs[lesson.slug] = self._browser(lesson) if self.in_the_browser else self._headless(lesson)
            except Exception as exc:  # every test of the lesson reports it; none runs it again
                self.runs[lesson.slug] = exc
        found = self.runs[lesson.slug]
        if isinstance(found, BaseException):
            raise found
        return found

    def lab(self) -> Session:
        """The learner's Lab (``python3 course.py lab`` on a copy of the course) and a Chromium
        on it, started on first use and kept for the session."""
        if self._lab is None:
            folder = self.tmp_path_factory.mktemp("browser")
            course = copy_course(folder / "course")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            worker = os.environ.get("PYTEST_XDIST_WORKER", "")
            log = ARTIFACTS / f"lab{'-' + worker if worker else ''}.log"
            lab = self.closing.enter_context(lab_server(course, log, offline=True))
            context = self.closing.enter_context(chromium(folder / "profile", lab))
            self._lab = Session(lab, course, context)
        return self._lab

    def _browser(self, lesson: Lesson) -> LessonRuns:
        lab = self.lab()
        learner = lesson.release.relative_to(ROOT).as_posix()
        solution = lesson.solution.relative_to(ROOT).as_posix()
        # Both open unmodified: the learner opens the lesson, the instructor the solution too.
        try:
            opened = {"learner": observe_opening(lab, learner), "solution": observe_opening(lab, solution)}
        finally:
            lab.shut_down_kernels()
        notebook, seconds, seen = run_in_the_browser(lab, learner, f"{lesson.slug}-learner")
        lab.untouched_ran.add(lesson.slug)
        untouched = Run(notebook, seconds, "browser", lab.lab.offline, seen)
        if BROWSER_SOLUTIONS:
            notebook, seconds, seen = run_in_the_browser(lab, solution, f"{lesson.slug}-solution")
            solved = Run(notebook, seconds, "browser", lab.lab.offline, seen)
        else:
            solved = self._headless_solution(lesson)
        return LessonRuns(untouched, solved, opened)

    def _headless(self, lesson: Lesson) -> LessonRuns:
        folder = self.tmp_path_factory.mktemp(f"run-{lesson.slug}")
        return LessonRuns(execute(lesson.release, folder, allow_errors=True), self._headless_solution(lesson))

    def _headless_solution(self, lesson: Lesson) -> Run:
        folder = self.tmp_path_factory.mktemp(f"run-solution-{lesson.slug}")
        return execute(lesson.solution, folder, allow_errors=False)
