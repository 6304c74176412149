"""Reading notebooks, and choosing the cells the grader runs.

A submission is untrusted, so only two things are taken from it: the source of its exercise
cells, found by their nbgrader ``grade_id``, and nothing else. Setup cells, which are locked,
come from the released notebook, so editing them cannot change what the exercises are graded
against (nbgrader's ``OverwriteCells`` does the same).
"""

from __future__ import annotations

import ast
import builtins
import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .errors import NotANotebook
from .syntax import parse
from .types import Cell

MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
# A cell, or its metadata, as the notebook's JSON holds it: untrusted, so every read checks.
JSON = dict[str, Any]
# A notebook or a copy of it, edited (``with_cell``): the same kind comes back.
Document = TypeVar("Document", bound=dict[str, Any])


class Notebook(dict[str, Any]):
    """A notebook as plain JSON data. Grading reads only cells, their sources and metadata;
    plain ``json`` does that without nbformat's import (seconds: it compiles JSON-schema
    grammars), which every grading run would otherwise pay."""

    @property
    def cells(self) -> list[JSON]:
        cells: list[JSON] = self["cells"]  # ``read`` checked it is a list of objects
        return cells


def read(path: Path) -> Notebook:
    """Read a notebook, or explain plainly why it is not one."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise NotANotebook(str(path), f"cannot read it: {exc.strerror}") from None
    if size > MAX_NOTEBOOK_BYTES:
        raise NotANotebook(str(path), f"it is {size // 1024 // 1024} MB, more than a notebook should be")
    try:
        document = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotANotebook(str(path), f"it is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("cells"), list):
        raise NotANotebook(str(path), "it has no list of cells")
    if document.get("nbformat") != 4:
        raise NotANotebook(
            str(path),
            f"it is in notebook format {document.get('nbformat')!r}, not 4; "
            "open it in a current Jupyter and save it again",
        )
    if not all(isinstance(cell, dict) for cell in document["cells"]):
        raise NotANotebook(str(path), "its structure is broken: a cell is not an object")
    return Notebook(document)


def _grading_meta(cell: JSON) -> JSON:
    metadata = cell.get("metadata")
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return meta if isinstance(meta, dict) else {}


def source(cell: JSON) -> str:
    source = cell.get("source", "")
    return "".join(part for part in source if isinstance(part, str)) if isinstance(source, list) else str(source)


def grade_id(cell: JSON) -> str:
    return str(_grading_meta(cell).get("grade_id", ""))


def with_cell(notebook: Document, exercise: str, source: str) -> Document:
    """A copy of ``notebook`` whose code cell ``exercise`` (its grade_id) holds ``source``."""
    changed = copy.deepcopy(notebook)
    for cell in changed["cells"]:
        if grade_id(cell) == exercise and cell.get("cell_type") == "code":
            cell["source"] = source
    return changed


def exercise_ids(notebook: Notebook) -> list[str]:
    """The grade_ids of the solution code cells, in notebook order."""
    return [
        _grading_meta(cell)["grade_id"]
        for cell in notebook.cells
        if cell.get("cell_type") == "code"
        and _grading_meta(cell).get("solution")
        and _grading_meta(cell).get("grade_id")
    ]


def program(released: Notebook, submitted: Notebook) -> tuple[list[Cell], list[str]]:
    """The cells to run for a submission, in the released order, and which exercises are missing.

    Setup cells (locked, ``grade_id`` starting with ``setup``) come from ``released``; exercise
    cells from ``submitted``, matched by ``grade_id``.
    """
    learner_cells: dict[str, str] = {}
    for cell in submitted.cells:
        grade_id = _grading_meta(cell).get("grade_id")
        if cell.get("cell_type") == "code" and isinstance(grade_id, str) and grade_id not in learner_cells:
            learner_cells[grade_id] = source(cell)
    cells: list[Cell] = []
    missing: list[str] = []
    for cell in released.cells:
        meta = _grading_meta(cell)
        grade_id = meta.get("grade_id", "")
        if cell.get("cell_type") != "code":
            continue
        if meta.get("solution"):
            if grade_id in learner_cells:
                cells.append(Cell(grade_id, learner_cells[grade_id], "exercise"))
            else:
                missing.append(grade_id)
        elif meta.get("locked") and grade_id.startswith("setup"):
            cells.append(Cell(grade_id, source(cell), "setup"))
    return cells, missing


# -- code the grader does not run -------------------------------------------------------------
def where(notebook: Notebook, index: int) -> str:
    """A cell described as a learner finds it in JupyterLab, which numbers no cells: by its first
    line of code, and the heading of the section it is in."""
    lines = [line.strip() for line in source(notebook.cells[index]).splitlines()]
    first = next((line for line in lines if line and not line.startswith("#")), "")
    shown = f"the cell that starts with `{first[:60]}{'...' if len(first) > 60 else ''}`" if first else "an empty cell"
    for cell in reversed(notebook.cells[:index]):
        heading = next((line.lstrip("#").strip() for line in source(cell).splitlines() if line.startswith("#")), None)
        if cell.get("cell_type") == "markdown" and heading:
            return f'{shown} (under "{heading}")'
    return shown


@dataclass(frozen=True)
class Stray:
    """A name an exercise cell uses, defined only in a cell the grader does not run."""

    name: str
    exercise: str
    cell: str  # where that cell is, as ``where`` says it

    def message(self) -> str:
        return (
            f"`{self.name}`, which your `{self.exercise}` uses, is defined only in {self.cell}, a cell the "
            f"grader does not run (only exercise cells are graded): move it into the `{self.exercise}` "
            "exercise cell"
        )


@dataclass(frozen=True)
class StrayTest:
    """A learner's test written outside the exercise cell whose tests are graded."""

    name: str
    exercise: str
    cell: str

    def message(self) -> str:
        return (
            f"`{self.name}` is defined in {self.cell}, not in the `{self.exercise}` exercise cell: only the "
            f"tests in that cell are run, by the grader and by its self-check, so this one does not count. "
            f"Move it into the `{self.exercise}` cell if it should."
        )


