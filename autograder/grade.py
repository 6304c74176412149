"""Grade a class: each submission in a worker process of its own, several at a time.

The orchestration stays in the trusted process and never runs submitted code. Per submission:
read the notebook, find its lesson, pick the cells to run (``notebook.program``), hand them to
``autograder.worker`` with an overall time limit, and turn what comes back into a
``SubmissionResult``. Anything that goes wrong is caught here and becomes a message in that
submission's result, so the rest of the class is graded anyway.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from . import canary, notebook, reference, template, worker
from .errors import CanaryFailed, GraderError, UnknownLesson
from .jail import Jail
from .lessons import PRIVATE, Lesson, all_lessons
from .suite import HiddenTest, Snapshot, collect, imports, scored, snapshot
from .types import Cell, CellReport, Limits, Only, Outcome, Program, SubmissionResult

CELL_MESSAGES = {
    "error": "cell `{id}` raised {message}",
    "timeout": "cell `{id}` {message}; the tests that need it were run without it",
    "crashed": "cell `{id}` {message} (sys.exit is caught; os._exit or a crash is not); "
    "the tests that need it were run without it",
    "missing": "the exercise cell `{id}` is missing from the notebook (deleted, or its metadata changed). "
    "Copy it back from the released notebook and solve it there",
}


@lru_cache(maxsize=64)
def released_exercise_ids(path: Path, modified: int) -> frozenset[str]:
    """A released notebook's exercise ids, read once per version of the file (``modified``):
    the grading service tells the lesson of every upload, and reading six notebooks each
    time was most of what an upload cost."""
    return frozenset(notebook.exercise_ids(notebook.read(path)))


def detect_lesson(submitted: notebook.Notebook, path: Path, lessons: list[Lesson]) -> Lesson:
    """The lesson whose exercise ids the submission shares most, the file name breaking ties."""
    ids = set(notebook.exercise_ids(submitted))
    best, best_score = None, (0, False)
    for lesson in lessons:
        modified = lesson.release.stat().st_mtime_ns if lesson.release.exists() else 0
        score = (len(ids & released_exercise_ids(lesson.release, modified)), lesson.slug in path.name)
        if score > best_score:
            best, best_score = lesson, score
    if best is None:
        raise UnknownLesson(str(path), [lesson.slug for lesson in lessons])
    return best


def run_worker(program: Program, sources: Snapshot, limits: Limits, scratch: Path | None = None) -> Outcome:
    """Grade ``program`` in a worker process; ``scratch``: where its sandboxes' scratch folders
    go (default: ``submission.SCRATCH_ROOT``)."""
    with tempfile.TemporaryDirectory(prefix="grade-") as work:
        paths = {name: Path(work) / name for name in ("program.json", "result.json", "worker.log", "sandboxes.txt")}
        jail = Jail(ledger=str(paths["sandboxes.txt"]), scratch=str(scratch) if scratch else None)
        # The worker learns what this machine allows from us rather than probing again, and
        # forks its sandboxes from this process's template (``autograder.template``).
        program = {
            **program,
            "ledger": jail.ledger,
            "mode": jail.confinement,
            "scratch": jail.scratch,
            "template": template.running().as_json(),
        }
        paths["program.json"].write_text(json.dumps(program))
        try:
            return _run_worker(paths, sources, limits)
        finally:
            jail.end_all()  # whatever the worker could not end itself


def _run_worker(paths: dict[str, Path], sources: Snapshot, limits: Limits) -> Outcome:
    process = worker.start(paths["program.json"], sources, paths["result.json"], paths["worker.log"], imports(sources))
    process.join(limits.submission_seconds)
    if process.exitcode is None:
        assert process.pid is not None  # started: narrows the type for the checker  # noqa: S101
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the worker leads its own process group
        except ProcessLookupError:
            process.kill()
        process.join()
        return {"error": f"grading stopped after {limits.submission_seconds:g} s; only finished checks count"}
    if not paths["result.json"].exists():  # the worker runs no learner code: its death is the grader's
        log = paths["worker.log"]
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
        return {
            "grader_error": f"the grader's worker failed (exit status {process.exitcode})"
            f"{': ' + tail[0] if tail else ''}"
        }
    outcome: Outcome = json.loads(paths["result.json"].read_text())
    return outcome


@dataclass(frozen=True)
class Fixed:
    """What a run grades a lesson with, read before its first submission runs: the released
    notebook (its setup cells run in every sandbox), the hidden suite's sources, and the tests
    it holds with their points. Nothing a submission later does to the files changes these."""

    lesson: Lesson
    release: notebook.Notebook
    sources: Snapshot
    expected: tuple[HiddenTest, ...]
    reference: tuple[Cell, ...]  # what differential tests compare with (``autograder.reference``)

    @classmethod
    def read(cls, lesson: Lesson) -> Fixed:
        return cls(lesson, notebook.read(lesson.release), snapshot(lesson), collect(lesson), reference.cells(lesson))


def grade_one(
    path: Path,
    name: str,
    fixed: Fixed | None,
    limits: Limits,
    hidden: tuple[str, ...] = (),
    only: Only | None = None,
    answers: str | None = None,
) -> SubmissionResult:
    """Grade one file against a lesson (None when it could not be told: the file is unreadable).

    With ``only``, run that exercise's tests alone, stopping at its first failure if it says
    so: all that mutation testing (``autograder.mutation``) needs to know is whether a mutant
    is caught.
    ``answers`` is the run's folder where differential tests share their inputs and the
    reference's answers (``autograder.answers``).
    """
    started = time.monotonic()
    result = SubmissionResult(submission=name, path=str(path), lesson=fixed.lesson.slug if fixed else None)
    expected = [test for test in fixed.expected if only is None or only.exercise == test.exercise] if fixed else []
    outcome: Outcome = {}
    try:
        submitted = notebook.read(path)
        if fixed is None:
            raise UnknownLesson(str(path), [known.slug for known in all_lessons()])
        cells, missing = notebook.program(fixed.release, submitted)
    except GraderError as exc:
        result.problems.append(str(exc))
    else:
        result.problems += [stray.message() for stray in notebook.stray_definitions(fixed.release, submitted)]
        result.problems += [stray.message() for stray in notebook.stray_tests(fixed.release, submitted)]
        program = {
            "cells": [asdict(cell) for cell in cells],
            "limits": asdict(limits),
            "hidden": list(hidden),
            "lesson": fixed.lesson.slug,
            "answers": answers,
            "only": only and only.exercise,
            "first_failure": bool(only and only.first_failure),
            "reference": [asdict(cell) for cell in fixed.reference],
        }
        outcome = run_worker(program, fixed.sources, limits)
        if "grader_error" in outcome:
            result.max_score = sum(test.points for test in expected)
            result.seconds = time.monotonic() - started
            return result.not_graded(outcome["grader_error"])
        result.cells = [CellReport(**report) for report in outcome.get("cells", [])]
        result.cells += [CellReport(grade_id, "missing") for grade_id in missing]
        if "error" in outcome:
            result.problems.append(outcome["error"])
        result.problems += [
            CELL_MESSAGES[cell.status].format(id=cell.id, message=cell.message)
            for cell in result.cells
            if cell.status in CELL_MESSAGES
        ]
    # The suite decides what exists and what it is worth; the worker only reports outcomes.
    reported = {test["name"]: (bool(test["passed"]), test["feedback"]) for test in outcome.get("tests", [])}
    result.tests = scored(_in_notebook_order(expected, fixed), reported)
    result.max_score = sum(test.max_points for test in result.tests)
    result.score = sum(test.points for test in result.tests)
    result.seconds = time.monotonic() - started
    return result


def _in_notebook_order(expected: list[HiddenTest], fixed: Fixed | None) -> list[HiddenTest]:
    """The suite's tests, exercise by exercise in the order the notebook asks them (the
    feedback reads top to bottom like the notebook), each exercise's tests as the suite has them."""
    order = notebook.exercise_ids(fixed.release) if fixed else []
    return sorted(expected, key=lambda test: order.index(test.exercise) if test.exercise in order else len(order))


