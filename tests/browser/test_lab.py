"""Every lesson as a learner sees it: JupyterLab started as the README says, in headless Chromium.

For each lesson in ``course.toml`` (new lessons are covered as they are listed), the untouched
learner notebook and the solution notebook are opened in the learner's Lab and run with
Run > Run All Cells, as a learner would, and the test checks what a learner would see: the
untouched lesson and the solution open unmodified (closing them asks nothing), no cell shows
an error or writes to stderr unless the markdown just before it says so (a cell tagged
``announced-stderr``), the recap's last cell ran and counts the exercises right (0 passing
untouched, all for the solution), the hints open, plots are images, and the browser logged no
error. Then the start page shows that progress, and the instructor's Lab (``--instructor``)
has formgrader working and no Validate button. Screenshots of each run, and the Labs' logs, are kept under
``artifacts/browser/``.

Skipped, with the reason, where there is no Chromium (``apt-get install chromium``); in CI
(``COURSE_REQUIRE_BROWSER=1``, set by ``.ci/run``) a missing browser fails it instead.
Measured on the 2-core machine under a load of 7 to 20: 15 to 16 min for six lessons, 113-197 s a
lesson (Run All: 15-52 s learner, 40-94 s solution; the rest is opening, kernels, saving).
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from pathlib import Path

import pytest

from autograder.lessons import ROOT, Lesson, all_lessons
from coursekit.progress import exercise_ids

from tests.browser.chromium import browser_required, missing_browser
from tests.browser.lab import TOKEN, chromium, copy_course, running_lab

MISSING = missing_browser()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(MISSING) and not browser_required(),
                                                   reason=f"browser test skipped: {MISSING}")]

ARTIFACTS = ROOT / "artifacts" / "browser"
RUN_ALL_SECONDS = 240  # a lesson runs in about a minute on a quiet machine; four times that on a busy one
ANNOUNCED = "announced-stderr"  # a cell whose stderr the text before it announces
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"  # the one in the current tab
# The solution runs take about two thirds of this test's time; COURSE_BROWSER_SOLUTIONS=0 leaves
# them out (the headless lesson tests run every solution notebook anyway).
RUN_SOLUTIONS = os.environ.get("COURSE_BROWSER_SOLUTIONS", "1") != "0"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The learner's Lab (``python3 course.py lab``) on a copy of the course, and a browser."""
    if MISSING:  # only where the browser is required (CI): elsewhere the module is skipped
        pytest.fail(f"the browser test must run here (COURSE_REQUIRE_BROWSER=1), but: {MISSING}")
    folder = tmp_path_factory.mktemp("browser")
    course = copy_course(folder / "course")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with running_lab(course, ARTIFACTS / "lab.log") as base, chromium(folder / "profile") as context:
        yield Session(base, course, context)


