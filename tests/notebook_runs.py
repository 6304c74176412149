"""Every lesson notebook run top to bottom once per test session, read by every test that needs a run.

The lesson tests (``tests/lessons/test_lessons.py``: the notebook runs to its end offline within
the time limit, no error shows, the solution's self-checks pass) and the browser test
(``tests/browser/test_lab.py``: what a learner sees in the Lab) ask about the same runs. So
each notebook runs once (``NotebookRuns``, the session fixture ``notebook_runs``):

- where Chromium is (``tests/browser/chromium.py``), in the learner's Lab in Chromium, as a learner
  runs it (Run > Run All Cells), and both kinds of test read that run: the notebook as Lab
  saved it, the seconds Run All took, and what the page showed;
- elsewhere headless (nbclient), and the browser test is skipped. The solution then runs only
  in the lesson tests' own headless run (each cell twice, the warned mistakes' checks after
  it: ``executed_solutions`` in ``tests/lessons/test_lessons.py``), which every solution needs
  anyway: ``LessonRuns.solution`` is None.

Either way, where the machine allows it (root), the run is offline: the kernel, or the Lab with
all its kernels and the Chromium beside it, run in a network namespace with only loopback.
A worker process of pytest-xdist starts its own Lab on its first browser run and keeps it for
the session; the tests of one lesson run in one worker (``tests/conftest.py``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder.lessons import ROOT, Lesson
from autograder.sandbox import confine
from tests.browser.chromium import missing_browser
from tests.browser.lab import can_run_offline, chromium, copy_course, lab_server
from tests.browser.session import ARTIFACTS, Session, observe_opening, run_in_the_browser

RUN_LIMIT_SECONDS = 90  # a lesson runs top to bottom in about a minute on 2 cores
# The solutions run headless in the lesson tests (each cell twice, the warned mistakes' checks
# after them), which check what a learner would see of them (tests/run_checks.py); in the
# browser they would take two thirds of the browser's time again for the Lab's own checks
# (images load, hints open, the console), which the learner notebooks' runs there make.
# COURSE_BROWSER_SOLUTIONS=1 runs them in the browser too.
BROWSER_SOLUTIONS = os.environ.get("COURSE_BROWSER_SOLUTIONS", "0") == "1"


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
    solution: Run | None  # None: the solution is run headless by the lesson tests only
    opened: dict[str, dict] | None = None  # "learner"/"solution": what opening it untouched showed (browser)


# Cells marked "appended" (the warned mistakes' checks: tests/lessons) run after the lesson and
# are not counted in its run time. With `rerun`, every other code cell runs a second time right
# after its first run, as a learner who runs one cell again on its own: its first outputs are
# kept in its metadata (`first_outputs`) for comparison, and the second runs' time is counted
# apart (`seconds_rerunning`), not in the lesson's run time. The hidden-test cells (nbgrader
# `grade: true`) run once: run again, they would test the grader, not the lesson.
EXECUTE = """
import copy, sys, time, nbclient, nbformat
source, target, allow_errors, rerun = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[5] == "1"
notebook = nbformat.read(source, as_version=4)
client = nbclient.NotebookClient(notebook, timeout=90, kernel_name="python3", allow_errors=allow_errors,
                                 resources={"metadata": {"path": sys.argv[4]}})
started, rerunning = time.monotonic(), 0.0
with client.setup_kernel():
    for index, cell in enumerate(notebook.cells):
        if cell.metadata.get("appended"):
            notebook.metadata.setdefault("seconds_to_run", time.monotonic() - started - rerunning)
        client.execute_cell(cell, index)
        again = (rerun and cell.cell_type == "code" and not cell.metadata.get("appended")
                 and not cell.metadata.get("nbgrader", {}).get("grade"))
        if again:
            first = copy.deepcopy(cell.outputs)
            second_started = time.monotonic()
            client.execute_cell(cell, index)
            rerunning += time.monotonic() - second_started
            cell.metadata["first_outputs"] = first
notebook.metadata.setdefault("seconds_to_run", time.monotonic() - started - rerunning)
notebook.metadata["seconds_rerunning"] = rerunning
nbformat.write(notebook, target)
"""


def execute(path: Path, tmp_path: Path, *, allow_errors: bool, folder: Path | None = None, rerun: bool = False) -> Run:
    """Run a notebook top to bottom headless, offline where this machine can prove it (a
    network namespace with only loopback), in ``folder`` (the notebook's own by default). With
    ``rerun``, each code cell runs twice in a row (see ``EXECUTE``). The kernel gets a temporary
    folder of its own, which must be empty once it has stopped (what a lesson writes to disk
    goes when its kernel does): what is left is in the notebook's metadata,
    ``left_in_temporary_folder``."""
    target = tmp_path / ("executed-" + path.name)
    folder = path.parent if folder is None else folder
    offline = can_run_offline()
    # Traversable by others (0711): PostgreSQL, run by root as a user of its own, starts there.
    kernel_tmp = Path(tempfile.mkdtemp(prefix="kernel-tmp-"))
    kernel_tmp.chmod(0o711)
    try:
        completed = subprocess.run(
            [
                sys.executable,
                "-c",
                EXECUTE,
                str(path),
                str(target),
                "1" if allow_errors else "0",
                str(folder),
                "1" if rerun else "0",
            ],
            capture_output=True,
            text=True,
            timeout=RUN_LIMIT_SECONDS * 6,
            preexec_fn=confine.offline if offline else None,
            env={**os.environ, "TMPDIR": str(kernel_tmp)},
        )
        assert completed.returncode == 0, completed.stderr[-3000:]
        # platformdirs' per-user runtime folder (`runtime-<uid>`, where XDG_RUNTIME_DIR is not
        # set) holds pgserver's lock file for every PostgreSQL it starts: a folder meant to be
        # shared and kept, not a file of the lesson's.
        left = sorted(each.name for each in kernel_tmp.iterdir() if each.name != f"runtime-{os.geteuid()}")
    finally:
        shutil.rmtree(kernel_tmp, ignore_errors=True)
    executed = nbformat.read(target, as_version=4)
    executed.metadata["left_in_temporary_folder"] = left
    return Run(executed, executed.metadata["seconds_to_run"], "headless", offline)


class NotebookRuns:
    """lesson -> its LessonRuns, run on first use."""

    def __init__(self, tmp_path_factory) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.in_the_browser = missing_browser() is None
        self.runs: dict[str, LessonRuns | BaseException] = {}
        self.closing = contextlib.ExitStack()
        self._lab: Session | None = None

    def __enter__(self) -> NotebookRuns:
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
        solved = None
        if BROWSER_SOLUTIONS:
            notebook, seconds, seen = run_in_the_browser(lab, solution, f"{lesson.slug}-solution")
            solved = Run(notebook, seconds, "browser", lab.lab.offline, seen)
        return LessonRuns(untouched, solved, opened)

    def _headless(self, lesson: Lesson) -> LessonRuns:
        folder = self.tmp_path_factory.mktemp(f"run-{lesson.slug}")
        return LessonRuns(execute(lesson.release, folder, allow_errors=True), None)
