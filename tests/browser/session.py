"""A learner at the learner's Lab, in Chromium: open a notebook, Run All, save, and note what shows.

``observe_opening`` and ``run_in_the_browser`` do what a learner does and record what a learner
would see, without judging it: the tests judge (``tests/browser/test_lab.py``, and the lesson
tests, which read the same runs: ``tests/notebook_runs.py``), so one run serves them all.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path

import nbformat

from autograder.lessons import ROOT
from tests.browser.lab import TOKEN, Lab

ARTIFACTS = ROOT / "artifacts" / "browser"
RUN_ALL_SECONDS = 240  # a lesson runs in about a minute on a quiet machine; four times that on a busy one
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"  # the one in the current tab


class Session:
    def __init__(self, lab: Lab, course: Path, context):
        self.lab, self.base, self.course, self.context = lab, lab.base, course, context
        self.page = context.new_page()
        self.console_errors: list[str] = []
        self.untouched_ran: set[str] = set()  # lessons whose untouched learner notebook ran here
        self.page.on("console", self._note_console_message)
        self.page.on("pageerror", lambda error: self.console_errors.append(str(error)))

    def _note_console_message(self, message) -> None:
        if message.type != "error":
            return
        # "Failed to load resource: ... 500" names no resource: the location does (the server's
        # log, artifacts/browser/lab-*.log, then says why)
        where = (message.location or {}).get("url", "")
        self.console_errors.append(f"{message.text} ({where})" if where else message.text)

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
        except Exception:
            return False
        self.page.keyboard.press("Escape")
        return True

    def menu(self, menu: str, item: str) -> None:
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{menu}$")).click()
        self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{item}$")).first.click()

    def run_all(self) -> float:
        """Run > Run All Cells; the seconds until every cell ran, or until a cell's error
        stopped the run (Lab runs none after it: the notebook shows which one)."""
        started = time.monotonic()
        self.page.locator(NOTEBOOK).first.click(position={"x": 5, "y": 5})
        self.menu("Run", "Run All Cells")
        prompts = self.page.locator(f"{NOTEBOOK} .jp-Cell.jp-CodeCell .jp-InputPrompt")
        deadline = started + RUN_ALL_SECONDS
        while time.monotonic() < deadline:
            # Run All marks every cell it queues [*]; a cell's error unqueues the rest. So it is
            # over once no cell is queued and some ran. Read as text content: a cell scrolled
            # out of view is not rendered, and its rendered text (inner text) reads empty, so a
            # queued cell below the view looked done (and a stderr block above it looked like
            # the error that ends a run: a loaded machine's runs ended early so).
            texts = prompts.all_text_contents()
            if texts and not any("*" in text for text in texts) and any(re.search(r"\d", text) for text in texts):
                return time.monotonic() - started
            self.page.wait_for_timeout(500)
        raise AssertionError(f"Run All did not reach the last cell within {RUN_ALL_SECONDS} s")

    def save(self) -> None:
        self.menu("File", "Save Notebook")
        self.page.wait_for_function(
            "!document.querySelector('.lm-TabBar-tab.lm-mod-current.jp-mod-dirty')", timeout=30_000
        )

    def shut_down_kernels(self) -> None:
        def shut_down() -> None:
            with urllib.request.urlopen(f"{self.base}/api/kernels?token={TOKEN}") as answer:
                kernels = json.load(answer)
            for kernel in kernels:
                request = urllib.request.Request(
                    f"{self.base}/api/kernels/{kernel['id']}?token={TOKEN}", method="DELETE"
                )
                urllib.request.urlopen(request).close()

        self.lab.call(shut_down)

    def screenshot(self, name: str) -> None:
        self.page.screenshot(path=ARTIFACTS / f"{name}.png")


def observe_opening(lab: Session, relative: str) -> dict:
    """Open a notebook as it is on disk and close it again: what a learner sees of it."""
    lab.open(relative)
    seen = {
        "dirty": lab.dirty(),
        "nbgrader_menu": lab.page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").count(),
        "validate_button": lab.page.locator(".jp-Toolbar-item", has_text="Validate").count(),
    }
    seen["asked_on_close"] = lab.close_tab()
    return seen


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
        f"() => [...document.querySelectorAll('{NOTEBOOK} .jp-OutputArea img')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )


def run_in_the_browser(lab: Session, relative: str, name: str) -> tuple[nbformat.NotebookNode, float, dict]:
    """Open a notebook, Run All, save it: the notebook as saved, the run's seconds, and what the
    page showed (images, hints, the browser's console errors, a question on closing)."""
    lab.open(relative)
    lab.console_errors.clear()
    lab.screenshot(f"{name}-top")
    try:
        seconds = lab.run_all()
        lab.save()
        lab.screenshot(f"{name}-end")  # Run All leaves the last cell, the recap, in view
        notebook = nbformat.read(lab.course / relative, as_version=4)
        seen = {
            "images_on_page": lab.page.locator(f"{NOTEBOOK} .jp-OutputArea img").count(),
            "images_load": visible_images_load(lab),
            "hints_open": hints_open(lab),
        }
        seen["console_errors"] = list(lab.console_errors)
        seen["asked_on_close"] = lab.close_tab()
    finally:  # a failed step leaves its kernel running: the next notebook needs the cores
        lab.shut_down_kernels()
    return notebook, seconds, seen
