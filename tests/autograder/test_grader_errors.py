"""The grader's own failures are never a learner's score.

A sandbox that cannot start or cannot import its own code is found before anything is graded
(the start-up probe, then the canary: the reference graded first through the same path), and
the run stops without writing a score. A submission the grader fails on later is "not
graded: grader error" in every result it writes, and the run exits non-zero.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder import cli, grade
from autograder.lessons import find_lesson
from autograder.types import GRADER_ERROR
from tests.autograder.grading_modes import MODES, unavailable
from tests.autograder.test_locations import Location, grade_from, made

LESSON = find_lesson("01")
ROOT_MODE = next(mode for mode in MODES if mode.name == "root")
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or unavailable(ROOT_MODE) is not None,
    reason="a copy of the course with its interpreter bound in place needs root and namespaces",
)


def no_score_written(out: Path) -> bool:
    return not out.exists() or (not any(out.rglob("*.json")) and not (out / "grades.csv").exists())


@needs_root
@pytest.mark.parametrize(
    ("module", "stopped_by"),
    [
        # Every sandbox imports it first: the start-up probe finds it, and says it is no mode's fault.
        ("confine", "The grader's sandbox does not work here (in root mode): it cannot start"),
        # Only lesson 01's probes import it: the canary finds it.
        ("drives", "the canary (the reference solution of 01_asgi_by_hand"),
    ],
)
def test_a_sandbox_module_that_raises_on_import_stops_the_run_before_any_score(module, stopped_by):
    location = Location(f"broken-{module}", "/var/tmp", prefix="course-broken-")
    base = made(location)
    try:
        with (base / "course" / "autograder" / "sandbox" / f"{module}.py").open("a") as source:
            source.write('\nraise RuntimeError("broken on purpose")\n')
        graded = grade_from(location, base, ROOT_MODE)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    completed = graded["completed"]
    assert completed.returncode == 1, completed.stdout[-2000:]
    assert stopped_by in completed.stderr, completed.stderr[-2000:]
    assert "RuntimeError" in completed.stderr
    assert no_score_written(graded["out"])


@needs_root
def test_an_interpreter_the_sandbox_cannot_see_stops_the_run_before_any_score():
    """The course and its venv inside the folder being graded: every sandbox is kept out of a
    submission's folder, so none can see its own interpreter. The canary finds it."""
    location = Location("venv-among-the-submissions", "/var/tmp", prefix="course-hidden-")
    base = made(location)
    try:
        (base / "class" / "reference.ipynb").rename(base / "reference.ipynb")
        graded = grade_from(location, base, ROOT_MODE, graded=base / "reference.ipynb", tmp=Path("/tmp"))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    completed = graded["completed"]
    assert completed.returncode == 1, completed.stdout[-2000:]
    assert "the canary (the reference solution of 01_asgi_by_hand" in completed.stderr, completed.stderr[-2000:]
    assert "the sandbox did not become ready" in completed.stderr and "before it was ready" in completed.stderr
    assert "did not answer within" not in completed.stderr + completed.stdout
    assert no_score_written(graded["out"])


def test_a_submission_the_grader_fails_on_is_not_graded_anywhere_and_the_run_fails(tmp_path, monkeypatch, capsys):
    """The canary passes; then the grader fails on one submission (its worker says so, as a
    sandbox that never became ready makes it): that one has no score in the JSON, the feedback
    file, the gradebook or Gradescope's export, the other is graded, and the exit status is 1."""
    folder, out = tmp_path / "class", tmp_path / "grades"
    folder.mkdir()
    solution = nbformat.read(LESSON.solution, as_version=4)
    for name in ("broken", "honest"):
        nbformat.write(solution, folder / f"{name}.ipynb")
    real, calls = grade.run_worker, []
    reason = (
        "the sandbox did not become ready (it ended (exit status 1) before it was ready: "
        "ModuleNotFoundError: No module named 'autograder.sandbox.runner'), before any of the learner's code ran"
    )

    def run_worker(program, sources, limits, scratch=None):
        calls.append(program)  # the canary first, then (one job at a time) broken, honest
        if len(calls) == 2:
            return {"grader_error": reason}
        return real(program, sources, limits, scratch)

    monkeypatch.setattr(grade, "run_worker", run_worker)
    code = cli.main(["grade", str(folder), "--out", str(out), "--gradescope", "--accept-risk", "--jobs", "1"])
    printed = capsys.readouterr()

    assert code == 1 and len(calls) == 3
    assert "1 submission(s) not graded because the grader failed (broken)" in printed.err
    broken, honest = (json.loads((out / f"{name}.json").read_text()) for name in ("broken", "honest"))
    assert broken["status"] == GRADER_ERROR and broken["score"] is None and broken["tests"] == []
    assert broken["grader_error"] == reason
    assert honest["status"] == "graded" and honest["score"] == honest["max_score"] > 0
    feedback = (out / "broken.feedback.md").read_text()
    assert "Not graded" in feedback and reason in feedback and "did not answer" not in feedback
    assert "Score: none" in feedback
    with (out / "grades.csv").open() as handle:
        rows = {row["submission"]: row for row in csv.DictReader(handle)}
    assert rows["broken"]["score"] == "" and rows["broken"]["status"] == GRADER_ERROR
    assert rows["broken"]["grader_error"] == reason and rows["honest"]["status"] == "graded"
    gradescope = json.loads((out / "gradescope" / "broken" / "results.json").read_text())
    assert "score" not in gradescope and gradescope["tests"] == [] and gradescope["visibility"] == "hidden"
    assert reason in gradescope["output"]
    assert "NOT GRADED, grader errors" in printed.out
