"""Mutation testing of the hidden suites: how many small bugs in each reference solution they catch.

    python -m autograder.mutation [LESSON...] [--max N] [--jobs N] [--survivors] [--semantic]
    python -m autograder.mutation --record [LESSON...]     grade every mutant, write the record

For each exercise cell of a lesson's solution notebook, every mutant is the reference with one
change inside its ``### BEGIN SOLUTION`` / ``### END SOLUTION`` region, made by an operator over
Python's ``ast``. The syntactic operators (``OPERATORS``) make one small edit: a comparison
flipped, a statement removed, an ``await`` dropped, a constant changed, two arguments swapped, a
loop's first iteration or a ``break`` dropped, ``and`` and ``or`` swapped, ``not`` removed, ``+``
and ``-`` swapped, a return value dropped. The semantic ones (``semantic_mutation.OPERATORS``)
make a learner's kind of mistake: a ``finally`` or ``except`` body dropped, a statement moved
out of its ``with`` block or transaction, one deadline per call instead of one overall, a
regex unanchored, two fields swapped, state moved to module level or into each call, a
``.decode()``/``.encode()`` put first or dropped, money through ``float``, a cleanup not
awaited. A mutant that does not compile is never made, nor the same program twice. Each
mutant is a notebook, graded like a class by ``grade_all`` (many at once, in parallel), with
that exercise's tests only, stopping at the first that fails. A mutant is *killed* when its
exercise loses points.

A mutant the suite cannot kill because it behaves as the reference does, as far as the task
statement says (a log message reworded, a cache that is only ever filled once), is listed in
``autograder/lessons/<lesson>/equivalent_mutants.toml`` with the reason; the score of an exercise is
the share killed of its other mutants. ``tests/lessons/test_mutation.py`` requires 90 % for
every exercise of every lesson.

Grading every mutant of every lesson takes the better part of an hour, too long for each run of
the test suite, so it is done by a maintainer command (``--record``) whose outcome is kept in
the repository (``tests/lessons/mutation_records/<lesson>.json``): per exercise, how many
mutants there were and which were not killed, with digests of what they were graded with (the
hidden suite and the reference solution). The test suite checks the 90 % against the record,
fails when the record is stale (either digest differs: run the command again), and grades a
fixed sample of mutants on every run to check that the record still tells the truth.

The mutants are numbered in source order, so a cap (``--max``) picks the same evenly spread
sample of syntactic mutants every time; every semantic mutant is always graded (``--semantic``
grades only those).
"""

from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import inspect
import json
import sys
import tempfile
import tomllib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from . import notebook, reference, semantic_mutation
from .errors import GraderError, GraderFault, NoSuchLesson
from .grade import Start, grade_all
from .lessons import ROOT, Lesson, lessons_named
from .suite import snapshot
from .syntax import parse
from .types import Limits, SubmissionResult

RECORDS = ROOT / "tests" / "lessons" / "mutation_records"
REQUIRED_SCORE = 0.9
# Mutants are graded with the limits a class is graded with: a mutant counts as killed only
# where the grader learners meet would catch it (a time limit shorter than a class's would
# kill slow mutants a learner's slow answer would get away with), and the test suite grades
# its sample of mutants in the lesson's class, with the rest of it (tests/lessons/classes.py).
LIMITS = Limits()
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


@dataclass(frozen=True)
class Mutant:
    lesson: str
    exercise: str
    id: str  # "<operator> at <line>:<col>: <before> -> <after>", stable while the cell is
    source: str  # the whole exercise cell, mutated


@dataclass
class Score:
    exercise: str
    killed: list[str] = field(default_factory=list)
    survived: list[str] = field(default_factory=list)
    equivalent: list[str] = field(default_factory=list)

    @property
    def share(self) -> float:
        counted = len(self.killed) + len(self.survived)
        return len(self.killed) / counted if counted else 1.0


# -- the operators --------------------------------------------------------------------------------
# Each takes a node of the original tree and yields (name, replacement) pairs; the replacement
# is a new node put in the node's place (None: the statement is removed, `pass` if it was alone).

