"""The learners' copy of the course: all they need to work, nothing that gives answers away."""

from __future__ import annotations

import os
import subprocess
import sys

from autograder.lessons import all_lessons
from autograder.publish import LESSONS, WITHHELD, publish


def test_the_learners_copy_has_the_notebooks_and_no_answers(tmp_path):
    copied = {str(path) for path in publish(tmp_path)}
    for lesson in all_lessons():
        assert f"notebooks/{lesson.slug}/{lesson.slug}.ipynb" in copied
    assert {
        "notebooks/START.ipynb",
        "course.py",
        "course.toml",
        "requirements.lock",
        "coursekit/progress.py",
        "autograder/sandbox/runner.py",
    } <= copied
    for each in WITHHELD:
        assert not (tmp_path / each).exists()
    assert [path.name for path in (tmp_path / LESSONS).iterdir()] == ["__init__.py"]
    notebooks = "".join(path.read_text() for path in tmp_path.rglob("*.ipynb"))
    assert "BEGIN SOLUTION" not in notebooks and "BEGIN HIDDEN TESTS" not in notebooks
    assert "grade_exercise(" not in notebooks


def test_check_in_the_learners_copy_says_who_keeps_the_hidden_tests(tmp_path):
    publish(tmp_path)
    lesson = all_lessons()[0]
    completed = subprocess.run(
        [sys.executable, "-m", "autograder", "check", f"notebooks/{lesson.slug}/{lesson.slug}.ipynb"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},  # the copy's own autograder, not this one's
    )
    assert completed.returncode == 1
    assert "has no hidden tests" in completed.stderr and "your instructor keeps them" in completed.stderr
