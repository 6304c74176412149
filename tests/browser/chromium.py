"""The system's Chromium (Debian's ``chromium``) driven by Playwright's Python client, for the
browser tests (the Lab's and the grading service's instructor page). Playwright's own browser
downloads are not used (they are not reachable). Where there is no browser a browser test
skips, saying what to install, except in CI (``.ci/run`` installs it and sets
``COURSE_REQUIRE_BROWSER=1``), where it fails."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Headless, and nothing that reaches beyond the machine (updates, sync, QUIC probes).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def browser_required() -> bool:
    """CI (``.ci/run``) installs the browser and requires the test to run, not to skip."""
    return os.environ.get("COURSE_REQUIRE_BROWSER") == "1"


def missing_browser() -> str | None:
    """Why the browser test cannot run here, or None when it can."""
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install chromium) to run the browser test"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "Playwright's Python client is not installed (it is in requirements.lock)"
    if shutil.which("node") is None and not _driver_present():
        return "Playwright's driver is missing from its wheel"
    return None


def _driver_present() -> bool:
    from playwright._impl._driver import compute_driver_executable

    node, _ = compute_driver_executable()
    return Path(node).exists()


def skip_or_fail_without_browser() -> None:
    """Skip the calling test, saying what is missing, where no browser can run; fail instead
    where the browser is required."""
    missing = missing_browser()
    if missing and browser_required():
        pytest.fail(f"the browser test must run here (COURSE_REQUIRE_BROWSER=1), but: {missing}")
    if missing:
        pytest.skip(f"browser test skipped: {missing}")


_driver = None  # the running Playwright driver of this process


@contextmanager
def playwright() -> Iterator:
    """This process's one Playwright driver, started if none runs, stopped by whoever started
    it when their block ends. Why one: Playwright's sync API keeps its event loop marked running
    in the thread that started it, so a second ``sync_playwright()`` in the same thread (an
    xdist worker that holds the learner's Lab and then opens the instructor page) is refused.
    Why stopped: while one runs, the thread counts as running an event loop, and the asyncio
    tests that come after it in this process could not run."""
    global _driver
    if _driver is not None:
        yield _driver
        return
    from playwright.sync_api import sync_playwright

    _driver = sync_playwright().start()
    try:
        yield _driver
    finally:
        _driver.stop()
        _driver = None


@contextmanager
def chromium_page() -> Iterator:
    """A page in a headless Chromium with a new, empty profile."""
    skip_or_fail_without_browser()
    with playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(accept_downloads=True)
        finally:
            browser.close()