@dataclass(frozen=True)
class Canary:
    """How a run's canary went: the notebook graded first, whose score is known (full marks),
    through the very path the submissions take. Only a canary that earned them is made."""

    lesson: str
    what: str  # "the reference solution of 01_asgi_by_hand", or the canary exercise
    result: SubmissionResult

    def __str__(self) -> str:
        return f"{self.lesson} {self.result.score:g}/{self.result.max_score:g} in {self.result.seconds:.1f} s"


@dataclass(frozen=True)
class Start:
    """How a run began, before its first submission: the seconds it took to be ready to grade
    (reading the suites, the workers' imports), then each lesson's canary."""

    warm_up: float
    canaries: list[Canary]

    def __str__(self) -> str:
        shown = ", ".join(map(str, self.canaries)) or "none (no lesson to grade)"
        return (
            f"ready to grade in {self.warm_up:.1f} s; canary (the reference, graded first like a submission): {shown}"
        )


def run_canary(fixed: Fixed, limits: Limits, hidden: tuple[str, ...] = (), answers: str | None = None) -> Canary:
    """Grade ``fixed``'s reference solution as a submission, with the run's limits, hidden paths
    and confinement: full marks, or ``CanaryFailed`` saying what failed and why (then nothing
    may be graded). Where the solution is not at hand, the canary exercise stands in
    (``autograder.canary``). Its differential answers land in ``answers`` for the run to reuse."""
    graded, path, what = fixed, fixed.lesson.solution, f"the reference solution of {fixed.lesson.slug}"
    if not path.exists():
        graded, path, what = Fixed.read(canary.EXERCISE), canary.EXERCISE.solution, "the grader's canary exercise"
        answers = None  # its answers are not the lesson's
    result = grade_one(path, "canary", graded, limits, hidden, answers=answers)
    if not result.graded:
        raise CanaryFailed(what, [f"not graded: {result.grader_error}"])
    failures = [
        *result.problems,
        *(f"{test.exercise}/{test.name}: {test.feedback}" for test in result.tests if not test.passed),
    ]
    if failures or not result.max_score or result.score != result.max_score:
        raise CanaryFailed(what, failures or [f"it scored {result.score:g}/{result.max_score:g}"])
    return Canary(fixed.lesson.slug, what, result)


