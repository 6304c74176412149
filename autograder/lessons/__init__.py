"""Which lessons there are (``course.toml``, in order), and where a lesson's pieces live,
found by convention from its slug (``01_asgi_by_hand``).

    solutions/<slug>/<slug>.ipynb        the single source (explanations and solutions)
    notebooks/<slug>/<slug>.ipynb        the learner's copy, made by ``autograder release``
    autograder/lessons/<slug>/           everything the grader knows about the lesson:
        test_*.py                        the hidden suite
        sandbox_probes.py                code the suite runs next to the learner's, in the
                                         sandbox (``submission.probe("lessonNN.function")``);
                                         it reaches sandboxes as source, never by import
        inputs.py                        Hypothesis strategies only this lesson's tests use
        promises.toml                    what each exercise's statement promises, numbered
                                         (``autograder.promises``)
        mistakes.toml                    plausible wrong answers it must catch
        alternatives.toml                correct answers written another way: full marks
        blind_review.toml                answers written by a reviewer who never read the
                                         suite, graded before and after it was strengthened
                                         (``autograder.blind_review``)
        equivalent_mutants.toml          mutants that behave as the solution does, and why
        attacks.toml                     attacks on the lesson's own kind of grading, if any

The lesson folders are the grader's alone: a sandbox never sees them (``PRIVATE``). Adding a
lesson touches ``course.toml``, ``solutions/<slug>/`` and its folder here, nothing else
(docs/AUTHORING.md, "Adding a lesson"); ``Lesson.missing`` says what a lesson still lacks.
"""

from __future__ import annotations

import ast
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import promises
from ..errors import CourseNotFound, NoSuchLesson

FOLDER = Path(__file__).resolve().parent
PACKAGE = FOLDER.parent
ROOT = PACKAGE.parent
MANIFEST = ROOT / "course.toml"
# Never visible to a sandbox: the answers, the hidden tests, the maintainers' checks, history.
PRIVATE = (ROOT / "solutions", FOLDER, ROOT / "tests", ROOT / ".git")


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
    def folder(self) -> Path:
        """Everything the grader knows about the lesson (see the top of this module)."""
        return FOLDER / self.slug

    @property
    def suite(self) -> Path:
        """The folder of the hidden suite's ``test_*.py`` (the lesson's folder)."""
        return self.folder

    @property
    def sandbox_probes(self) -> Path:
        return self.folder / "sandbox_probes.py"

    @property
    def probes_name(self) -> str:
        """What the hidden tests call the probes by: "lesson05" in ``probe("lesson05.script")``."""
        return f"lesson{self.slug[:2]}"

    @property
    def promises_file(self) -> Path:
        return self.folder / promises.FILE

    @property
    def promises(self) -> promises.Table:
        """What each exercise's statement promises, in order: exercise -> its ``Promise``s
        ({} while the lesson has no promises.toml)."""
        return promises.read(self.promises_file)

    @property
    def mistakes(self) -> Path:
        return self.folder / "mistakes.toml"

    @property
    def alternatives(self) -> Path:
        return self.folder / "alternatives.toml"

    @property
    def blind_review(self) -> Path:
        return self.folder / "blind_review.toml"

    @property
    def equivalent_mutants(self) -> Path:
        return self.folder / "equivalent_mutants.toml"

    @property
    def attacks(self) -> Path:
        return self.folder / "attacks.toml"

    def missing(self) -> list[str]:
        """What the lesson still lacks, each as the file to create and what goes in it."""
        lacks: list[str] = []

        def lack(path: Path, what: str) -> None:
            lacks.append(f"{path.relative_to(ROOT)}: {what}")

        if not self.solution.exists():
            lack(self.solution, "the solution notebook, the lesson's single source")
        if not self.release.exists():
            lack(self.release, "the learner's copy: run `autograder release`")
        tests = sorted(self.folder.glob("test_*.py"))
        if not tests:
            lack(self.folder / "test_<exercise>.py", "the hidden tests, a file per exercise")
        called = {match for path in tests for match in PROBE_CALL.findall(path.read_text())}
        theirs = sorted(f"{name}.{function}" for name, function in called if name != self.probes_name)
        if theirs:
            lack(
                self.folder,
                f"its tests call another lesson's probes ({', '.join(theirs)}): a sandbox gets its own lesson's only",
            )
        ours = {function for name, function in called if name == self.probes_name}
        if ours and not self.sandbox_probes.exists():
            lack(self.sandbox_probes, f"the probes its tests call ({', '.join(sorted(ours))})")
        elif ours:
            tree = ast.parse(self.sandbox_probes.read_text())
            defined = {
                node.name
                for node in tree.body
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            }
            if ours - defined:
                lack(self.sandbox_probes, f"define the probes its tests call: {', '.join(sorted(ours - defined))}")
        entries = tomllib.loads(self.mistakes.read_text()).get("mistake", []) if self.mistakes.exists() else []
        if not any(entry.get("warned") for entry in entries):
            lack(
                self.mistakes,
                "plausible wrong answers ([[mistake]]), at least one the lesson warns about (warned = true)",
            )
        if not self.equivalent_mutants.exists():
            lack(
                self.equivalent_mutants,
                "the mutants that behave as the solution does, each with why (the file may list none)",
            )
        for path, what in PROMISED_PARTS.items():
            if not (self.folder / path).exists():
                lack(self.folder / path, what)
        return lacks


# What issue 25 adds to every lesson (docs/AUTHORING.md, "Promises" and "The blind review").
PROMISED_PARTS = {
    promises.FILE: (
        "the numbered promises of each exercise's statement ([[promise]]: exercise, id, text, "
        "unhappy), which `autograder release` lists in the statements"
    ),
    "alternatives.toml": (
        "correct answers written another way, which must keep full marks ([[alternative]]: "
        "exercise, why, source), the blind review's correct answers among them"
    ),
    "blind_review.toml": (
        "the blind review: answers written from the learner's notebook by someone who has not "
        "read the suite, graded before it is strengthened "
        "(`python -m autograder.blind_review grade NN_slug ANSWERS.toml`)"
    ),
}


# A probe as the hidden tests name it: "lesson05.script", "$fixture:lesson02.build_router".
PROBE_CALL = re.compile(r"""["'](?:\$fixture:)?(lesson\d\d)\.(\w+)["']""")


def manifest() -> list[dict[str, Any]]:
    """The lessons as ``course.toml`` lists them, in course order (see ``autograder.manifest``)."""
    try:
        text = MANIFEST.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CourseNotFound(str(MANIFEST)) from None
    lessons: list[dict[str, Any]] = tomllib.loads(text)["lesson"]
    return lessons


def all_lessons() -> list[Lesson]:
    """Every lesson of the course, in order. (A learner's copy has no solutions/, so the list
    comes from the manifest; a test checks that it names every lesson in solutions/.)"""
    return [Lesson(entry["slug"]) for entry in manifest()]


def find_lesson(slug: str) -> Lesson | None:
    for lesson in all_lessons():
        if slug in (lesson.slug, lesson.slug[:2]):
            return lesson
    return None


def lesson_named(name: str) -> Lesson:
    """The lesson ``name`` names (its slug or number), or ``NoSuchLesson``, which lists them."""
    found = find_lesson(name)
    if found is None:
        raise NoSuchLesson(name, [lesson.slug for lesson in all_lessons()])
    return found


def lessons_named(names: list[str]) -> list[Lesson]:
    """The lessons ``names`` name, in that order; every lesson of the course for none."""
    return [lesson_named(name) for name in names] if names else all_lessons()
