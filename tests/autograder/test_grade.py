"""Grading a class end to end, bad input included, through the command line."""

from __future__ import annotations

import copy
import csv
import json
import subprocess
import sys

import nbformat
import pytest

from autograder.lessons import find_lesson

LESSON = find_lesson("01")
pytestmark = pytest.mark.slow  # one class, graded through the command line


def solution():
    return nbformat.read(LESSON.solution, as_version=4)


def replace_cell(notebook, grade_id: str, source: str | None):
    changed = copy.deepcopy(notebook)
    for index, cell in enumerate(changed.cells):
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            if source is None:
                del changed.cells[index]
            else:
                cell.source = source
            return changed
    raise AssertionError(grade_id)


def renamed(notebook, grade_id: str):
    changed = copy.deepcopy(notebook)
    for cell in changed.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            cell.metadata.nbgrader.grade_id = grade_id + "_v2"
    return changed


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One class with every kind of bad input, graded once through the CLI."""
    folder = tmp_path_factory.mktemp("class")
    out = tmp_path_factory.mktemp("grades")
    good = solution()
    nbformat.write(good, folder / "good.ipynb")
    (folder / "not_a_notebook.ipynb").write_text("I wrote my answers in here instead")
    (folder / "truncated.ipynb").write_bytes(LESSON.solution.read_bytes()[:5000])
    nbformat.write(replace_cell(good, "json_app", None), folder / "deleted_cell.ipynb")
    nbformat.write(renamed(good, "echo_app"), folder / "renamed_cell.ipynb")
    nbformat.write(replace_cell(good, "websocket_echo", "while True:\n    pass\n"), folder / "endless.ipynb")
    nbformat.write(replace_cell(good, "json_app", "import os\nos._exit(3)\n"), folder / "crash.ipynb")
    nbformat.write(replace_cell(good, "echo_app", "import sys\nsys.exit('bye')\n"), folder / "exits.ipynb")
    helper_outside = replace_cell(
        good, "json_app", "async def json_app(scope, receive, send):\n    await answer(send)\n"
    )
    helper_outside.cells.insert(1, nbformat.v4.new_code_cell("async def answer(send):\n    pass\n"))
    nbformat.write(helper_outside, folder / "helper_outside.ipynb")
    completed = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", str(folder), "--out", str(out), "--gradescope"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    results = {path.stem: json.loads(path.read_text()) for path in out.glob("*.json")}  # not gradescope/*
    return completed, results, out


def score(results, name, exercise=None):
    result = results[name]
    if exercise is None:
        return result["score"], result["max_score"]
    return result["exercises"][exercise]["score"], result["exercises"][exercise]["max_score"]


def test_every_file_gets_a_result_and_a_line(graded):
    completed, results, out = graded
    assert completed.returncode == 0, completed.stderr
    assert len(results) == 9
    assert len([line for line in completed.stdout.splitlines() if line.startswith("[")]) == 9
    assert (out / "grades.csv").exists()


def test_the_honest_submission_gets_full_marks(graded):
    _, results, _ = graded
    got, total = score(results, "good")
    assert got == total > 0
    assert results["good"]["problems"] == []


def test_unreadable_files_score_zero_with_a_clear_message(graded):
    _, results, _ = graded
    for name in ("not_a_notebook", "truncated"):
        result = results[name]
        assert result["score"] == 0 and result["max_score"] == results["good"]["max_score"]
        assert any("is not a notebook the grader can read" in problem for problem in result["problems"])


@pytest.mark.parametrize("name, exercise", [("deleted_cell", "json_app"), ("renamed_cell", "echo_app")])
def test_a_missing_cell_costs_only_its_exercise(graded, name, exercise):
    _, results, _ = graded
    result = results[name]
    assert score(results, name, exercise)[0] == 0
    assert any(f"`{exercise}` is missing" in problem for problem in result["problems"])
    others = {key: value for key, value in result["exercises"].items() if key not in (exercise, "router_app")}
    assert all(value["score"] == value["max_score"] for value in others.values())


def test_an_endless_cell_is_stopped_and_reported(graded):
    _, results, _ = graded
    assert score(results, "endless", "websocket_echo")[0] == 0
    assert any("did not finish" in problem for problem in results["endless"]["problems"])
    assert score(results, "endless", "json_app") == score(results, "good", "json_app")


def test_a_crashing_cell_is_dropped_and_the_rest_still_graded(graded):
    _, results, _ = graded
    assert score(results, "crash", "json_app")[0] == 0
    assert any("ended the process" in problem for problem in results["crash"]["problems"])
    assert score(results, "crash", "websocket_echo") == score(results, "good", "websocket_echo")


def test_sys_exit_in_a_cell_is_an_error_not_the_end(graded):
    _, results, _ = graded
    assert score(results, "exits", "echo_app")[0] == 0
    assert any("SystemExit" in problem for problem in results["exits"]["problems"])
    assert score(results, "exits", "json_app") == score(results, "good", "json_app")


def test_json_documents_have_the_promised_fields(graded):
    _, results, _ = graded
    for result in results.values():
        assert {"score", "max_score", "tests", "exercises", "problems", "cells"} <= set(result)
        for test in result["tests"]:
            assert {"name", "points", "max_points", "passed", "feedback"} <= set(test)
            assert test["passed"] or test["feedback"]


def test_gradebook_has_a_row_per_submission_and_a_column_per_exercise(graded):
    _, results, out = graded
    with (out / "grades.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {row["submission"] for row in rows} == set(results)
    assert {"json_app", "echo_app", "router_app"} <= set(rows[0])
    good = next(row for row in rows if row["submission"] == "good")
    assert float(good["score"]) == results["good"]["score"]


def test_feedback_files_never_contain_hidden_test_source(graded):
    _, _, out = graded
    hidden = [path.read_text() for path in LESSON.suite.glob("test_*.py")]
    hidden_lines = {line.strip() for text in hidden for line in text.splitlines() if len(line.strip()) > 30}
    for path in out.glob("*.feedback.md"):
        text = path.read_text()
        assert not any(line in text for line in hidden_lines if not line.startswith(('"""', '"', "'")))