FLIPPED = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.GtE,
    ast.GtE: ast.Lt,
    ast.Gt: ast.LtE,
    ast.LtE: ast.Gt,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
SWAPPED_ARITHMETIC = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.FloorDiv: ast.Mult}
# What an operator makes of one node: (its name, the node that replaces it, None: removed).
Mutations = Iterator[tuple[str, ast.AST | None]]


def flip_comparison(node: ast.AST) -> Mutations:
    if isinstance(node, ast.Compare):
        for index, op in enumerate(node.ops):
            if type(op) in FLIPPED:
                new = copy.deepcopy(node)
                new.ops[index] = FLIPPED[type(op)]()
                yield "flip-comparison", new


def swap_bool_operator(node: ast.AST) -> Mutations:
    if isinstance(node, ast.BoolOp):
        new = copy.deepcopy(node)
        new.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        yield "swap-and-or", new


def drop_not(node: ast.AST) -> Mutations:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "drop-not", copy.deepcopy(node.operand)


def swap_arithmetic(node: ast.AST) -> Mutations:
    if isinstance(node, ast.BinOp) and type(node.op) in SWAPPED_ARITHMETIC:
        new = copy.deepcopy(node)
        new.op = SWAPPED_ARITHMETIC[type(node.op)]()
        yield "swap-arithmetic", new


def drop_await(node: ast.AST) -> Mutations:
    if isinstance(node, ast.Await):
        yield "drop-await", copy.deepcopy(node.value)


def change_constant(node: ast.AST) -> Mutations:
    if not isinstance(node, ast.Constant):
        return
    value = node.value
    changed: list[str | bytes | bool | int | float | None]
    if isinstance(value, bool):
        changed = [not value]
    elif isinstance(value, int):
        changed = [value + 1] if value == 0 else [value + 1, 0]
    elif isinstance(value, float):
        changed = [value * 2 + 1]
    elif isinstance(value, str):
        changed = [value + "X", ""] if value else ["X"]
    elif isinstance(value, bytes):
        changed = [value + b"X", b""] if value else [b"X"]
    elif value is None:
        changed = [0]
    else:
        return
    for each in changed:
        yield "change-constant", ast.Constant(each)


def swap_arguments(node: ast.AST) -> Mutations:
    if (
        isinstance(node, ast.Call)
        and len(node.args) >= 2
        and not any(isinstance(arg, ast.Starred) for arg in node.args[:2])
    ):
        new = copy.deepcopy(node)
        new.args[0], new.args[1] = new.args[1], new.args[0]
        yield "swap-arguments", new


def loop_skips_first(node: ast.AST) -> Mutations:
    if isinstance(node, ast.For):
        new = copy.deepcopy(node)
        new.iter = ast.Subscript(
            ast.Call(ast.Name("list", ast.Load()), [new.iter], []), ast.Slice(ast.Constant(1), None, None), ast.Load()
        )
        yield "loop-skips-first", new


def break_to_continue(node: ast.AST) -> Mutations:
    if isinstance(node, ast.Break):
        yield "break-to-continue", ast.Continue()
    elif isinstance(node, ast.Continue):
        yield "continue-to-break", ast.Break()


def return_none(node: ast.AST) -> Mutations:
    if (
        isinstance(node, ast.Return)
        and node.value is not None
        and not (isinstance(node.value, ast.Constant) and node.value.value is None)
    ):
        yield "return-none", ast.Return(None)


def remove_statement(node: ast.AST) -> Mutations:
    if isinstance(node, ast.stmt) and not isinstance(
        node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Pass, ast.Return, ast.Break, ast.Continue)
    ):
        yield "remove-statement", None


OPERATORS: list[Callable[[ast.AST], Mutations]] = [
    flip_comparison,
    swap_bool_operator,
    drop_not,
    swap_arithmetic,
    drop_await,
    change_constant,
    swap_arguments,
    loop_skips_first,
    break_to_continue,
    return_none,
    remove_statement,
]


