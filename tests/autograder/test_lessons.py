"""Which lessons there are: read from course.toml, with a clear error where it is missing."""

from __future__ import annotations

import pytest

from autograder import lessons
from autograder.errors import CourseNotFound


def test_lessons_come_in_course_order_from_the_manifest():
    slugs = [lesson.slug for lesson in lessons.all_lessons()]
    assert slugs == [entry["slug"] for entry in lessons.manifest()]
    assert slugs == sorted(slugs)
    assert lessons.find_lesson("01").slug == slugs[0]
    assert lessons.find_lesson(slugs[-1]).slug == slugs[-1]
    assert lessons.find_lesson("99") is None


def test_a_grader_installed_away_from_its_checkout_says_how_to_install_it(tmp_path, monkeypatch):
    # `pip install .` copies the package into site-packages, without course.toml beside it.
    monkeypatch.setattr(lessons, "MANIFEST", tmp_path / "course.toml")
    with pytest.raises(CourseNotFound, match=r"pip install -e \."):
        lessons.all_lessons()