def _released_sources(released: Notebook) -> dict[str, str]:
    return {
        grade_id(cell): source(cell)
        for cell in released.cells
        if cell.get("cell_type") == "code" and _grading_meta(cell).get("solution")
    }


def stray_definitions(released: Notebook, submitted: Notebook) -> list[Stray]:
    """Names exercise cells use that only an ungraded cell of ``submitted`` defines: a helper a
    learner wrote in a cell of their own, which works in their kernel and not in the grader's.
    A name the exercise cell already used as released (the starter code's own, bound in the
    part the learner writes) is not the learner's doing, and is left out."""
    cells, _ = program(released, submitted)
    graded = {cell.id for cell in cells}
    as_released = {name: _free_names(text) for name, text in _released_sources(released).items()}
    defined_by_graded = set().union(*(_top_level_names(cell.source) for cell in cells)) if cells else set()
    elsewhere: dict[str, int] = {}
    for number, their_cell in enumerate(submitted.cells):
        if their_cell.get("cell_type") == "code" and _grading_meta(their_cell).get("grade_id") not in graded:
            for name in _top_level_names(source(their_cell)):
                elsewhere.setdefault(name, number)
    found = []
    for cell in cells:
        if cell.role != "exercise":
            continue
        unbound = _free_names(cell.source) - defined_by_graded - set(dir(builtins)) - as_released.get(cell.id, set())
        for name in sorted(unbound):
            if name in elsewhere:
                found.append(Stray(name, cell.id, where(submitted, elsewhere[name])))
    return found


def stray_tests(released: Notebook, submitted: Notebook) -> list[StrayTest]:
    """For an exercise graded by the learner's own tests (its released cell defines ``test_*``
    functions), the tests the learner wrote in other cells: they run in their kernel, and
    neither the grader nor the self-check counts them. The course's own cells (as released)
    define some ``test_*`` of their own, which are not the learner's."""
    exercises = [
        name
        for name, text in _released_sources(released).items()
        if any(defined.startswith("test_") for defined in _top_level_names(text))
    ]
    if not exercises:
        return []
    graded = set(_released_sources(released))
    course_own = set().union(
        *(
            _top_level_names(source(cell))
            for cell in released.cells
            if cell.get("cell_type") == "code" and grade_id(cell) not in graded
        )
    )
    found = []
    for number, cell in enumerate(submitted.cells):
        if cell.get("cell_type") != "code" or grade_id(cell) in graded:
            continue
        for name in sorted(_top_level_names(source(cell))):
            if name.startswith("test_") and name not in course_own:
                found += [StrayTest(name, exercise, where(submitted, number)) for exercise in exercises]
    return found


def _parse(source: str) -> ast.Module | None:
    try:
        return parse(source)
    except SyntaxError:  # a cell with IPython magics, or broken: it defines nothing we can see
        return None


def _top_level_names(source: str) -> set[str]:
    """What running ``source`` defines in the notebook's namespace (loops and ifs included)."""
    tree = _parse(source)
    if tree is None:
        return set()
    names: set[str] = set()
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
            continue
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                names.add(child.id)
            elif isinstance(child, (ast.stmt, ast.expr, ast.excepthandler, ast.withitem, ast.comprehension)):
                pending.append(child)
    return names


def _free_names(source: str) -> set[str]:
    """Names ``source`` reads that it never binds anywhere (a rough, generous cut: a name bound
    in any scope of the cell counts as its own)."""
    tree = _parse(source)
    if tree is None:
        return set()
    read: set[str] = set()
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return read - bound