class Session:
    def __init__(self, base: str, course: Path, context):
        self.base, self.course, self.context = base, course, context
        self.page = context.new_page()
        self.console_errors: list[str] = []
        self.untouched_ran: set[str] = set()  # lessons whose untouched learner notebook ran here
        self.page.on("console", lambda message: message.type == "error" and self.console_errors.append(message.text))
        self.page.on("pageerror", lambda error: self.console_errors.append(str(error)))

    def open(self, relative: str) -> None:
        # ?reset: a new workspace, so the notebooks of earlier steps are not opened again
        self.page.goto(f"{self.base}/lab/tree/{relative}?reset&token={TOKEN}")
        self.page.wait_for_selector(f"{NOTEBOOK} .jp-Cell", timeout=60_000)
        self.page.wait_for_selector("text=| Idle", timeout=120_000)  # the status bar: kernel started
        self.page.wait_for_timeout(1500)  # Lab writes the kernel's metadata just after it starts

    def dirty(self) -> bool:
        return self.page.locator(".lm-TabBar-tab.lm-mod-current.jp-mod-dirty").count() > 0

    def close_tab(self) -> bool:
        """Close the notebook's tab; return whether Lab asked about unsaved changes."""
        self.page.locator(".lm-TabBar-tab.lm-mod-current .lm-TabBar-tabCloseIcon").first.click()
        try:
            self.page.wait_for_selector(".jp-Dialog", timeout=2000)
        except Exception:  # noqa: BLE001 (Playwright's timeout: no dialog, as hoped)
            return False
        self.page.keyboard.press("Escape")
        return True

    def menu(self, menu: str, item: str) -> None:
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{menu}$")).click()
        self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{item}$")).first.click()

    def run_all(self) -> float:
        started = time.monotonic()
        self.page.locator(NOTEBOOK).first.click(position={"x": 5, "y": 5})
        self.menu("Run", "Run All Cells")
        prompts = self.page.locator(f"{NOTEBOOK} .jp-Cell.jp-CodeCell .jp-InputPrompt")
        deadline = started + RUN_ALL_SECONDS
        while time.monotonic() < deadline:
            texts = prompts.all_inner_texts()
            if texts and not any("*" in text for text in texts) and re.search(r"\d", texts[-1]):
                return time.monotonic() - started
            self.page.wait_for_timeout(500)
        raise AssertionError(f"Run All did not reach the last cell within {RUN_ALL_SECONDS} s")

    def save(self) -> None:
        self.menu("File", "Save Notebook")
        self.page.wait_for_function("!document.querySelector('.lm-TabBar-tab.lm-mod-current.jp-mod-dirty')",
                                    timeout=30_000)

    def shut_down_kernels(self) -> None:
        with urllib.request.urlopen(f"{self.base}/api/kernels?token={TOKEN}") as answer:
            kernels = json.load(answer)
        for kernel in kernels:
            request = urllib.request.Request(f"{self.base}/api/kernels/{kernel['id']}?token={TOKEN}", method="DELETE")
            urllib.request.urlopen(request).close()

    def screenshot(self, name: str) -> None:
        self.page.screenshot(path=ARTIFACTS / f"{name}.png")


def red_blocks(notebook: dict) -> list[str]:
    """Errors and stderr a learner would see in red, from cells not tagged as announcing them."""
    found = []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code" or ANNOUNCED in cell.get("metadata", {}).get("tags", []):
            continue
        for output in cell.get("outputs", []):
            if output["output_type"] == "error":
                found.append(f"cell {index} ({cell.get('id')}): {output['ename']}: {output['evalue']}")
            elif output["output_type"] == "stream" and output["name"] == "stderr":
                text = "".join(output["text"])
                found.append(f"cell {index} ({cell.get('id')}) stderr: {text[:300]}")
    return found


def printed(cell: dict) -> str:
    return "\n".join("".join(output.get("text", "")) + "".join(output.get("data", {}).get("text/plain", ""))
                     for output in cell.get("outputs", []))


def recap_summary(notebook: dict) -> str:
    """What the recap (the last ``report()`` cell) printed. A learner's notebook ends with the
    release's "hand it in" cell after it, which must say calmly that no server is configured."""
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    recap = max(i for i, cell in enumerate(code) if "".join(cell["source"]).strip() == "report()")
    after = code[recap + 1:]
    assert all("No grading server is configured" in printed(cell) for cell in after), \
        "after the recap, only the hand-in cell, saying that no grading server is configured"
    return printed(code[recap])


def image_outputs(notebook: dict) -> tuple[int, list[str]]:
    """How many outputs are PNG images, and which figures came out as text only."""
    images, text_only = 0, []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                images += 1
            elif "<Figure size" in "".join(data.get("text/plain", "")):
                text_only.append(cell.get("id"))
    return images, text_only


def hints_open(lab: Session) -> bool:
    hints = lab.page.locator(f"{NOTEBOOK} details")
    if hints.count() == 0:
        return True
    first = hints.first
    first.scroll_into_view_if_needed()
    first.locator("summary").click()
    return first.evaluate("element => element.open")


