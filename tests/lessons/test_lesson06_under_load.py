"""Lesson 06's speed checks never flip on a busy machine.

Its hidden suite grades two exercises partly on speed (``test_speed.py``). Such a check must give
the reference solution its points every time and a slow answer none, whatever else the machine
is doing. So: with one process burning a core for the whole test (the other core of a 2-core
machine stays for the grader, shared with everything else running), the speed checks alone grade
the solution 20 times and a slow answer 20 times, one after the other, each in its own sandbox.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import nbformat
import pytest

from autograder.grade import Fixed, grade_one, hidden_paths
from autograder.lessons import find_lesson
from autograder.types import Limits

RUNS = 20
SPEED_MODULE = "test_speed.py"

# Slow but correct answers: the bodies of the reference factories, without the tactics.
SLOW = {
    "make_invoice_parser": """
def make_invoice_parser():
    def parse(raw):
        return TypeAdapter(list[StoredInvoice]).validate_python(json.loads(raw))
    return parse
""",
    "make_fast_app": """
def make_fast_app():
    return make_slow_app()
""",
}


def speed_checks_only(fixed: Fixed) -> Fixed:
    """The lesson as graded, with only its speed checks in the suite."""
    # The other test modules go; the modules they lean on (the sandbox probes, inputs) stay.
    sources = tuple(
        (name, source) for name, source in fixed.sources if name == SPEED_MODULE or not name.startswith("test_")
    )
    assert sources, f"the lesson 06 suite has no {SPEED_MODULE}"
    speed_tests = {name for name, source in sources for name in _test_names(source)}
    # Each judged on its own: test_parser_speed is negative (a parser that does nothing is fast
    # too), so in a whole grading it counts only beside a passed positive check of its exercise,
    # and none is kept here. What this test asks is whether the timing itself holds.
    expected = tuple(test._replace(negative=False) for test in fixed.expected if test.name in speed_tests)
    return dataclasses.replace(fixed, sources=sources, expected=expected)


def _test_names(source: str) -> list[str]:
    return [
        line.split("def ", 1)[1].split("(", 1)[0]
        for line in source.splitlines()
        if line.startswith("async def test_") or line.startswith("def test_")
    ]


def slow_answer(solution):
    notebook = copy.deepcopy(solution)
    for cell in notebook.cells:
        exercise = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if exercise in SLOW:
            cell.source += "\n\n# a slow answer:\n" + SLOW[exercise]
    return notebook


@pytest.mark.slow
def test_speed_checks_hold_20_times_while_another_core_is_busy(tmp_path: Path, busy_core):
    lesson = find_lesson("06_pydantic_performance")
    fixed = speed_checks_only(Fixed.read(lesson))
    solution = nbformat.read(lesson.solution, as_version=4)
    paths = {"solution": tmp_path / "solution.ipynb", "slow": tmp_path / "slow.ipynb"}
    nbformat.write(solution, paths["solution"])
    nbformat.write(slow_answer(solution), paths["slow"])
    hidden = hidden_paths(list(paths.values()))

    scores: dict[str, list[tuple[float, float]]] = {"solution": [], "slow": []}
    feedback: list[str] = []
    for run in range(RUNS):
        for kind, path in paths.items():
            assert busy_core.poll() is None, "the CPU burner stopped"
            result = grade_one(path, f"{kind}-{run}", fixed, Limits(), hidden)
            scores[kind].append((result.score, result.max_score))
            feedback += [
                f"{kind} run {run}: {test.name}: {test.feedback}"
                for test in result.tests
                if test.passed != (kind == "solution")
            ]
    assert all(max_score == 3 for _, max_score in scores["solution"] + scores["slow"]), scores
    assert [score for score, _ in scores["solution"]] == [3.0] * RUNS, feedback
    assert [score for score, _ in scores["slow"]] == [0.0] * RUNS, feedback