# -- making mutants -------------------------------------------------------------------------------


def solution_lines(source: str) -> list[range]:
    """The line numbers (1-based) between each BEGIN SOLUTION and END SOLUTION marker."""
    ranges, start = [], None
    for number, line in enumerate(source.splitlines(), 1):
        if BEGIN in line:
            start = number + 1
        elif END in line and start is not None:
            ranges.append(range(start, number))
            start = None
    return ranges


def _inside(node: ast.AST, ranges: list[range]) -> bool:
    start, end = getattr(node, "lineno", None), getattr(node, "end_lineno", None)  # None: not in the source
    return start is not None and end is not None and any(start in each and end in each for each in ranges)


def _where(node: ast.AST) -> str:
    """Where a node starts, as mutant ids say it ("line:column"; an edited node always has one)."""
    return f"{getattr(node, 'lineno', '?')}:{getattr(node, 'col_offset', '?')}"


_snippet = semantic_mutation.snippet


def _replace(tree: ast.Module, index: int, replacement: ast.AST | None) -> ast.Module:
    """A copy of ``tree`` with its ``index``-th node (in ``ast.walk`` order) replaced."""
    mutated = copy.deepcopy(tree)
    target = list(ast.walk(mutated))[index]
    for parent in ast.walk(mutated):
        for name, value in ast.iter_fields(parent):
            if value is target:
                setattr(parent, name, replacement)
                return mutated
            if isinstance(value, list) and any(item is target for item in value):
                position = next(i for i, item in enumerate(value) if item is target)
                if replacement is None:
                    del value[position]
                    if not value:
                        value.append(ast.Pass())
                else:
                    value[position] = replacement
                return mutated
    raise LookupError(index)


def _compiles(text: str) -> bool:
    """Whether a mutant compiles as the sandbox compiles a cell. One that does not (a removed
    assignment leaves a ``nonlocal`` without its binding) says nothing about the suite."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # `x is 0`: a SyntaxWarning, and a mutant like any other
            compile(text, "<mutant>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def syntactic_mutants(lesson: str, exercise: str, source: str) -> list[Mutant]:
    """The cell's mutants by ``OPERATORS``, in source order."""
    ranges = solution_lines(source)
    tree = parse(source)
    made: list[Mutant] = []
    seen = {ast.unparse(tree)}
    for index, node in enumerate(ast.walk(tree)):
        if not _inside(node, ranges):
            continue
        for operator in OPERATORS:
            for name, replacement in operator(node):
                mutated = ast.fix_missing_locations(_replace(tree, index, replacement))
                text = ast.unparse(mutated)
                if text in seen or not _compiles(text):
                    continue  # the same program as the reference or another mutant, or none
                seen.add(text)
                where = _where(node)
                made.append(
                    Mutant(lesson, exercise, f"{name} at {where}: {_snippet(node)} -> {_snippet(replacement)}", text)
                )
    return made


def semantic_mutants(lesson: str, exercise: str, source: str) -> list[Mutant]:
    """The cell's mutants by ``semantic_mutation.OPERATORS`` (a learner's kind of mistake),
    each a program that compiles, none the reference or made twice."""
    ranges = solution_lines(source)
    tree = parse(source)
    made: list[Mutant] = []
    seen = {ast.unparse(tree)}
    for operator in semantic_mutation.OPERATORS:
        for edit in operator(tree):
            if not all(_inside(node, ranges) for node in edit.at):
                continue
            text = ast.unparse(ast.fix_missing_locations(edit.tree))
            if text in seen or not _compiles(text):
                continue
            seen.add(text)
            where = _where(edit.at[0])
            made.append(Mutant(lesson, exercise, f"{edit.operator} at {where}: {edit.before} -> {edit.after}", text))
    return made


