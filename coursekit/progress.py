"""Where a learner stands, and starting one exercise again.

Every self-check (``coursekit.checks``) records its latest result in ``.course-progress.json``
in the folder its kernel runs in, which in Jupyter is the lesson's own folder. The start page
(``notebooks/START.ipynb``) shows them lesson by lesson with ``show()``; ``show(refresh=True)``
first runs each lesson's setup, exercise and self-check cells again, headless, so the table
says what the notebooks on disk do now, not what they did when last run.

``reset(lesson, exercise)`` puts one exercise cell back as it was released: the release keeps
each exercise cell's released source in its metadata (``autograder.release``), so this needs
nothing but the learner's own notebook.
"""

from __future__ import annotations

import ast
import html
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coursekit.display import SYMBOLS, WORDS, Shown, display

if TYPE_CHECKING:
    from nbformat import NotebookNode

# A notebook, a cell, the progress file: JSON objects as json.loads gives them.
JSON = dict[str, Any]

PROGRESS_FILE = ".course-progress.json"
NOT_RUN = "·"  # an exercise whose self-check has not run yet


def record(exercise: str, status: str, folder: Path | None = None) -> None:
    """Keep ``exercise``'s latest self-check result; never fails the check that called it."""
    path = Path(folder or os.getcwd()) / PROGRESS_FILE
    progress = _read(path)
    progress[exercise] = {"status": status, "at": time.strftime("%Y-%m-%d %H:%M:%S")}
    try:
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(progress, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        temporary.replace(path)
    except OSError:
        pass  # a read-only folder: the check still shows its result, it is just not kept


def _read(path: Path) -> JSON:
    try:
        progress = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return progress if isinstance(progress, dict) else {}


@dataclass(frozen=True)
class LessonProgress:
    slug: str
    notebook: Path
    exercises: list[str]
    statuses: dict[str, str]  # exercise -> "pass" | "todo" | "fail"; absent: not run yet

    @property
    def passed(self) -> int:
        return sum(self.statuses.get(exercise) == "pass" for exercise in self.exercises)


def notebooks_folder(start: Path | None = None) -> Path:
    """The folder holding the lessons: the start page's, or the parent of a lesson's."""
    here = Path(start or os.getcwd()).resolve()
    return here if any(here.glob("[0-9][0-9]_*/*.ipynb")) else here.parent


def lessons(root: Path | None = None) -> list[LessonProgress]:
    found = []
    for folder in sorted(notebooks_folder(root).glob("[0-9][0-9]_*")):
        notebook = folder / f"{folder.name}.ipynb"
        if notebook.exists():
            progress = _read(folder / PROGRESS_FILE)
            exercises = exercise_ids(json.loads(notebook.read_text(encoding="utf-8")))
            statuses = {name: progress[name]["status"] for name in exercises if isinstance(progress.get(name), dict)}
            found.append(LessonProgress(folder.name, notebook, exercises, statuses))
    return found


def _nbgrader(cell: JSON) -> JSON:
    metadata: JSON = cell.get("metadata", {}).get("nbgrader", {})
    return metadata


def exercise_ids(notebook: JSON) -> list[str]:
    return [
        _nbgrader(cell)["grade_id"]
        for cell in notebook["cells"]
        if cell.get("cell_type") == "code" and _nbgrader(cell).get("solution") and _nbgrader(cell).get("grade_id")
    ]


def show(refresh: bool = False, root: Path | None = None) -> list[LessonProgress]:
    """Show, lesson by lesson, which exercises pass their self-checks; return them (a list
    that the start page's cell does not display a second time)."""
    if refresh:
        for lesson in lessons(root):
            rerun(lesson)
    found = lessons(root)
    display(_text(found), _html(found))
    return Shown(found)


NOT_RUN_WORDS = "not run yet"


def _symbol(lesson: LessonProgress, exercise: str) -> str:
    status = lesson.statuses.get(exercise)
    return f"{SYMBOLS[status] if status else NOT_RUN} {exercise} {WORDS[status] if status else NOT_RUN_WORDS}"


def _text(found: list[LessonProgress]) -> str:
    lines = [
        f"{lesson.slug}: {lesson.passed} of {len(lesson.exercises)} pass their self-checks  "
        + ";  ".join(_symbol(lesson, name) for name in lesson.exercises)
        for lesson in found
    ]
    return "\n".join([*lines, _LEGEND])


_LEGEND = '"passes": its visible self-check passes; the grader\'s hidden tests check more.'


def _html(found: list[LessonProgress]) -> str:
    rows = "".join(
        f"<tr><td><code>{html.escape(lesson.slug)}</code></td><td>{lesson.passed} / {len(lesson.exercises)}</td>"
        f'<td style="text-align:left">'
        + "<br>".join(html.escape(_symbol(lesson, name)) for name in lesson.exercises)
        + "</td></tr>"
        for lesson in found
    )
    return (
        f"<table><thead><tr><th>lesson</th><th>self-checks passing</th><th>exercises</th></tr></thead>"
        f"<tbody>{rows}</tbody></table><p>{html.escape(_LEGEND)}</p>"
    )


def rerun(lesson: LessonProgress, timeout: float = 60.0) -> None:
    """Run the lesson's setup, exercise and self-check cells, in order, in a fresh kernel in
    the lesson's folder: its self-checks record what the notebook on disk does now."""
    import nbclient
    import nbformat

    notebook = nbformat.read(lesson.notebook, as_version=4)
    notebook.cells = refresh_cells(notebook.cells)
    client = nbclient.NotebookClient(
        notebook,
        timeout=timeout,
        allow_errors=True,
        kernel_name="python3",
        resources={"metadata": {"path": str(lesson.notebook.parent)}},
    )
    client.execute()


def refresh_cells(cells: list[NotebookNode]) -> list[NotebookNode]:
    """The cells a refresh runs, in order: the code cells before the first exercise (imports,
    the notebook's preamble), then the ones that count and those that only define (helpers a
    self-check may use). Demos and measurements are what makes a lesson take a minute, and
    they are left out."""
    code = [cell for cell in cells if cell.cell_type == "code"]
    first = next((number for number, cell in enumerate(code) if _nbgrader(cell).get("solution")), len(code))
    return code[:first] + [cell for cell in code[first:] if _counts(cell) or _only_defines(cell.source)]


def _counts(cell: JSON) -> bool:
    grade_id = _nbgrader(cell).get("grade_id", "")
    return bool(_nbgrader(cell).get("solution")) or grade_id.startswith(("setup", "check_"))


def _only_defines(source: str) -> bool:
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    return bool(body) and all(_a_definition(node) for node in body)


def _a_definition(node: ast.stmt) -> bool:
    """A def, class or import; a docstring; or a name bound to a value that calls nothing."""
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    if isinstance(node, ast.Expr):
        return isinstance(node.value, ast.Constant)
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
        return not any(isinstance(inner, (ast.Call, ast.Await)) for inner in ast.walk(node.value))
    return False


class ResetError(Exception):
    """Why an exercise cannot be put back; the message says what to do instead."""


def reset(lesson: str, exercise: str, root: Path | None = None) -> None:
    """Put ``exercise`` of ``lesson`` (slug or number) back as released; nothing else changes."""
    matches = [each for each in lessons(root) if lesson in (each.slug, each.slug[:2])]
    if not matches:
        raise ResetError(
            f"no lesson {lesson!r} here; the lessons are: {', '.join(each.slug for each in lessons(root))}"
        )
    path = matches[0].notebook
    notebook = json.loads(path.read_text(encoding="utf-8"))
    cells = [
        cell
        for cell in notebook["cells"]
        if _nbgrader(cell).get("grade_id") == exercise and _nbgrader(cell).get("solution")
    ]
    if not cells:
        raise ResetError(
            f"{path.name} has no exercise {exercise!r}; its exercises are: {', '.join(exercise_ids(notebook))}"
        )
    released = cells[0].get("metadata", {}).get("course", {}).get("released")
    if released is None:
        raise ResetError(
            f"this copy of {path.name} does not know how {exercise!r} was released (it predates "
            "`reset`): copy the cell from a fresh copy of the course instead"
        )
    cells[0]["source"] = released
    cells[0]["outputs"], cells[0]["execution_count"] = [], None
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    progress_path = path.parent / PROGRESS_FILE
    progress = _read(progress_path)
    if progress.pop(exercise, None) is not None:
        progress_path.write_text(json.dumps(progress, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(
        f"{exercise} in {path.name} is back as released. If the notebook is open, reload it from disk "
        "(File > Reload Notebook from Disk) before you save it, or your open copy will overwrite this."
    )
