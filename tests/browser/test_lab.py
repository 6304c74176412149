"""Every lesson as a learner sees it: JupyterLab started as the README says, in headless Chromium.

For each lesson in ``course.toml`` (new lessons are covered as they are listed), the untouched
learner notebook and the solution notebook are opened in the learner's Lab, the learner notebook
run with Run > Run All Cells, as a learner would (the solution too with
``COURSE_BROWSER_SOLUTIONS=1``; otherwise the lesson tests check what a learner sees of it in
its headless run), and the test checks what a learner would see: the
untouched lesson and the solution open unmodified (closing them asks nothing), no cell shows
an error or writes to stderr unless the markdown just before it says so (a cell tagged
``announced-stderr``), the recap's last cell ran and counts the exercises right (0 passing
untouched, all for the solution), the hints open, plots are images, and the browser logged no
error. Then the start page shows that progress, and the instructor's Lab (``--instructor``)
has formgrader working and no Validate button. Screenshots of each run, and the Labs' logs, are kept under
``artifacts/browser/``.

Each notebook runs once per test session (``tests/notebook_runs.py``): the lesson tests read the
same runs (run time, errors, self-checks), and here is what the page showed. As root, the Lab,
its kernels and Chromium run in a network namespace with only loopback: the runs are offline.

Skipped, with the reason, where there is no Chromium (``apt-get install chromium``); in CI
(``COURSE_REQUIRE_BROWSER=1``, set by ``.ci/run``) a missing browser fails it instead.
Measured on the 2-core machine under a load of 7 to 20: 15 to 16 min for six lessons, 113-197 s a
lesson (Run All: 15-52 s learner, 40-94 s solution; the rest is opening, kernels, saving).
"""

from __future__ import annotations

import json

import pytest

from autograder.lessons import ROOT, Lesson, all_lessons
from coursekit.progress import exercise_ids
from tests.browser.chromium import browser_required, missing_browser
from tests.browser.lab import TOKEN, copy_course, lab_server
from tests.browser.session import ARTIFACTS, Session
from tests.notebook_runs import BROWSER_SOLUTIONS, Run
from tests.run_checks import image_outputs, recap_summary, red_blocks

MISSING = missing_browser()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(MISSING) and not browser_required(), reason=f"browser test skipped: {MISSING}"),
]


@pytest.fixture(scope="session")
def lab(notebook_runs) -> Session:
    """The learner's Lab (``python3 course.py lab``) on a copy of the course, and a browser:
    the one the lesson runs use (``notebook_runs``)."""
    if MISSING:  # only where the browser is required (CI): elsewhere the module is skipped
        pytest.fail(f"the browser test must run here (COURSE_REQUIRE_BROWSER=1), but: {MISSING}")
    return notebook_runs.lab()


def check_run(run: Run, exercises: int, passing: int) -> None:
    """What a learner saw of a notebook run top to bottom, then saved."""
    unannounced = red_blocks(run.notebook)
    assert not unannounced, "red blocks no text announces (tag the cell announced-stderr once it does):\n" + "\n".join(
        unannounced
    )
    summary = recap_summary(run.notebook)
    assert f"{passing} of {exercises} exercises pass their visible checks" in summary, summary
    images, text_only = image_outputs(run.notebook)
    assert text_only == [], "figures shown as text, not images"
    assert run.seen["images_on_page"] == images
    assert run.seen["images_load"], "an image in an output did not load"
    assert run.seen["hints_open"], "a hint did not open"
    assert run.seen["console_errors"] == [], "the browser logged errors"
    assert not run.seen["asked_on_close"], "closing the saved notebook asked about unsaved changes"


