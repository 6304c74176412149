"""Which lessons there are (``course.toml``, in order), and where a lesson's pieces live,
found by convention from its slug (``01_asgi_by_hand``).

    solutions/<slug>/<slug>.ipynb        the single source (explanations and solutions)
    notebooks/<slug>/<slug>.ipynb        the learner's copy, made by ``autograder release``
    autograder/suites/<slug>/test_*.py   the hidden suite
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import CourseNotFound

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent
MANIFEST = ROOT / "course.toml"
SUITES = PACKAGE / "suites"
# Never visible to a sandbox: the answers, the hidden tests, the maintainers' checks, history.
PRIVATE = (ROOT / "solutions", SUITES, ROOT / "tests", ROOT / ".git")


@dataclass(frozen=True)
class Lesson:
    slug: str

    @property
    def solution(self) -> Path:
        return ROOT / "solutions" / self.slug / f"{self.slug}.ipynb"

    @property
    def release(self) -> Path:
        return ROOT / "notebooks" / self.slug / f"{self.slug}.ipynb"

    @property
    def suite(self) -> Path:
        return SUITES / self.slug


def manifest() -> list[dict]:
    """The lessons as ``course.toml`` lists them, in course order (see ``autograder.manifest``)."""
    try:
        text = MANIFEST.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CourseNotFound(str(MANIFEST)) from None
    return tomllib.loads(text)["lesson"]


def all_lessons() -> list[Lesson]:
    """Every lesson of the course, in order. (A learner's copy has no solutions/, so the list
    comes from the manifest; a test checks that it names every lesson in solutions/.)"""
    return [Lesson(entry["slug"]) for entry in manifest()]


def find_lesson(slug: str) -> Lesson | None:
    for lesson in all_lessons():
        if slug in (lesson.slug, lesson.slug[:2]):
            return lesson
    return None
