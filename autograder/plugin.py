"""The pytest plugin that runs a hidden suite against one submission.

``SandboxPlugin`` is registered by ``autograder.worker`` (``pytest.main(..., plugins=[...])``)
with the run's event loop and its ``Sandboxes``. It provides the ``submission`` fixture: the
learner's cells freshly run for each test, so one test's leftover state cannot affect the next.
One sandbox serves the whole run, which needs one event loop for the whole run, so the plugin
runs the suites' async tests itself, on that loop, instead of anyio's plugin (which gives each
test module a loop of its own; the worker runs pytest without plugin autoloading).

The module-level hooks record every test's outcome, points and feedback; they are shared with
``autograder.nbgrader_bridge``, whose plugin provides an in-process ``submission`` instead.
Loaded alone (``-p autograder.plugin``) the module only declares the markers, for collection.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractAsyncContextManager

import pluggy
import pytest

from . import promises, reference, suite
from .errors import GraderFault
from .expect import Mistake
from .pool import Sandboxes
from .submission import Submission, SubmissionError, SubmissionTimedOut
from .types import TestResult

# What a run of a hidden suite keeps on pytest's config, in its stash (typed slots for plugins).
RESULTS = pytest.StashKey[list[TestResult]]()
OUT_OF_TIME = pytest.StashKey[set[str]]()  # exercises whose code already ran out of time once
GRADER_ERRORS = pytest.StashKey[list[str]]()  # the grader's own failures (``GraderFault``): no score then


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "graded(exercise, points, negative, promises, unhappy): the exercise a hidden "
        "test grades, its points, and the promises of its statement it checks",
    )
    config.addinivalue_line("markers", "anyio: an async test (run by this plugin's loop when grading)")
    config.stash[RESULTS] = []
    config.stash[OUT_OF_TIME] = set()
    config.stash[GRADER_ERRORS] = []


def exercise_of(item: pytest.Item) -> str:
    marker = item.get_closest_marker("graded")
    return str(marker.kwargs["exercise"]) if marker else "?"


def keep_exercise(config: pytest.Config, items: list[pytest.Item], exercise: str) -> None:
    """Deselect every collected test but ``exercise``'s."""
    chosen = [item for item in items if exercise_of(item) == exercise]
    config.hook.pytest_deselected(items=[item for item in items if item not in chosen])
    items[:] = chosen


def refuse_if_out_of_time(request: pytest.FixtureRequest) -> None:
    """Code that looped once will loop again: fail its exercise's other tests at once rather
    than spend the time limit on each of them."""
    exercise = exercise_of(request.node)
    if exercise in request.config.stash[OUT_OF_TIME]:
        pytest.fail(f"Not run: an earlier check of `{exercise}` ran out of time (see that check's message).")


def _ran_out_of_time(error: BaseException) -> bool:
    return isinstance(error, SubmissionTimedOut) or (isinstance(error, Mistake) and error.out_of_time)


def summary(docstring: str | None) -> str:
    """A docstring's first paragraph on one line (PEP 257's summary, wrapped or not)."""
    paragraph = inspect.cleandoc(docstring or "").split("\n\n")[0]
    return " ".join(paragraph.split())


def feedback_for(item: pytest.Function, excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    """What the learner reads for a failed test: never the test's source or its values. A check
    that ran and failed names first the promises it found broken, by number and in the
    statement's words (``autograder.promises.named``): the test's own, or the fewer that its
    ``Mistake`` names."""
    error = excinfo.value
    if excinfo.typename == "Failed":  # pytest.fail from the fixture above ("not run"): written for learners
        return str(error)
    if isinstance(error, (Mistake, SubmissionError)):
        message = str(error)
    else:
        what = summary(item.function.__doc__) or "one of the grader's checks"
        message = f"This check failed: {what} (the grader saw {type(error).__name__})."
    marker = item.get_closest_marker("graded")
    ids = getattr(error, "promises", ()) or (marker.kwargs.get("promises", ()) if marker else ())
    return promises.named(item.config.stash.get(suite.PROMISES, {}), exercise_of(item), ids, message)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Function, call: pytest.CallInfo[None]
) -> Generator[None, pluggy.Result[pytest.TestReport], None]:
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("graded")
    # Every hidden test carries @graded (autograder.suite refuses a suite where one does not).
    exercise = exercise_of(item)
    points = float(marker.kwargs["points"]) if marker else 0.0
    results = item.config.stash[RESULTS]
    if report.when == "setup" and report.passed:
        return
    if call.excinfo is not None and isinstance(call.excinfo.value, GraderFault):
        # Not the learner's doing (a sandbox that never became ready, a broken reference): the
        # submission is not graded at all, so the rest of its tests need not run.
        item.config.stash[GRADER_ERRORS].append(f"{item.originalname}: {call.excinfo.value}")
        item.session.shouldstop = "the grader failed on its own side"
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        passed = report.passed
        if call.excinfo is not None and _ran_out_of_time(call.excinfo.value):
            item.config.stash[OUT_OF_TIME].add(exercise)
        message = "" if passed else (feedback_for(item, call.excinfo) if call.excinfo else "This check did not run.")
        results.append(TestResult(item.originalname, exercise, points if passed else 0.0, points, passed, message))


class SandboxPlugin:
    """Grading in sandboxes: ``submission`` is a sandbox process, async tests run on ``loop``."""

    pytest_configure = staticmethod(pytest_configure)
    pytest_runtest_makereport = staticmethod(pytest_runtest_makereport)

    def __init__(self, sandboxes: Sandboxes, loop: asyncio.AbstractEventLoop, only: str | None = None) -> None:
        self.sandboxes = sandboxes
        self.loop = loop
        self.only = only  # run this exercise's tests alone (mutation testing)
        self.results: list[TestResult] = []
        self.grader_errors: list[str] = []

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        if self.only is not None:
            keep_exercise(config, items, self.only)

    @pytest.fixture
    def submission(self, request: pytest.FixtureRequest) -> Iterator[Submission]:
        refuse_if_out_of_time(request)
        sub = self.loop.run_until_complete(self.sandboxes.fresh())
        yield sub
        if not sub.reusable:
            self.loop.run_until_complete(self.sandboxes.retire())

    @pytest.fixture
    def separate_sandbox(self) -> Callable[[], AbstractAsyncContextManager[Submission]]:
        """``async with separate_sandbox() as submission``: the learner's cells in a sandbox
        process of their own, for runs that must share no state (see ``Sandboxes.separate``)."""
        return self.sandboxes.separate

    @pytest.fixture
    def reference(self, request: pytest.FixtureRequest) -> Iterator[reference.Lazy]:
        """The reference solution, behind the same API as ``submission``: see ``autograder.reference``."""
        sub = reference.Lazy(reference.lesson_of(request), self.sandboxes.limits)
        yield sub
        self.loop.run_until_complete(sub.close())

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        """Run an async hidden test on the run's loop, where its sandbox lives."""
        if not inspect.iscoroutinefunction(pyfuncitem.obj):
            return None
        arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        self.loop.run_until_complete(pyfuncitem.obj(**arguments))
        return True

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.results = session.config.stash[RESULTS]
        self.grader_errors = session.config.stash[GRADER_ERRORS]
