"""Reading notebooks, and choosing the cells the grader runs.

A submission is untrusted, so only two things are taken from it: the source of its exercise
cells, found by their nbgrader ``grade_id``, and nothing else. Setup cells, which are locked,
come from the released notebook, so editing them cannot change what the exercises are graded
against (nbgrader's ``OverwriteCells`` does the same).
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import NotANotebook
from .types import Cell

MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024


class Notebook(dict):
    """A notebook as plain JSON data. Grading reads only cells, their sources and metadata;
    plain ``json`` does that without nbformat's import (seconds: it compiles JSON-schema
    grammars), which every grading run would otherwise pay."""

    @property
    def cells(self) -> list[dict]:
        return self["cells"]


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
        raise NotANotebook(str(path), f"it is in notebook format {document.get('nbformat')!r}, not 4; "
                                      "open it in a current Jupyter and save it again")
    if not all(isinstance(cell, dict) for cell in document["cells"]):
        raise NotANotebook(str(path), "its structure is broken: a cell is not an object")
    return Notebook(document)


def _grading_meta(cell) -> dict:
    metadata = cell.get("metadata")
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return meta if isinstance(meta, dict) else {}


def source(cell) -> str:
    source = cell.get("source", "")
    return "".join(part for part in source if isinstance(part, str)) if isinstance(source, list) else str(source)


def grade_id(cell) -> str:
    return _grading_meta(cell).get("grade_id", "")


def exercise_ids(notebook) -> list[str]:
    """The grade_ids of the solution code cells, in notebook order."""
    return [
        _grading_meta(cell)["grade_id"] for cell in notebook.cells
        if cell.get("cell_type") == "code" and _grading_meta(cell).get("solution") and _grading_meta(cell).get("grade_id")
    ]


def program(released, submitted) -> tuple[list[Cell], list[str]]:
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
