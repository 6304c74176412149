"""What a hidden suite contains: its tests, the exercise each grades, and their points."""

from __future__ import annotations

import contextlib
import io
from functools import lru_cache

import pytest

from .lessons import Lesson


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
        self.tests: list[tuple[str, str, float]] = []

    def pytest_collection_modifyitems(self, items) -> None:
        for item in items:
            marker = item.get_closest_marker("graded")
            if marker is None:
                raise pytest.UsageError(f"hidden test {item.nodeid} has no @graded(exercise, points)")
            # originalname drops the "[asyncio]" that anyio's parametrisation adds
            if any(item.originalname == name for name, _, _ in self.tests):
                raise pytest.UsageError(f"two hidden tests are named {item.originalname}; names must be unique per lesson")
            self.tests.append((item.originalname, marker.kwargs["exercise"], float(marker.kwargs["points"])))


@lru_cache(maxsize=None)
def collect(lesson: Lesson) -> tuple[tuple[str, str, float], ...]:
    """(test name, exercise, points) for every test in the lesson's hidden suite."""
    collector = _Collector()
    with contextlib.redirect_stdout(io.StringIO()):  # the listing is for us, not the terminal
        code = pytest.main([*hermetic_pytest_args(str(lesson.suite)), "--collect-only", "-p", "autograder.plugin"],
                           plugins=[collector])
    if code not in (0, 5) and not collector.tests:
        raise RuntimeError(f"the hidden suite of {lesson.slug} could not be collected (pytest exit {code})")
    return tuple(collector.tests)
