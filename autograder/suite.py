"""What a hidden suite contains: its tests, the exercise each grades, and their points."""

from __future__ import annotations

import contextlib
import io
from functools import lru_cache
from typing import Mapping, NamedTuple

import pytest

from .lessons import Lesson
from .types import TestResult


class HiddenTest(NamedTuple):
    """One test of a hidden suite, as ``@graded(exercise, points, negative=...)`` declares it."""

    name: str
    exercise: str
    points: float
    negative: bool = False  # an answer that does nothing would pass it: see ``scored``


def pytest_args(suite: str) -> list[str]:
    """How every run of a hidden suite starts pytest: on that folder alone, ignoring the
    repository's own pytest configuration, leaving no cache behind."""
    return [suite, "-q", "-p", "no:cacheprovider", "--import-mode=importlib", "--rootdir", suite, "-c", "/dev/null"]


def hermetic_pytest_args(suite: str) -> list[str]:
    """The same, with no plugin but those named: what is installed around the grader (anyio's
    plugin, and others that register themselves) neither runs with the suite nor slows it."""
    return [*pytest_args(suite), "--disable-plugin-autoload"]


class _Collector:
    def __init__(self) -> None:
        self.tests: list[HiddenTest] = []

    def pytest_collection_modifyitems(self, items) -> None:
        for item in items:
            marker = item.get_closest_marker("graded")
            if marker is None:
                raise pytest.UsageError(f"hidden test {item.nodeid} has no @graded(exercise, points)")
            # originalname drops the "[asyncio]" that anyio's parametrisation adds
            if any(item.originalname == test.name for test in self.tests):
                raise pytest.UsageError(f"two hidden tests are named {item.originalname}; names must be unique per lesson")
            self.tests.append(HiddenTest(item.originalname, marker.kwargs["exercise"], float(marker.kwargs["points"]),
                                         bool(marker.kwargs.get("negative", False))))


@lru_cache(maxsize=None)
def collect(lesson: Lesson) -> tuple[HiddenTest, ...]:
    """Every test in the lesson's hidden suite: its name, exercise, points, and whether it is negative."""
    collector = _Collector()
    with contextlib.redirect_stdout(io.StringIO()):  # the listing is for us, not the terminal
        code = pytest.main([*hermetic_pytest_args(str(lesson.suite)), "--collect-only", "-p", "autograder.plugin"],
                           plugins=[collector])
    if code not in (0, 5) and not collector.tests:
        raise RuntimeError(f"the hidden suite of {lesson.slug} could not be collected (pytest exit {code})")
    return tuple(collector.tests)


NOT_ON_ITS_OWN = ("This check only counts once `{exercise}` does what its task asks: an answer that does "
                  "nothing would pass it too, and none of the exercise's other checks passed yet.")


def scored(expected: tuple[HiddenTest, ...] | list[HiddenTest], outcomes: Mapping[str, tuple[bool, str]]) -> list[TestResult]:
    """Each expected test's result, from ``outcomes`` (test name -> (passed, feedback)); a test
    that did not report did not run. The suite decides what exists and what it is worth.

    A negative test (one that checks what an answer must *not* do, such as "sends nothing after
    a disconnect") passes for an answer that does nothing at all, so it earns its points only
    together with a passed positive test of the same exercise. ``autograder grade`` and the
    nbgrader path both score through here.
    """
    results = []
    for test in expected:
        passed, feedback = outcomes.get(test.name, (False, "This check did not run."))
        results.append(TestResult(test.name, test.exercise, test.points if passed else 0.0, test.points, passed, feedback))
    positive_passed = {result.exercise for result, test in zip(results, expected) if result.passed and not test.negative}
    for result, test in zip(results, expected):
        if test.negative and result.passed and test.exercise not in positive_passed:
            result.passed, result.points = False, 0.0
            result.feedback = NOT_ON_ITS_OWN.format(exercise=test.exercise)
    return results
