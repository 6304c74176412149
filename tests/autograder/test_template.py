"""The sandbox template (``autograder.template``, ``autograder.sandbox.template``): sandboxes
forked from one interpreter that imported the lessons' libraries, each as separate as a new
interpreter would be. (That a submission cannot reach the template is attacked in every
confinement mode by the adversarial suite: "ask-the-template", "poison-the-template".)"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder import template
from autograder.errors import SandboxNotReady
from autograder.jail import Jail
from autograder.submission import Submission
from autograder.types import Cell, Limits

pytestmark = pytest.mark.anyio

LOOK = """
import json, os, sys, tempfile
def look():
    return {"pid": os.getpid(), "home": os.environ.get("HOME"), "tmp": tempfile.gettempdir(),
            "cwd": os.getcwd(), "fastapi": "fastapi" in sys.modules, "json": json.dumps([1])}
def spoil():
    import fastapi
    fastapi.FastAPI.__call__ = None
    json.JSONEncoder.spoiled = True
def spoiled():
    import fastapi
    return fastapi.FastAPI.__call__ is None or getattr(json.JSONEncoder, "spoiled", False)
"""


async def started(jail: Jail = Jail()) -> Submission:
    sub = await Submission.start(Limits(), jail)
    [report] = await sub.load([Cell("look", LOOK, "exercise")])
    assert report.status == "ok", report.message
    return sub


async def test_a_sandbox_is_forked_warm_with_its_own_home_temporary_and_working_folder():
    sub = await started()
    try:
        seen = await sub.call("look")
    finally:
        await sub.close()
    assert seen["fastapi"]  # imported by the template before the fork: the cell paid nothing for it
    assert seen["home"] == seen["tmp"] == seen["cwd"] == str(sub.scratch)
    assert seen["json"] == "[1]"


async def test_what_one_sandbox_changes_in_its_libraries_no_later_sandbox_sees():
    first = await started()
    try:
        await first.call("spoil")
        assert await first.call("spoiled")
    finally:
        await first.close()
    second = await started()
    try:
        assert not await second.call("spoiled")
    finally:
        await second.close()


async def test_the_exit_status_of_a_sandbox_comes_back_through_the_template():
    sub = await Submission.start(Limits(), Jail())
    [report] = await sub.load([Cell("leave", "import os\nos._exit(7)", "exercise")])
    assert report.status == "crashed"
    assert await sub.process.wait() == 7
    await sub.close()


async def test_a_request_without_the_template_token_is_refused_as_the_graders_failure():
    address = template.running()
    forged = template.Address(address.socket, "0" * len(address.token))
    with pytest.raises(SandboxNotReady, match="refused to fork"):
        await Submission.start(Limits(), Jail(template=forged))


async def test_a_template_that_is_gone_is_the_graders_failure_not_the_learners(tmp_path):
    gone = template.Address(str(tmp_path / "socket"), "token")
    with pytest.raises(SandboxNotReady, match="could not fork"):
        await Submission.start(Limits(), Jail(template=gone))


def test_the_template_ends_with_the_process_that_started_it():
    code = "from autograder import template; template.running(); print(template._template.process.pid, flush=True)"
    starter = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    pid = int(starter.stdout.split()[-1])
    for _ in range(100):
        if not os.path.exists(f"/proc/{pid}") or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]:
            return
        time.sleep(0.05)
    pytest.fail(f"the template (pid {pid}) outlived the process that started it")


async def test_where_no_template_can_serve_a_sandbox_is_a_new_interpreter(monkeypatch):
    monkeypatch.setattr(template, "supported", lambda: False)
    sub = await started()
    try:
        seen = await sub.call("look")
        assert not isinstance(sub.process, template.Forked)
    finally:
        await sub.close()
    assert seen["home"] == seen["tmp"] == seen["cwd"] == str(sub.scratch)