def mutants_of_cell(
    lesson: str, exercise: str, source: str, most: int | None = None, syntactic: bool = True
) -> list[Mutant]:
    """The cell's syntactic mutants (at most ``most``, evenly spread), then all its semantic ones.
    The semantic ones are few and each is a mistake learners make, so a sample never leaves one
    out; a syntactic mutant that makes the same program as a semantic one is left out instead
    (dropping an ``await`` of a cleanup is both), so no program is graded twice."""
    semantic = semantic_mutants(lesson, exercise, source)
    if not syntactic:
        return semantic
    same = {mutant.source for mutant in semantic}
    return [
        mutant for mutant in spread(syntactic_mutants(lesson, exercise, source), most) if mutant.source not in same
    ] + semantic


def spread(items: list[Mutant], most: int | None) -> list[Mutant]:
    """At most ``most`` of ``items``, evenly spread over the list, always the same ones."""
    if most is None or len(items) <= most:
        return items
    return [items[round(i * (len(items) - 1) / (most - 1))] for i in range(most)] if most > 1 else items[:1]


def mutants(
    lesson: Lesson, most: int | None = None, exercises: set[str] | None = None, syntactic: bool = True
) -> list[Mutant]:
    """Every exercise's mutants: at most ``most`` syntactic ones per exercise and every semantic
    one (only those if not ``syntactic``), in source order."""
    found: list[Mutant] = []
    for exercise, cell_source in _exercise_cells(lesson.solution.read_text()):
        if exercises is None or exercise in exercises:
            found += _mutants_of_cell(lesson.slug, exercise, cell_source, most, syntactic)
    return found


def _exercise_cells(solution: str) -> list[tuple[str, str]]:
    read = notebook.Notebook(json.loads(solution))
    exercises = notebook.exercise_ids(read)
    return [
        (notebook.grade_id(cell), notebook.source(cell)) for cell in read.cells if notebook.grade_id(cell) in exercises
    ]


@lru_cache(maxsize=256)
def _mutants_of_cell(slug: str, exercise: str, source: str, most: int | None, syntactic: bool) -> tuple[Mutant, ...]:
    """``mutants_of_cell``, made once per process (making them copies the cell's tree for each:
    seconds for a lesson, and the test suite asks for them many times)."""
    return tuple(mutants_of_cell(slug, exercise, source, most, syntactic))


def equivalents(lesson: Lesson) -> dict[tuple[str, str], str]:
    """(exercise, mutant id) -> why it behaves as the reference does, from the committed list."""
    path = lesson.equivalent_mutants
    if not path.exists():
        return {}
    return {
        (entry["exercise"], entry["mutant"]): entry["reason"]
        for entry in tomllib.loads(path.read_text()).get("equivalent", [])
    }


# -- grading them ---------------------------------------------------------------------------------


def write_notebooks(lesson: Lesson, found: list[Mutant], folder: Path) -> dict[Path, Mutant]:
    """Each mutant as a notebook in ``folder``: the solution with that one exercise cell mutated."""
    solution = json.loads(lesson.solution.read_text())
    made = {}
    for number, mutant in enumerate(found):
        path = folder / f"{lesson.slug}-{number:04d}-{mutant.exercise}.ipynb"
        path.write_text(json.dumps(notebook.with_cell(solution, mutant.exercise, mutant.source)))
        made[path] = mutant
    return made


def killed(mutant: Mutant, result: SubmissionResult) -> bool:
    """Whether grading the mutant (its exercise alone) cost that exercise points."""
    got, total = result.exercise_scores().get(mutant.exercise, (0.0, 0.0))
    return got < total or total == 0


def judged(lesson: Lesson, outcomes: list[tuple[Mutant, bool]]) -> dict[str, Score]:
    """Sort (mutant, killed) into each exercise's killed, survived and equivalent."""
    known = equivalents(lesson)
    scores = {mutant.exercise: Score(mutant.exercise) for mutant, _ in outcomes}
    for mutant, was_killed in outcomes:
        entry = scores[mutant.exercise]
        if (mutant.exercise, mutant.id) in known:
            entry.equivalent.append(mutant.id)
        elif was_killed:
            entry.killed.append(mutant.id)
        else:
            entry.survived.append(mutant.id)
    return scores


