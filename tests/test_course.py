"""course.py: the learner's and the instructor's Lab, as the running server serves them."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import re
import urllib.error
import urllib.request

import pytest

from autograder.lessons import ROOT
from tests.browser.lab import TOKEN, running_lab

spec = importlib.util.spec_from_file_location("course_entry", ROOT / "course.py")
course = importlib.util.module_from_spec(spec)
spec.loader.exec_module(course)


def status(url: str) -> int:
    request = urllib.request.Request(url, method="GET")
    opener = urllib.request.build_opener(NoRedirect())
    try:
        with opener.open(request, timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def page_config(base: str) -> dict:
    with urllib.request.urlopen(f"{base}/lab?token={TOKEN}", timeout=30) as answer:
        page = answer.read().decode()
    found = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page, re.DOTALL)
    return json.loads(found.group(1))


@pytest.mark.parametrize("mode", ["learner", "instructor"])
def test_each_lab_serves_what_it_says(mode, tmp_path):
    extra = ["--instructor"] if mode == "instructor" else []
    with running_lab(ROOT, tmp_path / "lab.log", *extra) as base:
        disabled = set(page_config(base)["disabledExtensions"])
        handlers = {
            name: status(f"{base}/{name}?token={TOKEN}") for name in ("formgrader", "courses", "nbgrader_version")
        }
        # the root is the course's folder: files the lessons point to outside notebooks/ open
        readable = status(f"{base}/api/contents/datasets/README.md?token={TOKEN}")
        with (
            urllib.request.urlopen(f"{base}/courses?token={TOKEN}", timeout=30)
            if mode == "instructor"
            else contextlib.nullcontext() as answer
        ):
            courses = json.load(answer) if answer else None
    assert disabled == {*course.LAB_MODES[mode]["lab"], course.NEWS}
    assert readable == 200
    if mode == "learner":  # no nbgrader at all: its pages are not there
        assert set(handlers.values()) == {404}, handlers
    else:  # formgrader answers (it redirects to its first page), the course list from the exchange
        assert handlers["formgrader"] == 302 and handlers["courses"] == 200, handlers
        assert handlers["nbgrader_version"] != 404, handlers  # served (it wants a version to compare)
        assert courses["success"], courses
        assert "Traceback" not in (tmp_path / "lab.log").read_text()


def test_neither_lab_validates_and_the_instructors_has_formgrader():
    for mode in course.LAB_MODES:
        assert course.NBGRADER + "validate_assignment" in course.LAB_MODES[mode]["server"]
    assert course.NBGRADER + "formgrader" not in course.LAB_MODES["instructor"]["server"]


def test_the_lab_puts_the_courses_commands_first_on_path_and_listens_on_loopback():
    env = course.lab_environment("instructor")
    assert env["PATH"].split(":")[0] == str(course.BIN)
    assert (course.BIN / "alembic").exists()  # formgrader runs it by name
    assert "--ServerApp.ip=127.0.0.1" in course.lab_command([])


def test_binder_gets_the_learners_lab_too():
    """Binder does not run course.py: its postBuild turns off the same extensions."""
    post_build = (ROOT / "postBuild").read_text()
    for name in [*course.LAB_MODES["learner"]["lab"], course.NEWS]:
        assert name in post_build
    for name in course.LAB_MODES["learner"]["server"]:
        assert '"nbgrader.server_extensions.$name"' in post_build and name.rsplit(".", 1)[1] in post_build


def test_the_set_up_selects_the_course_kernel_in_the_venv():
    """course.py writes the kernel config (coursekit/kernel.py) into .venv, also into one made before it."""
    from coursekit import kernel

    assert course.KERNEL_CONFIG == kernel.config_path(course.VENV)
    course.KERNEL_CONFIG.unlink()
    course.ensure_environment()
    assert course.KERNEL_CONFIG.read_text(encoding="utf-8").endswith(kernel.CONFIG)


def test_binder_selects_the_course_kernel_too():
    assert "\npython -m coursekit.kernel\n" in (ROOT / "postBuild").read_text()


def test_the_suite_runs_on_every_core_and_the_quick_tier_leaves_out_the_slow_tests():
    assert course.test_arguments([]) == course.PARALLEL
    assert course.test_arguments(["--quick", "-k", "lab"]) == [*course.PARALLEL, "-m", "not slow", "-k", "lab"]
    assert course.test_arguments(["-n", "0"])[-2:] == ["-n", "0"]  # the user's own come last, and win


def test_the_static_checks_run_first_and_a_finding_stops_the_tests(monkeypatch, capsys):
    ran = []

    def call(command, **_):
        ran.append(command[1:])
        return 1 if command[1:] == ["-m", "ruff", "format", "--check", "."] else 0

    monkeypatch.setattr(course, "ensure_environment", lambda: None)
    monkeypatch.setattr(course.subprocess, "call", call)
    assert course.test(["--quick"]) == 1
    assert ran == list(course.STATIC_CHECKS.values())  # all three ran, and pytest did not
    assert "ruff format --check found problems" in capsys.readouterr().out

    monkeypatch.setattr(course.subprocess, "call", lambda command, **_: ran.append(command[1:]) or 0)
    ran.clear()
    assert course.test([]) == 0
    assert ran == [*course.STATIC_CHECKS.values(), ["-m", "pytest", *course.PARALLEL]]
