"""Reading submissions: only well-formed notebooks, and only their exercise cells."""

import json

import pytest

from autograder import notebook
from autograder.errors import NotANotebook
from autograder.lessons import find_lesson

LESSON = find_lesson("01")


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"\x89PNG\r\n", "not valid JSON"),
        (b"[]", "no list of cells"),
        (json.dumps({"cells": [], "nbformat": 3}).encode(), "notebook format 3"),
        (json.dumps({"cells": ["text"], "nbformat": 4}).encode(), "a cell is not an object"),
    ],
)
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
    odd = notebook.Notebook(
        {
            "nbformat": 4,
            "cells": [
                {"cell_type": "code", "metadata": [], "source": "x = 1"},
                {
                    "cell_type": "code",
                    "metadata": {"nbgrader": {"solution": True, "grade_id": "json_app"}},
                    "source": ["a", 1, "b"],
                },
            ],
        }
    )
    assert notebook.exercise_ids(odd) == ["json_app"]
    cells, _ = notebook.program(notebook.read(LESSON.release), odd)
    assert next(cell for cell in cells if cell.id == "json_app").source == "ab"


def with_helper_outside(helper: str, uses: str) -> notebook.Notebook:
    """The released lesson with router_app using a helper written in a cell of its own."""
    submitted = notebook.read(LESSON.release)
    for cell in submitted.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "router_app":
            cell["source"] = f"async def router_app(scope, receive, send):\n    await {uses}(send, 200, {{}})\n"
    submitted.cells.insert(
        5, {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": helper}
    )
    return submitted


def test_a_helper_written_outside_the_exercise_cell_is_named():
    released = notebook.read(LESSON.release)
    submitted = with_helper_outside("import json\nasync def send_json(send, status, body):\n    pass\n", "send_json")
    [stray] = notebook.stray_definitions(released, submitted)
    assert (stray.name, stray.exercise) == ("send_json", "router_app")
    # JupyterLab numbers no cells: the cell is named by its first line of code and its section
    assert stray.cell.startswith('the cell that starts with `import json` (under "')
    assert "move it into the `router_app` exercise cell" in stray.message()


def test_a_name_the_released_exercise_cell_already_uses_is_not_the_learners_stray():
    """Lesson 07's api_client, untouched: its starter code yields `client` and `recorder`, which
    the part the learner writes binds; a demo cell's `client` is no helper of the learner's."""
    lesson = find_lesson("07_testing")
    released = notebook.read(lesson.release)
    assert notebook.stray_definitions(released, released) == []


def test_a_learners_test_outside_the_exercise_cell_is_named():
    lesson = find_lesson("07_testing")
    released = notebook.read(lesson.release)
    submitted = notebook.read(lesson.release)
    submitted.cells.append(
        {
            "cell_type": "code",
            "metadata": {},
            "outputs": [],
            "execution_count": None,
            "source": "async def test_my_extra(client):\n    assert True\n",
        }
    )
    [stray] = notebook.stray_tests(released, submitted)
    assert (stray.name, stray.exercise) == ("test_my_extra", "invoice_tests")
    assert "only the tests in that cell are run" in stray.message()
    assert notebook.stray_tests(released, released) == []  # the lesson's own demo tests are not the learner's


def test_names_from_setup_builtins_or_the_cell_itself_are_not_strays():
    released = notebook.read(LESSON.release)
    # `json` comes from the setup cell, `len` is a builtin, `status` a parameter: none is a stray,
    # even though the extra cell defines them too.
    submitted = with_helper_outside("json = None\nlen = None\nstatus = 1\n", "json.dumps")
    assert notebook.stray_definitions(released, submitted) == []
    assert notebook.stray_definitions(released, notebook.read(LESSON.solution)) == []
