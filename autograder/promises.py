"""Promises as data: what each exercise's task statement promises, numbered, with ids.

A lesson's ``promises.toml`` (in its folder) is the single source, in statement order::

    [[promise]]
    exercise = "json_app"          # the exercise's grade_id
    id = "status-200"              # stable, kebab-case, unique within the exercise
    text = "every HTTP request ... is answered with status **200**"   # the statement's words
    unhappy = false                # about errors, cancellation, repetition, limits, time-outs,
                                   # a second call or "whatever happens": needs a check off the
                                   # happy path

A promise's number is its place among its exercise's. Made from the file:

- the numbered list in the exercise's statement, between ``<!-- promises: json_app -->`` and
  ``<!-- /promises -->`` in a markdown cell above its exercise cell (``with_lists``, which
  ``autograder release`` applies to the solution notebook, and so to the learner's);
- the name of a broken promise, in the statement's words, before a failed test's own message
  (``named``, called where the feedback is made: ``autograder.plugin.feedback_for``);
- what the hidden suite owes them (``unchecked``): a test for every promise, one off the happy
  path for every unhappy promise, and no test that names none or one that does not exist.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import PromisesInvalid, StatementWithoutPromises
from .types import Promise

if TYPE_CHECKING:
    from nbformat import NotebookNode  # its import takes seconds: only the release needs it

    from .suite import HiddenTest  # the suite reads its promises from here

FILE = "promises.toml"
ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
FIELDS = {"exercise", "id", "text", "unhappy"}
# exercise -> its promises, in statement order
Table = dict[str, tuple[Promise, ...]]


def parse(text: str, where: str = FILE) -> Table:
    """The promises ``text`` (a promises.toml) lists, checked: an error names the entry."""
    try:
        entries = tomllib.loads(text).get("promise", [])
    except tomllib.TOMLDecodeError as exc:
        raise PromisesInvalid(where, f"not valid TOML ({exc})") from None
    table: dict[str, list[Promise]] = {}
    for index, entry in enumerate(entries, 1):
        label = f"promise {index} ({entry.get('exercise', '?')}: {entry.get('id', '?')})"
        if set(entry) - FIELDS:
            raise PromisesInvalid(where, f"{label} has unknown fields {sorted(set(entry) - FIELDS)}")
        if not isinstance(entry.get("exercise"), str) or not entry["exercise"].isidentifier():
            raise PromisesInvalid(where, f"{label} needs exercise = the exercise's grade_id")
        if not isinstance(entry.get("id"), str) or not ID.fullmatch(entry["id"]):
            raise PromisesInvalid(where, f"{label} needs an id in kebab-case (lower-case words joined by -)")
        if not isinstance(entry.get("text"), str) or not entry["text"].strip() or "\n" in entry["text"].strip():
            raise PromisesInvalid(where, f"{label} needs text: the statement's words, on one line")
        if not isinstance(entry.get("unhappy", False), bool):
            raise PromisesInvalid(where, f"{label}: unhappy is true or false")
        mine = table.setdefault(entry["exercise"], [])
        if any(promise.id == entry["id"] for promise in mine):
            raise PromisesInvalid(where, f"{label}: two promises of {entry['exercise']} have this id")
        mine.append(
            Promise(entry["exercise"], entry["id"], entry["text"].strip(), len(mine) + 1, entry.get("unhappy", False))
        )
    return {exercise: tuple(promises) for exercise, promises in table.items()}


def read(path: Path) -> Table:
    """A lesson's promises (``Lesson.promises``); {} for a lesson that has no promises.toml yet."""
    if not path.exists():
        return {}
    return parse(path.read_text(encoding="utf-8"), str(path))


# -- the list in the statement ---------------------------------------------------------------------

OPENING = "<!-- promises: {exercise} -->"
CLOSING = "<!-- /promises -->"
BLOCK = re.compile(r"<!-- promises: (\w+) -->\n?(.*?)<!-- /promises -->", re.S)


def listed(promises: Sequence[Promise]) -> str:
    """The numbered Markdown list a statement shows."""
    return "".join(f"{promise.number}. {promise.text}\n" for promise in promises)


def _solution_id(cell: NotebookNode) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta.get("grade_id") if cell.get("cell_type") == "code" and meta.get("solution") else None


