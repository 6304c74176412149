"""What a hidden suite contains: its tests, the exercise each grades, and their points."""

from __future__ import annotations

import ast
import contextlib
import io
import re
import sys
import types
from collections.abc import Mapping
from functools import cache, lru_cache
from pathlib import Path
from typing import NamedTuple

import pytest

from . import promises
from .lessons import Lesson
from .syntax import parse
from .types import Probes, TestResult


class HiddenTest(NamedTuple):
    """One test of a hidden suite, as ``@graded(exercise, points, negative=..., promises=...,
    unhappy=...)`` declares it."""

    name: str
    exercise: str
    points: float
    negative: bool = False  # an answer that does nothing would pass it: see ``scored``
    promises: tuple[str, ...] = ()  # the ids of the statement's promises it checks (``autograder.promises``)
    unhappy: bool = False  # it checks them off the happy path


def pytest_args(suite: str) -> list[str]:
    """How every run of a hidden suite starts pytest: on that folder alone, ignoring the
    repository's own pytest configuration, leaving no cache behind.

    ``--confcutdir`` too: with ``-c /dev/null`` pytest 9 takes /dev as where conftest files
    stop, so its collection started at the highest folder above the suite that is not above
    /dev (/tmp) and listed all of it: 7,500 entries on a busy machine, 1.4 s of each 2-second
    submission. Cut at the suite, collection starts there."""
    return [
        suite,
        "-q",
        "-p",
        "no:cacheprovider",
        "--import-mode=importlib",
        "--rootdir",
        suite,
        "-c",
        "/dev/null",
        "--confcutdir",
        suite,
    ]


# pytest's own plugins that a hidden suite never uses: their fixtures (tmp_path, monkeypatch,
# caplog...), reports and options. Each plugin costs every worker its registration (pytest
# parses each one's fixtures) and its hooks around every test: a fifth of a worker's CPU.
UNUSED_PLUGINS = (
    "doctest",
    "junitxml",
    "pastebin",
    "legacypath",
    "tmpdir",
    "monkeypatch",
    "recwarn",
    "logging",
    "subtests",
    "setuponly",
    "setupplan",
    "stepwise",
    "unraisableexception",
    "threadexception",
)


def hermetic_pytest_args(suite: str) -> list[str]:
    """The same, with no plugin but those named: what is installed around the grader (anyio's
    plugin, and others that register themselves) neither runs with the suite nor slows it.
    Nor pytest's unraisable-exception hook: it ends every session with rounds of ``gc.collect``
    (a tenth of a lesson-01 submission's grading), and a worker's process ends with its session.

    ``--tb=line``: pytest builds a report of every failed test's traceback, which the grader
    never reads (the learner's feedback is made from the exception, ``plugin.feedback_for``).
    In its default style it reads and parses the source file of every frame (FastAPI's routing,
    Starlette's middleware...): a sixth of a worker's CPU when it grades a class of lesson 07's
    mistakes. One line per failure costs next to nothing and still says where it failed."""
    return [
        *pytest_args(suite),
        "--disable-plugin-autoload",
        *(option for plugin in UNUSED_PLUGINS for option in ("-p", f"no:{plugin}")),
        "--tb=line",
    ]


class _Collector:
    def __init__(self) -> None:
        self.tests: list[HiddenTest] = []

    def pytest_collection_modifyitems(self, items: list[pytest.Function]) -> None:  # a suite holds functions only
        for item in items:
            marker = item.get_closest_marker("graded")
            if marker is None:
                raise pytest.UsageError(f"hidden test {item.nodeid} has no @graded(exercise, points)")
            # originalname drops the "[asyncio]" that anyio's parametrisation adds
            if any(item.originalname == test.name for test in self.tests):
                raise pytest.UsageError(
                    f"two hidden tests are named {item.originalname}; names must be unique per lesson"
                )
            self.tests.append(
                HiddenTest(
                    item.originalname,
                    marker.kwargs["exercise"],
                    float(marker.kwargs["points"]),
                    bool(marker.kwargs.get("negative", False)),
                    tuple(marker.kwargs.get("promises", ())),
                    bool(marker.kwargs.get("unhappy", False)),
                )
            )


