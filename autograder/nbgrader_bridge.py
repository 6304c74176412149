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
"""

from __future__ import annotations

import contextlib
import gc
import io
import sys
from typing import Any

import pytest

from coursekit.serve import run_blocking

from . import plugin, report
from .errors import GraderError
from .inprocess import InProcessSubmission
from .lessons import Lesson, all_lessons, find_lesson
from .suite import collect
from .types import Limits, SubmissionResult, TestResult


class InProcessPlugin:
    """``autograder.plugin``'s result recording, with two differences: only one exercise's
    tests run, and ``submission`` is an ``InProcessSubmission`` over ``namespace``.

    The results hooks are ``autograder.plugin``'s own; that module is not loaded as a plugin,
    so that its sandbox ``submission`` fixture cannot compete with this one.
    """

    pytest_configure = staticmethod(plugin.pytest_configure)
    pytest_runtest_makereport = staticmethod(plugin.pytest_runtest_makereport)

    def __init__(self, namespace: dict[str, Any], exercise: str, limits: Limits) -> None:
        self.namespace = namespace
        self.exercise = exercise
        self.limits = limits
        self.results: list[TestResult] = []

    def pytest_collection_modifyitems(self, config, items) -> None:
        chosen = [item for item in items if plugin._exercise(item) == self.exercise]
        config.hook.pytest_deselected(items=[item for item in items if item not in chosen])
        items[:] = chosen

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"

    @pytest.fixture
    async def submission(self, request):
        # As in autograder.plugin: code that ran out of time once is not given the time again.
        if self.exercise in request.config._autograder_out_of_time:
            pytest.fail(f"Not run: an earlier check of `{self.exercise}` ran out of time (see that check's message).")
        sub = await InProcessSubmission.over(self.namespace, self.limits)
        try:
            yield sub
        finally:
            await sub.close()

    def pytest_sessionfinish(self, session) -> None:
        self.results = session.config._autograder_results


def lesson_of(exercise: str, lesson: str | None) -> Lesson:
    """The lesson named, or else the one lesson whose hidden suite grades ``exercise``."""
    if lesson is not None:
        found = find_lesson(lesson)
        if found is None:
            raise GraderError(f"no lesson {lesson!r}; known: {', '.join(each.slug for each in all_lessons())}")
        return found
    grading = [each for each in all_lessons() if any(graded == exercise for _, graded, _ in collect(each))]
    if len(grading) != 1:
        raise GraderError(f"{len(grading)} lessons grade an exercise {exercise!r}: pass the lesson")
    return grading[0]


def run_tests(exercise: str, lesson: str | None, namespace: dict[str, Any], limits: Limits) -> list[TestResult]:
    """Every test of ``exercise`` in its lesson's hidden suite, passed or not, in suite order."""
    found = lesson_of(exercise, lesson)
    selected = InProcessPlugin(namespace, exercise, limits)
    pytest.main(
        [str(found.suite), "-q", "-p", "no:cacheprovider", "-p", "no:faulthandler", "--capture=sys",
         "--import-mode=importlib", "--rootdir", str(found.suite), "-c", "/dev/null"],
        plugins=[selected],
    )
    gc.collect()  # a learner's task left pending complains when collected: let it complain here
    reported = {test.name: test for test in selected.results}
    tests = [
        reported.get(name) or TestResult(name, exercise, 0.0, points, False, "This check did not run.")
        for name, graded, points in collect(found) if graded == exercise
    ]
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
    result = SubmissionResult(exercise, "", None, tests=tests,
                              score=sum(test.points for test in tests), max_score=sum(test.max_points for test in tests))
    text = report.feedback_text(result)
    print(text[text.index("## "):].rstrip())  # the exercise's section: its heading, then a line per test
    return float(result.score)