LESSONS = all_lessons()


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.slug for lesson in LESSONS])
def test_lesson_in_the_learners_lab(lab, notebook_runs, lesson: Lesson, record_property):
    count = len(exercise_ids(json.loads(lesson.release.read_text(encoding="utf-8"))))
    runs = notebook_runs(lesson)
    # Both open unmodified: the learner opens the lesson, the instructor the solution too.
    for which, what in (("learner", "the untouched lesson"), ("solution", "the solution notebook")):
        opened = runs.opened[which]
        assert not opened["dirty"], f"{what} is marked modified as soon as it opens"
        assert opened["nbgrader_menu"] == 0, "nbgrader's instructor menu shows in the learner's Lab"
        assert opened["validate_button"] == 0, "nbgrader's Validate shows"
        assert not opened["asked_on_close"], f"closing {what} asked about unsaved changes"
    check_run(runs.learner, count, passing=0)
    if BROWSER_SOLUTIONS:
        check_run(runs.solution, count, passing=count)
    solution_seconds = round(runs.solution.seconds, 1) if BROWSER_SOLUTIONS else None
    record_property("seconds", {"learner": round(runs.learner.seconds, 1), "solution": solution_seconds})
    print(f"{lesson.slug}: Run All took {runs.learner.seconds:.1f} s (learner), {solution_seconds} s (solution)")


def test_the_start_page_shows_the_progress_of_the_lessons_run_above(lab):
    """After the runs above (each untouched lesson: every exercise "not solved yet"), the start
    page opens unmodified and its progress table says so, lesson by lesson."""
    start = "notebooks/START.ipynb"
    lab.open(start)
    try:
        assert not lab.dirty(), "the start page is marked modified as soon as it opens"
        lab.console_errors.clear()
        lab.run_all()
        lab.save()
        lab.screenshot("START")
        notebook = json.loads((lab.course / start).read_text(encoding="utf-8"))
        assert red_blocks(notebook) == []
        shown = "".join(
            output.get("text", "") + "".join(output.get("data", {}).get("text/plain", ""))
            for cell in notebook["cells"]
            if cell["cell_type"] == "code"
            for output in cell.get("outputs", [])
        )
        for lesson in LESSONS:
            exercises = exercise_ids(json.loads(lesson.release.read_text(encoding="utf-8")))
            assert f"{lesson.slug}: 0 of {len(exercises)} pass their self-checks" in shown, shown
            state = "not solved yet" if lesson.slug in lab.untouched_ran else "not run yet"
            for exercise in exercises:
                assert f"{exercise} {state}" in shown, (exercise, state, shown)
        assert lab.console_errors == [], "the browser logged errors"
        assert not lab.close_tab()
    finally:
        lab.shut_down_kernels()


def test_the_instructors_lab_has_a_working_formgrader_and_no_validate_button(lab, tmp_path):
    """``python3 course.py lab --instructor``: nbgrader's menu, and formgrader lists the lessons
    (it hung on "Loading, please wait" when `alembic` was not on PATH); no Validate button.
    (The same browser as the learner's Lab: Playwright's sync API runs one at a time; so, where
    that Lab is offline, this one runs in its network namespace, all the browser reaches.)"""
    course = copy_course(tmp_path / "course")
    log = ARTIFACTS / "instructor-lab.log"
    with lab_server(course, log, "--instructor", beside=lab.lab) as running:
        instructor = Session(running, course, lab.context)
        base = running.base
        try:
            instructor.open(all_lessons()[0].release.relative_to(ROOT).as_posix())
            assert instructor.page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").count() == 1
            assert instructor.page.locator(".jp-Toolbar-item", has_text="Validate").count() == 0
            instructor.page.goto(f"{base}/formgrader?token={TOKEN}")
            instructor.page.wait_for_selector(f"text={all_lessons()[0].slug}", timeout=90_000)
            assert instructor.page.locator("text=Loading, please wait").count() == 0
            instructor.screenshot("instructor-formgrader")
            assert instructor.console_errors == [], "the browser logged errors"
        finally:
            instructor.shut_down_kernels()
            instructor.page.close()
    assert "Traceback" not in log.read_text(), "the server logged an error"