@cache
def collect(lesson: Lesson) -> tuple[HiddenTest, ...]:
    """Every test in the lesson's hidden suite: its name, exercise, points, whether it is
    negative, the promises it checks and whether off the happy path."""
    collector = _Collector()
    with contextlib.redirect_stdout(io.StringIO()):  # the listing is for us, not the terminal
        code = pytest.main(
            [*hermetic_pytest_args(str(lesson.suite)), "--collect-only", "-p", "autograder.plugin"],
            plugins=[collector, FrozenSuite(snapshot(lesson), lesson.suite)],
        )
    if code not in (0, 5) and not collector.tests:
        raise RuntimeError(f"the hidden suite of {lesson.slug} could not be collected (pytest exit {code})")
    return tuple(collector.tests)


# -- a suite fixed before grading starts ------------------------------------------------------
Snapshot = tuple[tuple[str, str], ...]  # (file name, text) for each Python file of a lesson's folder, and its promises


def snapshot(lesson: Lesson) -> Snapshot:
    """The lesson's code (its test modules, the modules beside them such as ``inputs.py``, its
    sandbox probes) and its promises (which the feedback quotes), read once, before the first
    submission of a run: what a run grades with, whatever happens to the files on disk while
    it runs."""
    paths = [*sorted(lesson.suite.glob("*.py")), *([lesson.promises_file] if lesson.promises_file.exists() else [])]
    return tuple((path.name, path.read_text()) for path in paths)


def promises_of(sources: Snapshot) -> promises.Table:
    """The lesson's promises as the snapshot holds them ({} for a lesson without)."""
    text = dict(sources).get(promises.FILE)
    return {} if text is None else promises.parse(text)


def probes(lesson: Lesson, sources: Snapshot | None = None) -> Probes | None:
    """The lesson's sandbox probes as ``sources`` hold them (as the lesson's folder holds them
    now, without), or None for a lesson whose tests call none."""
    if sources is None:
        path = lesson.sandbox_probes
        return Probes(lesson.probes_name, path.read_text()) if path.exists() else None
    source = dict(sources).get(lesson.sandbox_probes.name)
    return None if source is None else Probes(lesson.probes_name, source)


@lru_cache(maxsize=32)  # asked once per submission, about the same few suites
def imports(sources: Snapshot) -> tuple[str, ...]:
    """The modules a lesson's code imports (absolute imports), to import before grading: its
    tests', and its probes' (the reference runs them in the worker's process)."""
    found: set[str] = set()
    for name, source in sources:
        if not name.endswith(".py"):
            continue
        for node in ast.walk(parse(source)):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                found.add(node.module)
    return tuple(sorted(found))