def test_gradescope_results_match_the_json(graded):
    _, results, out = graded
    for name, result in results.items():
        gradescope = json.loads((out / "gradescope" / name / "results.json").read_text())
        assert gradescope["score"] == result["score"]
        assert len(gradescope["tests"]) == len(result["tests"])
        assert all(test["status"] in ("passed", "failed") for test in gradescope["tests"])


def test_pass_rates_list_every_test_hardest_first(graded):
    _, results, out = graded
    with (out / "pass_rates.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(results["good"]["tests"])
    rates = [float(row["pass_rate"]) for row in rows]
    assert rates == sorted(rates)
    assert all(int(row["graded"]) == len(results) for row in rows)


def test_the_run_ends_with_a_summary(graded):
    completed, _, _ = graded
    assert "graded 9 submission(s)" in completed.stdout
    assert "hardest checks:" in completed.stdout
    assert completed.stdout.splitlines()[0].startswith("isolation: ")


def test_a_helper_outside_the_exercise_cell_is_named_in_the_feedback(graded):
    _, results, out = graded
    assert score(results, "helper_outside", "json_app")[0] == 0
    feedback = (out / "helper_outside.feedback.md").read_text()
    # Described as JupyterLab shows it (which numbers no cells): by its first line and section.
    assert (
        "`answer`, which your `json_app` uses, is defined only in the cell that starts with `async def answer(send):`"
        in feedback
    )
    assert "move it into the `json_app` exercise cell" in feedback


def test_feedback_follows_the_notebook_order(graded):
    _, _, out = graded
    feedback = (out / "good.feedback.md").read_text()
    headings = [line.split("`")[1] for line in feedback.splitlines() if line.startswith("## `")]
    assert headings == [
        "json_app",
        "echo_app",
        "router_app",
        "request_id_middleware",
        "make_lifespan_app",
        "websocket_echo",
    ]


def test_one_exercise_alone_stops_at_its_first_failure_unless_asked_for_every_test(tmp_path):
    """``grade_all(..., only=...)``: an exercise id alone stops at the exercise's first failed
    test (a mutant's question: is anything caught?); ``Only(exercise, first_failure=False)``
    runs every test of it, for a score and feedback like a full grading's, and no other."""
    from autograder.grade import grade_all
    from autograder.suite import NOT_RUN
    from autograder.types import Only

    untouched = nbformat.read(LESSON.release, as_version=4)
    stopping, every = tmp_path / "stopping.ipynb", tmp_path / "every.ipynb"
    for path in (stopping, every):
        nbformat.write(untouched, path)
    results = {
        result.submission: result
        for result in grade_all(
            [stopping, every], lesson=LESSON, only={stopping: "echo_app", every: Only("echo_app", first_failure=False)}
        )
    }
    for result in results.values():
        assert {test.exercise for test in result.tests} == {"echo_app"} and result.score == 0
    ran = {name: [test.feedback != NOT_RUN for test in result.tests] for name, result in results.items()}
    assert ran["stopping"].count(True) == 1 and len(ran["stopping"]) > 1
    assert all(ran["every"]) and len(ran["every"]) == len(ran["stopping"])
