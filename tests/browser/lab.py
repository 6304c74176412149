"""The course's JupyterLab as a learner opens it, in a headless Chromium, for the browser test.

The Lab is started the way the README says (``python3 course.py lab``), in a copy of the
course's tracked files, so that running, saving and autosaving notebooks never touch the
checkout; the copy shares the checkout's ``.venv`` (the same lock, so ``course.py`` finds it
ready). The browser is the system's Chromium (Debian's ``chromium``), driven by Playwright's
Python client with its own driver: Playwright's browser downloads are not used.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from autograder.lessons import ROOT
from autograder.publish import course_files
from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS

TOKEN = "browser-test"
START_SECONDS = 120


def copy_course(target: Path) -> Path:
    """The course's tracked files (the notebooks as committed) in ``target``, sharing .venv."""
    for path in course_files():
        if (ROOT / path).is_file():
            (target / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / path, target / path)
    (target / ".venv").symlink_to(ROOT / ".venv", target_is_directory=True)
    return target


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_lab(course: Path, log: Path, *extra: str) -> Iterator[str]:
    """``python3 course.py lab`` in ``course``, without opening a browser; yields its base URL."""
    port = free_port()
    command = [sys.executable, "course.py", "lab", *extra, "--no-browser", f"--ServerApp.port={port}",
               f"--IdentityProvider.token={TOKEN}", "--ServerApp.port_retries=0"]
    with log.open("wb") as output:
        # A session of its own: whatever the server starts outside its kernels goes with it.
        server = subprocess.Popen(command, cwd=course, stdout=output, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(f"{base}/api/status?token={TOKEN}", server, log)
            yield base
        finally:
            stop(server)


def stop(server: subprocess.Popen) -> None:
    """Stop the server (it stops its kernels on SIGTERM), and kill what is left of its group."""
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    try:
        os.killpg(server.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_until_up(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"JupyterLab did not answer within {START_SECONDS} s:\n{log.read_text()[-3000:]}")


@contextmanager
def chromium(profile: Path) -> Iterator[object]:
    """A headless Chromium with a new, empty profile; yields a Playwright browser context."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000})
        try:
            yield context
        finally:
            context.close()