def graded(
    lesson: Lesson, found: list[Mutant], jobs: int | None = None, on_start: Callable[[Start], None] = lambda start: None
) -> list[tuple[Mutant, bool]]:
    """Grade every mutant (its exercise only): each with whether it was killed. The run's canary
    (the reference itself, with the mutants' limits) goes to ``on_start``; a mutant the grader
    failed on is no verdict at all (``GraderFault``), never a killed one."""
    with tempfile.TemporaryDirectory(prefix="mutants-") as folder:
        by_path = write_notebooks(lesson, found, Path(folder))
        results = grade_all(
            list(by_path),
            limits=LIMITS,
            jobs=jobs,
            lesson=lesson,
            on_start=on_start,
            only={path: mutant.exercise for path, mutant in by_path.items()},
        )
    failed = [result for result in results if not result.graded]
    if failed:
        raise GraderFault(
            f"{len(failed)} mutant(s) of {lesson.slug} were not graded: the grader failed "
            f"({failed[0].grader_error}); no mutation score is given"
        )
    return [(mutant, killed(mutant, result)) for mutant, result in zip(by_path.values(), results, strict=True)]


def score(
    lesson: Lesson, found: list[Mutant], jobs: int | None = None, on_start: Callable[[Start], None] = lambda start: None
) -> dict[str, Score]:
    """Grade every mutant (its exercise only) and sort it into killed, survived, equivalent."""
    return judged(lesson, graded(lesson, found, jobs, on_start))


# -- the record -----------------------------------------------------------------------------------


def meaning(name: str, source: str) -> str:
    """What a file of the hidden suite says, as far as what it kills goes: a Python module's
    syntax tree without positions, comments or layout, its docstrings as paragraphs of words
    (a test's first paragraph is the feedback for an unexpected error, ``plugin.summary``,
    however it is wrapped); any other file (the promises) as it is. So the suite can be
    formatted (``ruff format`` promises the same tree, docstrings' indentation apart), wrapped,
    commented and noqa-marked without making its record stale, while any change to what runs does.
    (The trees are Python 3.11's, which the course is pinned to: another version dumps them otherwise.)"""
    if not name.endswith(".py"):
        return source
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                if isinstance(first.value.value, str):
                    paragraphs = inspect.cleandoc(first.value.value).split("\n\n")
                    first.value.value = "\n\n".join(" ".join(paragraph.split()) for paragraph in paragraphs)
    return ast.dump(tree)


def digests(lesson: Lesson) -> dict[str, str]:
    """What mutants are graded with, each as a digest: the hidden suite (its test modules, as a
    run reads them, and the lesson's sandbox probes: what they mean, ``meaning``) and the
    reference solution (its exercise cells with the release's setup cells, as written: what
    every mutant is made from and run with, and what its name's line and column count in)."""
    suite = hashlib.sha256()
    for name, source in snapshot(lesson):  # the test modules, inputs and sandbox probes
        suite.update(f"{name}\0{meaning(name, source)}\0".encode())
    solution = json.dumps([asdict(cell) for cell in reference.cells(lesson)], sort_keys=True)
    return {
        "suite": "sha256:" + suite.hexdigest(),
        "solution": "sha256:" + hashlib.sha256(solution.encode()).hexdigest(),
    }


def record_path(lesson: Lesson) -> Path:
    return RECORDS / f"{lesson.slug}.json"


def write_record(lesson: Lesson, outcomes: list[tuple[Mutant, bool]]) -> Path:
    """Keep the outcome of grading *every* mutant of ``lesson``, with what it was graded with."""
    exercises: dict[str, dict[str, Any]] = {}
    for mutant, was_killed in outcomes:
        entry = exercises.setdefault(mutant.exercise, {"mutants": 0, "not_killed": []})
        entry["mutants"] += 1
        if not was_killed:
            entry["not_killed"].append(mutant.id)
    document = {
        "lesson": lesson.slug,
        "made_by": f"python -m autograder.mutation --record {lesson.slug}",
        **digests(lesson),
        "exercises": exercises,
    }
    path = record_path(lesson)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_record(lesson: Lesson) -> dict[str, Any] | None:
    try:
        record: dict[str, Any] = json.loads(record_path(lesson).read_text(encoding="utf-8"))
        return record
    except FileNotFoundError:
        return None