def lessons_for(paths: list[Path], forced: Lesson | None) -> list[Lesson | None]:
    """Each file's lesson; an unreadable file takes the lesson most of the class has."""
    if forced is not None:
        return [forced] * len(paths)
    lessons = all_lessons()
    found: list[Lesson | None] = []
    for path in paths:
        try:
            found.append(detect_lesson(notebook.read(path), path, lessons))
        except GraderError:
            found.append(None)
    known = [lesson for lesson in found if lesson is not None]
    majority = max(set(known), key=known.count) if known else None
    return [lesson or majority for lesson in found]


def submission_names(paths: Iterable[Path]) -> list[tuple[Path, str]]:
    """Pair each path with a name for its results: the file's stem, made unique."""
    named: list[tuple[Path, str]] = []
    seen: dict[str, int] = {}
    for path in paths:
        stem = path.stem
        seen[stem] = seen.get(stem, 0) + 1
        named.append((path, stem if seen[stem] == 1 else f"{stem}-{seen[stem]}"))
    return named


def hidden_paths(paths: list[Path], extra: Iterable[Path] = ()) -> tuple[str, ...]:
    """What a sandbox must not see: the course's private parts, the class's files, the results."""
    places = {*PRIVATE, *(path.resolve().parent for path in paths), *(Path(each).resolve() for each in extra)}
    # A folder inside another hidden one is covered already (and cannot be mounted over).
    outermost = {place for place in places if not any(other in place.parents for other in places)}
    return tuple(sorted(str(place) for place in outermost))


def grade_all(
    paths: list[Path],
    *,
    limits: Limits = Limits(),
    jobs: int | None = None,
    lesson: Lesson | None = None,
    out: Path | None = None,
    on_result: Callable[[SubmissionResult], None] = lambda result: None,
    only: dict[Path, str | Only] | None = None,
    on_start: Callable[[Start], None] = lambda start: None,
) -> list[SubmissionResult]:
    """Grade every file, ``jobs`` at a time; ``only`` maps a file to the one exercise to grade in
    it (an exercise id alone: stopping at its first failure).

    First, for each lesson of the run, its canary (``run_canary``); ``on_start`` gets them (a
    ``Start``) before the first submission is graded. A canary short of full marks stops the run
    (``CanaryFailed``) before any result exists."""
    jobs = jobs or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="answers-") as answers:  # the grader's: hidden from sandboxes
        alone = {path: Only(which) if isinstance(which, str) else which for path, which in (only or {}).items()}
        return _grade_all(paths, limits, jobs, lesson, out, on_result, alone, answers, on_start)


def _grade_all(
    paths: list[Path],
    limits: Limits,
    jobs: int,
    lesson: Lesson | None,
    out: Path | None,
    on_result: Callable[[SubmissionResult], None],
    only: dict[Path, Only],
    answers: str,
    on_start: Callable[[Start], None],
) -> list[SubmissionResult]:
    hidden = hidden_paths(paths, [Path(answers), *([out] if out else [])])
    named = submission_names(paths)
    lessons = lessons_for(paths, lesson)
    # The forkserver imports what the suites need while they are read (collected), here, once,
    # before any submission runs (and rather than in every thread).
    started = time.monotonic()
    graded = set(filter(None, lessons))
    worker.warm_up(sorted({module for each in graded for module in imports(snapshot(each))}))
    fixed = {each: Fixed.read(each) for each in graded}
    worker.warmed()
    warm_up = time.monotonic() - started  # what every run pays before it grades, canary or not
    # The canaries fill the run's shared answers (the reference's side of the differential
    # tests) on their way, so what they cost is mostly what the first submission would have paid.
    on_start(
        Start(
            warm_up,
            [run_canary(each, limits, hidden, answers) for each in sorted(fixed.values(), key=lambda f: f.lesson.slug)],
        )
    )
    results: dict[str, SubmissionResult] = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {
            pool.submit(
                grade_one, path, name, fixed.get(each) if each else None, limits, hidden, only.get(path), answers
            ): name
            for (path, name), each in zip(named, lessons, strict=True)
        }
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as exc:  # a grader bug on one odd file must not stop the class
                name = futures[future]
                path = next(path for path, each in named if each == name)
                result = SubmissionResult(submission=name, path=str(path), lesson=None).not_graded(
                    f"the grader failed on this file ({type(exc).__name__}: {exc})"
                )
            results[result.submission] = result
            on_result(result)
    return [results[name] for _, name in named]