def materialise(sources: Snapshot, folder: Path) -> Path:
    """Lay the suite out for pytest to walk; ``FrozenSuite`` supplies the code itself."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in sources:
        (folder / name).write_text(source)
    return folder


# The package a suite's modules are made in: a test module ``hidden_suite.test_x`` imports
# the lesson's other modules beside it as ``from .inputs import ...``.
PACKAGE = "hidden_suite"


# The run's promises, on pytest's config for the feedback (``autograder.plugin.feedback_for``).
PROMISES = pytest.StashKey[promises.Table]()


class FrozenSuite:
    """A pytest plugin: each test module of the suite is made from the snapshot's source, not
    from the file pytest found (which only says that the module exists), and so is each module
    beside them that they import (``from .inputs import queue_steps``). Every run of a hidden
    suite makes its modules so: grading, collecting, and nbgrader's kernel."""

    def __init__(self, sources: Snapshot, folder: Path) -> None:
        self.sources = dict(sources)
        self.folder = folder

    def pytest_configure(self, config: pytest.Config) -> None:
        """A fresh package for this suite: a process that ran another lesson's suite before
        (the grader collects every lesson's) keeps none of its modules. The run's promises go
        on ``config``, for the feedback (``autograder.plugin.feedback_for``)."""
        config.stash[PROMISES] = promises_of(tuple(self.sources.items()))
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(PACKAGE + ".")]:
            del sys.modules[name]
        package = types.ModuleType(PACKAGE)
        package.__path__ = []  # nothing is found on disk: the modules come from the snapshot
        sys.modules[PACKAGE] = package

    @pytest.hookimpl(tryfirst=True)
    def pytest_pycollect_makemodule(self, module_path: Path, parent: pytest.Collector) -> pytest.Module | None:
        if module_path.parent != self.folder or module_path.name not in self.sources:
            return None
        module = _FrozenModule.from_parent(parent, path=module_path)
        module.frozen_source = self.sources[module_path.name]
        module.frozen_suite = self
        return module

    def made(self, stem: str, source: str) -> types.ModuleType:
        """``hidden_suite.<stem>`` from ``source``, after the modules beside it that it imports."""
        for beside in _imported_beside(source):
            if f"{PACKAGE}.{beside}" not in sys.modules and f"{beside}.py" in self.sources:
                self.made(beside, self.sources[f"{beside}.py"])
        name = f"{PACKAGE}.{stem}"
        module = types.ModuleType(name)
        module.__file__ = str(self.folder / f"{stem}.py")
        module.__package__ = PACKAGE
        sys.modules[name] = module
        exec(compile(source, module.__file__, "exec"), module.__dict__)  # the snapshot's test module, as an import  # noqa: S102
        return module


# ``from .inputs import ...`` wherever it stands (at the top, in a function, after a ``;``). Every
# worker asks it of every module of its suite: a walk of their syntax trees cost a tenth of a
# worker's CPU. A line of a string that reads like one only makes a module beside earlier.
_IMPORT_BESIDE = re.compile(r"(?:^|;)[ \t]*from[ \t]+\.(\w+)[ \t]+import\b", re.MULTILINE)


def _imported_beside(source: str) -> list[str]:
    """The modules ``source`` imports from beside it (``from .inputs import ...``)."""
    return _IMPORT_BESIDE.findall(source)


class _FrozenModule(pytest.Module):
    frozen_source = ""
    frozen_suite: FrozenSuite

    def _getobj(self) -> types.ModuleType:
        return self.frozen_suite.made(self.path.stem, self.frozen_source)


NOT_RUN = "This check did not run."
NOT_ON_ITS_OWN = (
    "This check only counts once `{exercise}` does what its task asks: an answer that does "
    "nothing would pass it too, and none of the exercise's other checks passed yet."
)


def scored(
    expected: tuple[HiddenTest, ...] | list[HiddenTest], outcomes: Mapping[str, tuple[bool, str]]
) -> list[TestResult]:
    """Each expected test's result, from ``outcomes`` (test name -> (passed, feedback)); a test
    that did not report did not run. The suite decides what exists and what it is worth.

    A negative test (one that checks what an answer must *not* do, such as "sends nothing after
    a disconnect") passes for an answer that does nothing at all, so it earns its points only
    together with a passed positive test of the same exercise. ``autograder grade`` and the
    nbgrader path both score through here.
    """
    results = []
    for test in expected:
        passed, feedback = outcomes.get(test.name, (False, NOT_RUN))
        results.append(
            TestResult(test.name, test.exercise, test.points if passed else 0.0, test.points, passed, feedback)
        )
    positive_passed = {
        result.exercise for result, test in zip(results, expected, strict=True) if result.passed and not test.negative
    }
    for result, test in zip(results, expected, strict=True):
        if test.negative and result.passed and test.exercise not in positive_passed:
            result.passed, result.points = False, 0.0
            result.feedback = NOT_ON_ITS_OWN.format(exercise=test.exercise)
    return results