def stale(lesson: Lesson) -> str | None:
    """Why the lesson's record no longer says how its suite does against its mutants, or None."""
    record = read_record(lesson)
    if record is None:
        return f"{lesson.slug} has no mutation record"
    now = digests(lesson)
    changed = [what for what in ("suite", "solution") if record.get(what) != now[what]]
    if changed:
        return f"the {' and the '.join(changed)} of {lesson.slug} changed since its mutation record was made"
    counts = {exercise: entry["mutants"] for exercise, entry in record["exercises"].items()}
    made: dict[str, int] = {}
    for mutant in mutants(lesson):
        made[mutant.exercise] = made.get(mutant.exercise, 0) + 1
    if counts != made:  # same sources, other mutants: the operators changed
        return f"the mutants of {lesson.slug} are not those its record counts ({made} now, {counts} recorded)"
    return None


def recorded(lesson: Lesson) -> dict[Mutant, bool]:
    """Every mutant of the lesson with whether the record says it was killed (read a fresh record
    only: ``stale`` is None)."""
    record = read_record(lesson)
    assert record is not None, f"{lesson.slug} has no mutation record"  # narrows the type for the checker  # noqa: S101
    not_killed = {
        (exercise, mutant) for exercise, entry in record["exercises"].items() for mutant in entry["not_killed"]
    }
    return {mutant: (mutant.exercise, mutant.id) not in not_killed for mutant in mutants(lesson)}


def _print_start(slug: str, start: Start) -> None:
    print(f"{slug}: {start}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.mutation", description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="*", help="lesson slugs or numbers (default: all)")
    parser.add_argument("--max", type=int, default=None, help="mutants per exercise, evenly spread (default: all)")
    parser.add_argument("--exercise", action="append", help="only this exercise (repeatable)")
    parser.add_argument("--jobs", type=int, default=None, help="mutants graded at once (default: CPUs)")
    parser.add_argument("--survivors", action="store_true", help="list every surviving mutant")
    parser.add_argument("--semantic", action="store_true", help="only the semantic operators' mutants")
    parser.add_argument(
        "--record",
        action="store_true",
        help=f"grade every mutant and write the record the test suite checks ({RECORDS.relative_to(ROOT)}/)",
    )
    args = parser.parse_args(argv)
    if args.record and (args.max or args.exercise or args.semantic):
        parser.error("--record grades every mutant of every exercise: leave out --max, --exercise and --semantic")
    try:
        lessons = lessons_named(args.lessons)
    except NoSuchLesson as exc:
        parser.error(str(exc))
    failing = 0
    for lesson in lessons:
        found = mutants(lesson, args.max, set(args.exercise) if args.exercise else None, syntactic=not args.semantic)
        try:
            outcomes = graded(lesson, found, args.jobs, on_start=partial(_print_start, lesson.slug))
        except GraderError as exc:
            print(f"autograder.mutation: {exc}", file=sys.stderr)
            return 1
        if args.record:
            print(f"{lesson.slug}: recorded in {write_record(lesson, outcomes).relative_to(ROOT)}", flush=True)
        for exercise, entry in judged(lesson, outcomes).items():
            counted = len(entry.killed) + len(entry.survived)
            verdict = "ok" if entry.share >= REQUIRED_SCORE else "UNDER 90 %"
            failing += entry.share < REQUIRED_SCORE
            print(
                f"{lesson.slug} {exercise:24} {entry.share:6.1%} killed {len(entry.killed)}/{counted}"
                f" (+{len(entry.equivalent)} equivalent)  {verdict}",
                flush=True,
            )
            if args.survivors:
                for mutant in entry.survived:
                    print(f"    survived: {mutant}")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
