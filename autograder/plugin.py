"""The pytest plugin that runs a hidden suite against one submission.

Loaded by ``autograder.worker`` with ``-p autograder.plugin`` (and ``-p no:anyio``). It
provides the ``submission`` fixture: the learner's cells freshly run for each test, so one
test's leftover state cannot affect the next. One sandbox process serves the whole run (a
reset re-runs the cells in a new namespace, far cheaper than a new process) until it crashes
or runs out of time, when the next test gets a new one. That needs one event loop for the
whole run, so this plugin runs the suites' async tests itself, on that loop, instead of
anyio's plugin (which gives each test module a loop of its own). It records every test's
outcome, points and feedback as JSON for the worker.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from pathlib import Path

import pytest

from .expect import Mistake
from .jail import Jail
from .submission import Submission, SubmissionError, SubmissionTimedOut
from .types import Cell, Limits, TestResult


def pytest_addoption(parser) -> None:
    group = parser.getgroup("autograder")
    group.addoption("--program", help="JSON file: the cells to run and the limits")
    group.addoption("--results", help="where to write the tests' results as JSON")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "graded(exercise, points): the exercise a hidden test grades and its points")
    config.addinivalue_line("markers", "anyio: an async test (run by this plugin's loop when grading)")
    config._autograder_results = []
    config._autograder_out_of_time = set()  # exercises whose code already ran out of time once


def exercise_of(item) -> str:
    marker = item.get_closest_marker("graded")
    return marker.kwargs["exercise"] if marker else "?"


@pytest.fixture(scope="session")
def program_path(request) -> str:
    return request.config.getoption("--program")


def refuse_if_out_of_time(request) -> None:
    """Code that looped once will loop again: fail its exercise's other tests at once rather
    than spend the time limit on each of them."""
    exercise = exercise_of(request.node)
    if exercise in request.config._autograder_out_of_time:
        pytest.fail(f"Not run: an earlier check of `{exercise}` ran out of time (see that check's message).")


@pytest.fixture
def submission(sandboxes, request):
    refuse_if_out_of_time(request)
    loop = request.config._autograder_loop
    sub = loop.run_until_complete(sandboxes.fresh())
    yield sub
    if not sub.reusable:
        loop.run_until_complete(sandboxes.retire())


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run an async hidden test on the run's loop, where its sandbox lives."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    pyfuncitem.config._autograder_loop.run_until_complete(pyfuncitem.obj(**arguments))
    return True


class Sandboxes:
    """One live sandbox at a time, reset between tests, replaced when it breaks."""

    def __init__(self, program: dict) -> None:
        self.limits = Limits(**program["limits"])
        self.cells = [Cell(**cell) for cell in program["cells"]]
        self.jail = Jail(tuple(program.get("hidden", ())), program.get("ledger"))
        self.current: Submission | None = None
        self.used = 0

    async def fresh(self) -> Submission:
        if self.current is not None and self.current.reusable:
            await self.current.reset(self.cells)
            if self.current.reusable:
                return self.current
            await self.retire()
        self.used += 1
        self.current = await Submission.start(self.limits, self.jail)
        await self.current.load(self.cells)
        return self.current

    async def retire(self) -> None:
        if self.current is not None:
            await self.current.close()
            self.current = None


@pytest.fixture(scope="session")
def sandboxes(program_path, pytestconfig):
    program = json.loads(Path(program_path).read_text())
    loop = pytestconfig._autograder_loop = asyncio.new_event_loop()
    pool = Sandboxes(program)
    try:
        yield pool
    finally:
        loop.run_until_complete(pool.retire())
        loop.close()


def _ran_out_of_time(error: BaseException) -> bool:
    return isinstance(error, SubmissionTimedOut) or (isinstance(error, Mistake) and error.out_of_time)


def feedback_for(item, excinfo) -> str:
    """What the learner reads for a failed test: never the test's source or its values."""
    error = excinfo.value
    if isinstance(error, (Mistake, SubmissionError)):
        return str(error)
    if excinfo.typename == "Failed":  # pytest.fail from the fixture above: written for learners
        return str(error)
    described = (item.function.__doc__ or "").strip().splitlines()
    what = described[0] if described else "one of the grader's checks"
    return f"This check failed: {what} (the grader saw {type(error).__name__})."


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("graded")
    # Every hidden test carries @graded (autograder.suite refuses a suite where one does not).
    exercise = exercise_of(item)
    points = float(marker.kwargs["points"]) if marker else 0.0
    results = item.config._autograder_results
    if report.when == "setup" and report.passed:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        passed = report.passed
        if call.excinfo is not None and _ran_out_of_time(call.excinfo.value):
            item.config._autograder_out_of_time.add(exercise)
        message = "" if passed else (feedback_for(item, call.excinfo) if call.excinfo else "This check did not run.")
        results.append(TestResult(item.originalname, exercise, points if passed else 0.0, points, passed, message))


def pytest_sessionfinish(session) -> None:
    path = session.config.getoption("--results")
    if path:
        Path(path).write_text(json.dumps([vars(result) for result in session.config._autograder_results]))
