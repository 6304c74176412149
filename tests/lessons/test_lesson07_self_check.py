"""Lesson 07's `invoice_tests` self-check runs the tests the exercise cell defines, as the grader
does, and says which others it leaves out: a test written in another cell, or the stub a
renamed test left behind in the kernel."""

from __future__ import annotations

import nbclient
import nbformat
import pytest

from autograder.lessons import find_lesson

LESSON = find_lesson("07_testing")


def grade_id(cell) -> str:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")


@pytest.mark.slow
def test_the_self_check_counts_only_the_exercise_cells_tests_and_names_the_others(tmp_path):
    solution = nbformat.read(LESSON.solution, as_version=4)
    cells = {grade_id(cell): cell.source for cell in solution.cells if grade_id(cell)}
    # What a learner does: run the cell as released (its stubs), then rename a test and run it
    # again, write one more test in a cell of its own, and run the self-check.
    released = nbformat.read(LESSON.release, as_version=4)
    stubs = next(cell.source for cell in released.cells if grade_id(cell) == "invoice_tests")
    renamed = cells["invoice_tests"].replace("async def test_creating(", "async def test_totals(")
    sources = [source for name, source in cells.items() if name.startswith("setup")]
    sources += [stubs, renamed, "async def test_elsewhere(client):\n    assert True\n", cells["check_invoice_tests"]]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])
    client = nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    shown = "".join(
        output.get("text", "") + output.get("data", {}).get("text/plain", "") for output in notebook.cells[-1].outputs
    )
    assert "✅ invoice_tests" in shown, shown
    assert "Not counted" in shown and "test_creating" in shown and "test_elsewhere" in shown, shown
    assert "test_totals" not in shown.split("Not counted")[1].split("\n")[0]