def visible_images_load(lab: Session) -> bool:
    return lab.page.evaluate(
        f"() => [...document.querySelectorAll('{NOTEBOOK} .jp-OutputArea img')].every(img => img.complete && img.naturalWidth > 0)")


def check_run(lab: Session, relative: str, name: str, exercises: int, passing: int) -> dict:
    """Run the open notebook top to bottom, save it, and check what a learner sees."""
    lab.console_errors.clear()
    lab.screenshot(f"{name}-top")
    seconds = lab.run_all()
    lab.save()
    lab.screenshot(f"{name}-end")  # Run All leaves the last cell, the recap, in view
    notebook = json.loads((lab.course / relative).read_text(encoding="utf-8"))
    unannounced = red_blocks(notebook)
    assert not unannounced, "red blocks no text announces (tag the cell announced-stderr once it does):\n" \
        + "\n".join(unannounced)
    summary = recap_summary(notebook)
    assert f"{passing} of {exercises} exercises pass their visible checks" in summary, summary
    images, text_only = image_outputs(notebook)
    assert text_only == [], "figures shown as text, not images"
    assert lab.page.locator(f"{NOTEBOOK} .jp-OutputArea img").count() == images
    assert visible_images_load(lab), "an image in an output did not load"
    assert hints_open(lab), "a hint did not open"
    assert lab.console_errors == [], "the browser logged errors"
    assert not lab.close_tab(), "closing the saved notebook asked about unsaved changes"
    lab.shut_down_kernels()
    return {"seconds": round(seconds, 1), "images": images}


LESSONS = all_lessons()


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.slug for lesson in LESSONS])
def test_lesson_in_the_learners_lab(lab, lesson: Lesson, record_property):
    count = len(exercise_ids(json.loads(lesson.release.read_text(encoding="utf-8"))))
    learner = lesson.release.relative_to(ROOT).as_posix()
    solution = lesson.solution.relative_to(ROOT).as_posix()

    try:
        # Both open unmodified: the learner opens the lesson, the instructor the solution too.
        for relative, what in ((learner, "the untouched lesson"), (solution, "the solution notebook")):
            lab.open(relative)
            assert not lab.dirty(), f"{what} is marked modified as soon as it opens"
            assert lab.page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").count() == 0, \
                "nbgrader's instructor menu shows in the learner's Lab"
            assert lab.page.locator(".jp-Toolbar-item", has_text="Validate").count() == 0, "nbgrader's Validate shows"
            assert not lab.close_tab(), f"closing {what} asked about unsaved changes"
        lab.shut_down_kernels()

        lab.open(learner)
        untouched = check_run(lab, learner, f"{lesson.slug}-learner", count, passing=0)
        lab.untouched_ran.add(lesson.slug)
        solved = {"seconds": None}
        if RUN_SOLUTIONS:
            lab.open(solution)
            solved = check_run(lab, solution, f"{lesson.slug}-solution", count, passing=count)
    finally:  # a failed step leaves its kernel running: the next lesson needs the cores
        lab.shut_down_kernels()
    record_property("seconds", {"learner": untouched["seconds"], "solution": solved["seconds"]})
    print(f"{lesson.slug}: Run All took {untouched['seconds']} s (learner), {solved['seconds']} s (solution)")



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
        shown = "".join(output.get("text", "") + "".join(output.get("data", {}).get("text/plain", ""))
                        for cell in notebook["cells"] if cell["cell_type"] == "code" for output in cell.get("outputs", []))
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
    (The same browser as the learner's Lab: Playwright's sync API runs one at a time.)"""
    course = copy_course(tmp_path / "course")
    log = ARTIFACTS / "instructor-lab.log"
    with running_lab(course, log, "--instructor") as base:
        instructor = Session(base, course, lab.context)
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