def with_lists(notebook: NotebookNode, table: Table, where: str = "the solution notebook") -> NotebookNode:
    """``notebook`` (an nbformat notebook, changed in place and returned) with each exercise's
    numbered list written between its markers.

    A statement is found by its marker, not guessed: the markers name the exercise, and must sit
    in a markdown cell above that exercise's cell and below the exercise before it (its
    statement). Every exercise with promises has exactly one such place; a marker for an
    exercise without promises, or outside its statement, is an error that says where."""
    found: dict[str, int] = {}
    next_exercise: dict[int, str | None] = {}
    upcoming = None
    for index in range(len(notebook.cells) - 1, -1, -1):  # the first exercise cell below each cell
        next_exercise[index] = upcoming
        upcoming = _solution_id(notebook.cells[index]) or upcoming
    for index, cell in enumerate(notebook.cells):
        if cell.get("cell_type") != "markdown":
            continue
        for match in BLOCK.finditer(cell.source):
            exercise = match.group(1)
            if exercise not in table:
                raise StatementWithoutPromises(
                    where,
                    exercise,
                    f"a marker names `{exercise}`, which has no promises in "
                    f"{FILE}: list them there, or remove the marker",
                )
            if next_exercise[index] != exercise:
                raise StatementWithoutPromises(
                    where,
                    exercise,
                    f"the marker of `{exercise}` is not in its statement "
                    "(a markdown cell between the exercise before it and its cell)",
                )
            if exercise in found:
                raise StatementWithoutPromises(where, exercise, f"`{exercise}` has two promise markers")
            found[exercise] = index
        cell.source = BLOCK.sub(
            lambda match: f"{OPENING.format(exercise=match.group(1))}\n{listed(table[match.group(1)])}{CLOSING}",
            cell.source,
        )
    for exercise in table:
        if exercise not in found:
            raise StatementWithoutPromises(
                where,
                exercise,
                f"put the two lines {OPENING.format(exercise=exercise)} and "
                f"{CLOSING} in the statement of `{exercise}` (a markdown cell "
                "above its exercise cell), where its numbered list belongs",
            )
    return notebook


# -- the feedback ----------------------------------------------------------------------------------


def _numbers(promises: Sequence[Promise]) -> str:
    numbers = [str(promise.number) for promise in promises]
    return numbers[0] if len(numbers) == 1 else ", ".join(numbers[:-1]) + " and " + numbers[-1]


def named(table: Table, exercise: str, ids: Iterable[str], message: str) -> str:
    """``message`` after the promises ``ids`` of ``exercise`` it is about, by number and in the
    statement's words: "Promise 3 of `json_app` (exactly two headers ...): <message>". Ids the
    table does not know are left out (a project test keeps them from existing)."""
    wanted = set(ids)
    promises = [promise for promise in table.get(exercise, ()) if promise.id in wanted]
    if not promises:
        return message
    if len(promises) == 1:
        return f"Promise {promises[0].number} of `{exercise}` ({promises[0].text}): {message}"
    words = "; ".join(f"{promise.number}. {promise.text}" for promise in promises)
    return f"Promises {_numbers(promises)} of `{exercise}` ({words}): {message}"


# -- what the hidden suite owes them --------------------------------------------------------------


def unchecked(table: Table, tests: Sequence[HiddenTest]) -> list[str]:
    """What is wrong between a lesson's promises and its hidden tests (``HiddenTest``s, with
    ``promises`` and ``unhappy`` as ``@graded`` declared them), each as a sentence saying what
    to do; [] when every promise is checked, each unhappy one off the happy path too."""
    problems = []
    for test in tests:
        known = {promise.id for promise in table.get(test.exercise, ())}
        if not test.promises:
            problems.append(
                f"{test.name} names no promise: give @graded(..., promises=[...]) the ids it checks "
                f"(those of {test.exercise}: {', '.join(sorted(known)) or 'none listed yet'})"
            )
        for unknown in sorted(set(test.promises) - known):
            problems.append(f"{test.name} names promise {unknown!r}, which {test.exercise} does not have in {FILE}")
    for exercise in sorted({test.exercise for test in tests} - set(table)):
        problems.append(f"{exercise} has hidden tests but no promises in {FILE}: list what its statement promises")
    for exercise, promises in table.items():
        if not any(test.exercise == exercise for test in tests):
            problems.append(f"{exercise} has promises but no hidden tests (is the exercise named right in {FILE}?)")
            continue
        for promise in promises:
            checking = [test for test in tests if test.exercise == exercise and promise.id in test.promises]
            if not checking:
                problems.append(f"promise {promise.number} of {exercise} ({promise.id}) has no test")
            elif promise.unhappy and not any(test.unhappy for test in checking):
                problems.append(
                    f"promise {promise.number} of {exercise} ({promise.id}) is unhappy: it needs a test off "
                    "the happy path, @graded(..., unhappy=True)"
                )
    return problems
