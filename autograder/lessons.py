"""Where a lesson's pieces live, found by convention from its slug (``01_asgi_by_hand``).

    solutions/<slug>/<slug>.ipynb        the single source (explanations and solutions)
    notebooks/<slug>/<slug>.ipynb        the learner's copy, made by ``autograder release``
    autograder/suites/<slug>/test_*.py   the hidden suite
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent
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


def all_lessons() -> list[Lesson]:
    """Every lesson with a solution notebook, in course order."""
    return [Lesson(path.name) for path in sorted((ROOT / "solutions").glob("[0-9][0-9]_*")) if path.is_dir()]


def find_lesson(slug: str) -> Lesson | None:
    for lesson in all_lessons():
        if slug in (lesson.slug, lesson.slug[:2]):
            return lesson
    return None
