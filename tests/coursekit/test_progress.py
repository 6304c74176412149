"""The learner's progress table, and putting one exercise back as released."""

from __future__ import annotations

import json
import shutil

import pytest

from autograder.lessons import find_lesson
from coursekit import progress

LESSON = find_lesson("01")


@pytest.fixture
def notebooks(tmp_path):
    """A learner's notebooks folder with lesson 01, untouched."""
    folder = tmp_path / "notebooks" / LESSON.slug
    folder.mkdir(parents=True)
    shutil.copy(LESSON.release, folder)
    return tmp_path / "notebooks"


def test_a_check_result_is_kept_beside_its_lesson(notebooks):
    folder = notebooks / LESSON.slug
    progress.record("json_app", "pass", folder)
    progress.record("echo_app", "fail", folder)
    progress.record("json_app", "todo", folder)  # the latest result wins
    [lesson] = progress.lessons(notebooks)
    assert lesson.exercises[:3] == ["json_app", "echo_app", "router_app"]
    assert lesson.statuses == {"json_app": "todo", "echo_app": "fail"}
    assert lesson.passed == 0
    assert progress.lessons(folder) == progress.lessons(notebooks)  # from a lesson's folder too


def test_the_table_says_what_has_not_run_yet(notebooks, capsys):
    progress.record("json_app", "pass", notebooks / LESSON.slug)
    progress.show(root=notebooks)
    shown = capsys.readouterr().out
    assert f"{LESSON.slug}: 1 of 6 pass their self-checks" in shown
    assert "✅ json_app passes" in shown and f"{progress.NOT_RUN} echo_app not run yet" in shown


def test_the_start_pages_cells_show_only_the_table_and_the_reset_cell_runs_first(tmp_path):
    """START.ipynb's progress cell ends with `progress.show()`: its return value must not be
    displayed again (a list of LessonProgress, absolute paths and all); its reset cell, run
    before the cell above it, must not fail."""
    from jupyter_client.manager import start_new_kernel

    from autograder import manifest

    start = json.loads(manifest.start_notebook_text())
    cells = {cell["id"]: "".join(cell["source"]) for cell in start["cells"]}
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    try:
        outputs = {}
        for cell in ("reset", "progress"):  # the reset cell first, as a learner may
            shown = []
            reply = client.execute_interactive(cells[cell], timeout=60, output_hook=shown.append)
            assert reply["content"]["status"] == "ok", (cell, reply["content"])
            outputs[cell] = [message["msg_type"] for message in shown]
        assert "execute_result" not in outputs["progress"], "show()'s return value was displayed again"
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def exercise_cell(path, exercise):
    notebook = json.loads(path.read_text())
    return next(
        cell for cell in notebook["cells"] if cell["metadata"].get("nbgrader", {}).get("grade_id") == exercise
    ), notebook


def test_reset_puts_back_one_exercise_and_nothing_else(notebooks, capsys):
    path = notebooks / LESSON.slug / f"{LESSON.slug}.ipynb"
    released, _ = exercise_cell(path, "router_app")
    notebook = json.loads(path.read_text())
    for cell in notebook["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") in ("router_app", "json_app"):
            cell["source"] = "# my attempt\n" + "".join(cell["source"])
    path.write_text(json.dumps(notebook))
    progress.record("router_app", "fail", path.parent)
    progress.record("json_app", "pass", path.parent)

    progress.reset("01", "router_app", root=notebooks)

    router, after = exercise_cell(path, "router_app")
    json_app, _ = exercise_cell(path, "json_app")
    assert router["source"] == "".join(released["source"]) == router["metadata"]["course"]["released"]
    assert json_app["source"].startswith("# my attempt")  # the other exercises are left alone
    assert len(after["cells"]) == len(notebook["cells"])
    assert progress.lessons(notebooks)[0].statuses == {"json_app": "pass"}
    assert "Reload Notebook from Disk" in capsys.readouterr().out


def test_reset_explains_what_it_cannot_do(notebooks):
    with pytest.raises(progress.ResetError, match="the lessons are: 01_asgi_by_hand"):
        progress.reset("09", "router_app", root=notebooks)
    with pytest.raises(progress.ResetError, match="its exercises are: json_app, echo_app"):
        progress.reset("01", "routr_app", root=notebooks)
