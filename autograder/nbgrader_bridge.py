"""Hidden suites inside nbgrader: what a lesson's autograder test cells call.

nbgrader scores a notebook by running it in one kernel and reading the output of each
autograder test cell (``grade: true``, with ``points``). Each exercise of a lesson has one
such cell, right after its self-check, whose hidden part is::

    from autograder.nbgrader_bridge import grade_exercise
    grade_exercise("json_app", "01_asgi_by_hand")

``grade_exercise`` runs the tests of that exercise from the lesson's hidden suite, the very
files ``autograder grade`` runs, against the kernel's namespace (``autograder.inprocess``),
prints one line per test and returns the points earned. That number, being the cell's last
expression, becomes its ``execute_result``, and nbgrader (``utils.determine_grade`` and
``get_partial_grade``) reads a single float in ``text/plain`` as partial credit. An error or
any ``stderr`` output would make it award 0, so nothing here raises and the suite's own
output, the learner's prints included, is kept off the cell.

The cells themselves are made here too, so that their form and the points they are worth
(those of the exercise's hidden tests) are stated once::

    python -m autograder.nbgrader_bridge [LESSON...]   # add or update them in solutions/
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import pytest

from coursekit.serve import run_blocking

from . import plugin, reference, report
from .errors import GraderError, GraderFault
from .inprocess import InProcessSubmission, private_temporary_folder
from .lessons import Lesson, all_lessons, lesson_named, lessons_named
from .suite import FrozenSuite, collect, probes, pytest_args, scored, snapshot
from .types import Limits, Probes, SubmissionResult, TestResult

if TYPE_CHECKING:  # imported where it is used: it takes seconds, which grade_exercise never pays
    from nbformat import NotebookNode


class InProcessPlugin:
    """``autograder.plugin.SandboxPlugin``'s twin for a kernel: the same result recording
    (``autograder.plugin``'s hooks), with two differences: only one exercise's tests run, and
    ``submission`` is an ``InProcessSubmission`` over ``namespace``. The kernel's own loop
    is busy, so async tests run through anyio's plugin, in a thread (see ``grade_exercise``).
    """

    pytest_configure = staticmethod(plugin.pytest_configure)
    pytest_runtest_makereport = staticmethod(plugin.pytest_runtest_makereport)

    def __init__(self, namespace: dict[str, Any], exercise: str, limits: Limits, probes: Probes | None = None) -> None:
        self.namespace = namespace
        self.exercise = exercise
        self.limits = limits
        self.probes = probes  # the lesson's, made a module in this kernel as a sandbox makes them
        self.results: list[TestResult] = []
        self.grader_errors: list[str] = []

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        plugin.keep_exercise(config, items, self.exercise)

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"

    @pytest.fixture
    async def submission(self, request: pytest.FixtureRequest) -> AsyncIterator[InProcessSubmission]:
        plugin.refuse_if_out_of_time(request)
        sub = await InProcessSubmission.over(self.namespace, self.limits, self.probes)
        try:
            yield sub
        finally:
            await sub.close()

    @pytest.fixture
    def separate_sandbox(self) -> Callable[[], AbstractAsyncContextManager[InProcessSubmission]]:
        """Under nbgrader the learner's code shares the kernel: each "separate" run serves the
        same namespace (no isolation between runs, as there is none from the tests)."""

        @contextlib.asynccontextmanager
        async def separate() -> AsyncIterator[InProcessSubmission]:
            sub = await InProcessSubmission.over(self.namespace, self.limits, self.probes)
            try:
                yield sub
            finally:
                await sub.close()

        return separate

    @pytest.fixture
    async def reference(self, request: pytest.FixtureRequest) -> AsyncIterator[reference.Lazy]:
        """The reference solution, in this kernel beside the learner's code: see ``autograder.reference``."""
        sub = reference.Lazy(reference.lesson_of(request), self.limits)
        try:
            yield sub
        finally:
            await sub.close()

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.results = session.config.stash[plugin.RESULTS]
        self.grader_errors = session.config.stash[plugin.GRADER_ERRORS]


def lesson_of(exercise: str, lesson: str | None) -> Lesson:
    """The lesson named, or else the one lesson whose hidden suite grades ``exercise``."""
    if lesson is not None:
        return lesson_named(lesson)
    grading = [each for each in all_lessons() if any(test.exercise == exercise for test in collect(each))]
    if len(grading) != 1:
        raise GraderError(f"{len(grading)} lessons grade an exercise {exercise!r}: pass the lesson")
    return grading[0]


@contextlib.contextmanager
def _hypothesis_home(folder: str) -> Iterator[None]:
    """Hypothesis keeps its files in ``folder`` for the length of the block (its own setting
    is kept if it has one: ``HYPOTHESIS_STORAGE_DIRECTORY``)."""
    from hypothesis import configuration

    if os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        yield
        return
    configuration.set_hypothesis_home_dir(folder)
    try:
        yield
    finally:
        configuration.set_hypothesis_home_dir(None)


def run_tests(exercise: str, lesson: str | None, namespace: dict[str, Any], limits: Limits) -> list[TestResult]:
    """Every test of ``exercise`` in its lesson's hidden suite, passed or not, in suite order."""
    found = lesson_of(exercise, lesson)
    sources = snapshot(found)
    selected = InProcessPlugin(namespace, exercise, limits, probes(found, sources))
    # Imported before pytest starts: hypothesis ships a pytest plugin, so pytest marks its
    # whole package for assertion rewriting, and a first import inside the session rewrites a
    # hundred modules (3 s of a busy machine, in the first test cell of every lesson).
    import hypothesis  # noqa: F401

    # The probes' files go with the run, and so does Hypothesis's cache (its Unicode tables),
    # which it writes under the working directory: the notebook's folder, in a kernel.
    with private_temporary_folder("autograder-kernel-") as folder, _hypothesis_home(folder):
        pytest.main(
            [*pytest_args(str(found.suite)), "-p", "no:faulthandler", "--capture=sys"],
            plugins=[selected, FrozenSuite(sources, found.suite)],
        )
    gc.collect()  # a learner's task left pending complains when collected: let it complain here
    if selected.grader_errors:  # the grader's own failure (a broken reference): say so
        raise GraderFault("; ".join(selected.grader_errors))
    reported = {test.name: (test.passed, test.feedback) for test in selected.results}
    tests = scored([test for test in collect(found) if test.exercise == exercise], reported)
    if not tests:
        raise GraderError(f"the hidden suite of {found.slug} has no tests for an exercise {exercise!r}")
    return tests


def grade_exercise(exercise: str, lesson: str | None = None, limits: Limits = Limits()) -> float:
    """Run the hidden tests of ``exercise`` against this kernel's ``__main__``; print what
    passed and what to fix; return the points earned (a float, for nbgrader's partial credit)."""
    namespace = vars(sys.modules["__main__"])
    kept = io.StringIO()  # pytest's report and the learner's output: the cell shows ours only
    try:
        with contextlib.redirect_stdout(kept), contextlib.redirect_stderr(kept):
            # In a kernel a loop is running here, and the suite needs one of its own: a thread.
            tests = run_blocking(lambda: run_tests(exercise, lesson, namespace, limits))
    except Exception as exc:  # the grader's own failure: shown, but on stdout, and worth 0
        print(f"The hidden tests of {exercise} could not run: {type(exc).__name__}: {exc}\n{kept.getvalue()[-2000:]}")
        return 0.0
    score = sum(test.points for test in tests)
    result = SubmissionResult(
        exercise, "", None, tests=tests, score=score, max_score=sum(test.max_points for test in tests)
    )
    text = report.feedback_text(result, markdown=False)  # a cell's printed output renders nothing
    print(text[text.index("## ") :].rstrip())  # the exercise's section: its heading, then a line per test
    return float(score)


# -- the autograder test cells, one per exercise -------------------------------------------------


def hidden_test_cell(lesson: Lesson, exercise: str, points: float) -> dict[str, Any]:
    """The source and metadata of ``exercise``'s autograder test cell. Its hidden part is
    removed from the learner's copy (``ClearHiddenTests``) and put back by ``nbgrader
    autograde`` (``OverwriteCells``). What the learner's copy keeps runs the exercise's visible
    self-check under nbgrader's Validate, which then fails an untouched lesson and passes a
    solved one; run by the learner, it says what the cell is for."""
    return {
        # The visible line runs the exercise's self-check under nbgrader's Validate (see
        # coursekit.checks.self_check_for_nbgrader); the hidden part gives the points when graded.
        "source": "from coursekit.checks import self_check_for_nbgrader\n\n"
        f'self_check_for_nbgrader("{exercise}")\n'
        "### BEGIN HIDDEN TESTS\n"
        "from autograder.nbgrader_bridge import grade_exercise\n\n"
        f'grade_exercise("{exercise}", "{lesson.slug}")\n'
        "### END HIDDEN TESTS",
        "metadata": {
            "nbgrader": {
                "grade": True,
                "grade_id": f"test_{exercise}",
                "locked": True,
                "points": int(points) if float(points).is_integer() else points,
                "schema_version": 3,
                "solution": False,
                "task": False,
            }
        },
    }


def _grade_id(cell: NotebookNode) -> str:
    return str(cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", ""))


def with_test_cells(lesson: Lesson) -> str:
    """The solution notebook's text with each exercise's test cell right after its self-check
    (after the exercise cell if it has none), worth what the hidden suite says."""
    points: dict[str, float] = {}
    for test in collect(lesson):
        points[test.exercise] = points.get(test.exercise, 0.0) + test.points
    import nbformat  # only here: importing it takes seconds, and grade_exercise runs without it

    solution: NotebookNode = nbformat.read(lesson.solution, as_version=4)
    ids = {_grade_id(cell): cell.id for cell in solution.cells}
    anchors = {f"check_{exercise}" if f"check_{exercise}" in ids else exercise: exercise for exercise in points}
    old = {f"test_{exercise}" for exercise in points}
    cells = []
    for cell in solution.cells:
        if _grade_id(cell) in old:
            continue  # a fresh copy goes after its anchor
        cells.append(cell)
        exercise = anchors.get(_grade_id(cell))
        if exercise is not None:
            made = hidden_test_cell(lesson, exercise, points[exercise])
            cell_id = ids.get(f"test_{exercise}") or cell.id.removesuffix("-check") + "-hidden-tests"
            cells.append(nbformat.v4.new_code_cell(made["source"], id=cell_id, metadata=made["metadata"]))
    solution.cells = cells
    text: str = nbformat.writes(solution)
    return text + "\n"


def add_test_cells(lesson: Lesson) -> bool:
    """Write the test cells into the lesson's solution notebook; return whether it changed."""
    text = with_test_cells(lesson)
    if lesson.solution.read_text(encoding="utf-8") == text:
        return False
    lesson.solution.write_text(text, encoding="utf-8")
    return True


if __name__ == "__main__":
    try:
        lessons = lessons_named(sys.argv[1:])
    except GraderError as exc:
        sys.exit(f"autograder.nbgrader_bridge: {exc}")
    for each in lessons:
        print(f"{each.solution}: {'written' if add_test_cells(each) else 'unchanged'} (now run `autograder release`)")
