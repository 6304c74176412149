"""Which lessons there are: read from course.toml, with a clear error where it is missing; and
that each has every part, or is told what to create."""

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


@pytest.mark.parametrize("lesson", lessons.all_lessons(), ids=lambda lesson: lesson.slug)
def test_every_lesson_in_the_manifest_has_every_part(lesson):
    """docs/AUTHORING.md, "Adding a lesson": what to create, file by file."""
    assert lesson.missing() == [], "create:\n" + "\n".join(lesson.missing())


def test_a_lesson_lacking_its_parts_is_told_what_to_create(tmp_path, monkeypatch):
    monkeypatch.setattr(lessons, "ROOT", tmp_path)
    monkeypatch.setattr(lessons, "FOLDER", tmp_path / "autograder" / "lessons")
    lesson = lessons.Lesson("08_streaming")
    assert lesson.missing() == [
        "solutions/08_streaming/08_streaming.ipynb: the solution notebook, the lesson's single source",
        "notebooks/08_streaming/08_streaming.ipynb: the learner's copy: run `autograder release`",
        "autograder/lessons/08_streaming/test_<exercise>.py: the hidden tests, a file per exercise",
        "autograder/lessons/08_streaming/mistakes.toml: plausible wrong answers ([[mistake]]), at least one the "
        "lesson warns about (warned = true)",
        "autograder/lessons/08_streaming/equivalent_mutants.toml: the mutants that behave as the solution does, "
        "each with why (the file may list none)",
    ]
    for path in (lesson.solution, lesson.release):
        path.parent.mkdir(parents=True)
        path.write_text("{}")
    lesson.folder.mkdir(parents=True)
    (lesson.folder / "test_stream.py").write_text(
        'async def test_it(submission):\n    await submission.probe("lesson08.chunks", 3)\n'
        '    await submission.probe("lesson07.api_report")\n')
    lesson.mistakes.write_text('[[mistake]]\nexercise = "stream"\nwhy = "w"\nfeedback = "f"\nsource = "s"\n')
    lesson.equivalent_mutants.write_text("")
    assert lesson.missing() == [
        "autograder/lessons/08_streaming: its tests call another lesson's probes (lesson07.api_report): a sandbox "
        "gets its own lesson's only",
        "autograder/lessons/08_streaming/sandbox_probes.py: the probes its tests call (chunks)",
        "autograder/lessons/08_streaming/mistakes.toml: plausible wrong answers ([[mistake]]), at least one the "
        "lesson warns about (warned = true)",
    ]
    lesson.sandbox_probes.write_text("async def chunk(n):\n    return n\n")
    assert "define the probes its tests call: chunks" in lesson.missing()[1]
