"""The grader's vocabulary: every record that moves between its parts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

CellStatus = Literal["ok", "error", "timeout", "crashed", "missing", "not run"]
# A submission's fate: graded (a score, about the learner's code), or not graded because the
# grader failed on its own side (``errors.GraderFault``): then there is no score at all.
ResultStatus = Literal["graded", "not graded: grader error"]
GRADED: ResultStatus = "graded"
GRADER_ERROR: ResultStatus = "not graded: grader error"
# How a sandbox is confined on this machine, best first (``autograder.jail`` says what each means).
ConfinementMode = Literal["root", "userns", "uid", "none"]
# What the grader hands a worker process, and what the worker hands back, as JSON files
# (``autograder.grade.run_worker``, ``autograder.worker.grade``). The program: "cells",
# "limits", "lesson", "hidden", "only", "first_failure", "answers", "reference", and the
# jail's "ledger", "mode", "scratch", "template". The outcome: "cells" and "tests" (as
# ``CellReport``s and ``TestResult``s), with "grader_error" or "error" when something stopped it.
Program = dict[str, Any]
Outcome = dict[str, Any]


@dataclass(frozen=True)
class Cell:
    """A cell the sandbox runs: an exercise (the learner's source) or setup (the release's)."""

    id: str  # the nbgrader grade_id
    source: str
    role: Literal["exercise", "setup"]


@dataclass(frozen=True)
class Probes:
    """A lesson's sandbox probes as a run read them: the name its hidden tests call them by
    ("lesson05", as in ``probe("lesson05.script")``) and their source, which every sandbox of
    the run makes into a module (``autograder.sandbox.probes``)."""

    name: str
    source: str


@dataclass(frozen=True)
class Promise:
    """One promise of an exercise's task statement, as its lesson's ``promises.toml`` lists it
    (``autograder.promises``): the statement shows it as item ``number`` of the exercise's list."""

    exercise: str  # the exercise's grade_id
    id: str  # stable, kebab-case, unique within the exercise: what hidden tests name
    text: str  # the statement's own words (Markdown)
    number: int  # its place in the exercise's list, from 1
    unhappy: bool = False  # about errors, limits, repetition, "whatever happens": needs a check off the happy path


@dataclass(frozen=True)
class Only:
    """Grade one exercise of a submission alone (``grade_all(..., only=...)``)."""

    exercise: str  # its grade_id
    # Stop at its first failed test: all that a mutant's grading asks is whether anything
    # fails. Off, every test of the exercise runs, for its score and its feedback.
    first_failure: bool = True


@dataclass
class CellReport:
    id: str
    status: CellStatus
    message: str = ""


@dataclass(frozen=True)
class Limits:
    """What one submission may use. Per call and per cell limits are wall-clock seconds."""

    cell_seconds: float = 10.0
    call_seconds: float = 5.0  # an ASGI app answers in milliseconds; the suites wait 5 s too
    submission_seconds: float = 120.0
    cpu_seconds: int = 60
    memory_bytes: int = 2 * 1024**3  # per process, and for all together where a cgroup allows
    output_bytes: int = 1024**2
    processes: int = 32  # enforced where the sandbox has a user id of its own


@dataclass
class TestResult:
    name: str
    exercise: str
    points: float
    max_points: float
    passed: bool
    feedback: str = ""


@dataclass
class SubmissionResult:
    submission: str  # a name for the learner's file, unique within the run
    path: str
    lesson: str | None
    score: float | None = 0.0  # None when not graded
    max_score: float = 0.0
    tests: list[TestResult] = field(default_factory=list)
    cells: list[CellReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # notebook-level messages for the learner
    seconds: float = 0.0
    status: ResultStatus = GRADED
    grader_error: str = ""  # why it was not graded (status GRADER_ERROR): the grader's failure, for the instructor

    @property
    def graded(self) -> bool:
        return self.status == GRADED

    def not_graded(self, reason: str) -> SubmissionResult:
        """Mark this result as the grader's failure: no score, no tests, the reason kept."""
        self.status, self.grader_error = GRADER_ERROR, reason
        self.score, self.tests = None, []
        return self

    def exercise_scores(self) -> dict[str, tuple[float, float]]:
        scores: dict[str, tuple[float, float]] = {}
        for test in self.tests:
            got, total = scores.get(test.exercise, (0.0, 0.0))
            scores[test.exercise] = (got + test.points, total + test.max_points)
        return scores

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> SubmissionResult:
        """The inverse of ``to_json`` (its derived ``exercises`` is dropped)."""
        fields = {key: value for key, value in document.items() if key != "exercises"}
        return cls(
            **{
                **fields,
                "tests": [TestResult(**test) for test in document.get("tests", [])],
                "cells": [CellReport(**cell) for cell in document.get("cells", [])],
            }
        )

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["exercises"] = {
            name: {"score": got, "max_score": total} for name, (got, total) in self.exercise_scores().items()
        }
        return document
