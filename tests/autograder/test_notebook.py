"""Reading submissions: only well-formed notebooks, and only their exercise cells."""

import json

import pytest

from autograder import notebook
from autograder.errors import NotANotebook
from autograder.lessons import find_lesson

LESSON = find_lesson("01")


@pytest.mark.parametrize("content, reason", [
    (b"\x89PNG\r\n", "not valid JSON"),
    (b"[]", "no list of cells"),
    (json.dumps({"cells": [], "nbformat": 3}).encode(), "notebook format 3"),
    (json.dumps({"cells": ["text"], "nbformat": 4}).encode(), "a cell is not an object"),
])
def test_what_is_not_a_notebook_is_told_plainly(tmp_path, content, reason):
    path = tmp_path / "submission.ipynb"
    path.write_bytes(content)
    with pytest.raises(NotANotebook, match=reason):
        notebook.read(path)


def test_setup_comes_from_the_release_and_exercises_from_the_submission(tmp_path):
    released = notebook.read(LESSON.release)
    submitted = notebook.read(LESSON.release)
    for cell in submitted.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade_id") == "setup_imports":
            cell["source"] = "import os; os.system('echo changed setup')"
        if meta.get("grade_id") == "json_app":
            cell["source"] = "json_app = 'mine'"
    cells, missing = notebook.program(released, submitted)
    by_id = {cell.id: cell for cell in cells}
    assert "changed setup" not in by_id["setup_imports"].source
    assert by_id["json_app"].source == "json_app = 'mine'"
    assert missing == []


def test_odd_metadata_and_sources_do_not_break_reading():
    odd = notebook.Notebook({"nbformat": 4, "cells": [
        {"cell_type": "code", "metadata": [], "source": "x = 1"},
        {"cell_type": "code", "metadata": {"nbgrader": {"solution": True, "grade_id": "json_app"}}, "source": ["a", 1, "b"]},
    ]})
    assert notebook.exercise_ids(odd) == ["json_app"]
    cells, _ = notebook.program(notebook.read(LESSON.release), odd)
    assert next(cell for cell in cells if cell.id == "json_app").source == "ab"
