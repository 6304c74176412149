"""The canary: a notebook with a known score graded first, through the very path of the run.

Only a canary with full marks lets a run go on; where the lesson's solution is not at hand
(a copy of the course without solutions/), the canary exercise shipped with the grader stands
in for it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from autograder import canary
from autograder.errors import CanaryFailed
from autograder.grade import Fixed, run_canary
from autograder.lessons import Lesson, find_lesson
from autograder.types import Limits

LESSON = find_lesson("01")


@dataclass(frozen=True)
class Elsewhere(Lesson):
    """Lesson 01, its "solution" a notebook of the test's choosing (or none at all)."""

    notebook: Path = Path("/nonexistent/solution.ipynb")

    @property
    def solution(self) -> Path:
        return self.notebook


def fixed_with(solution: Path) -> Fixed:
    return dataclasses.replace(Fixed.read(LESSON), lesson=Elsewhere(LESSON.slug, solution))


def test_without_a_solution_the_canary_exercise_stands_in_and_earns_full_marks():
    found = run_canary(fixed_with(Path("/nonexistent/solution.ipynb")), Limits())
    assert found.what == "the grader's canary exercise" and found.lesson == LESSON.slug
    assert found.result.graded and found.result.score == found.result.max_score == 3
    assert found.result.lesson == canary.EXERCISE.slug


def test_a_canary_short_of_full_marks_stops_the_run_and_says_what_failed(tmp_path):
    """The run's reference answers are the real ones; the notebook graded as the canary has a
    mistake (as a broken grader would make the reference lose points)."""
    solution = nbformat.read(LESSON.solution, as_version=4)
    for cell in solution.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "json_app":
            cell.source += "\n\nasync def json_app(scope, receive, send):\n    raise NotImplementedError()\n"
    nbformat.write(solution, tmp_path / "reference.ipynb")
    with pytest.raises(CanaryFailed) as failed:
        run_canary(fixed_with(tmp_path / "reference.ipynb"), Limits())
    assert any(failure.startswith("json_app/test_") for failure in failed.value.failures)
    assert "json_app/test_answers_200_with_method_and_path: Promises 1 and 2 of `json_app`" in str(failed.value)
    assert "Your `json_app` raised NotImplementedError" in str(failed.value)
    assert "no score was written" in str(failed.value)
