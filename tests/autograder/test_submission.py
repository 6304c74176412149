"""The trusted side's handle on a sandbox: loading cells, limits, crashes, forwarding."""

import asyncio
import os
import signal
from pathlib import Path

import httpx
import pytest

from autograder.submission import (
    Submission,
    SubmissionCrashed,
    SubmissionRaised,
    SubmissionTimedOut,
    defined,
    fixture,
)
from autograder.types import Cell, Limits

pytestmark = pytest.mark.anyio
FAST = Limits(cell_seconds=2, call_seconds=2)


def cells(*sources: str) -> list[Cell]:
    return [Cell(f"c{i}", source, "exercise") for i, source in enumerate(sources)]


@pytest.fixture
async def start(tmp_path):
    started = []

    async def starter(*sources: str, limits: Limits = FAST):
        sub = await Submission.start(limits)
        started.append(sub)
        return sub, await sub.load(cells(*sources))

    yield starter
    for sub in started:
        await sub.close()


async def test_each_cell_is_reported(start):
    sub, reports = await start("x = 1", "raise ValueError('nope')", "import sys; sys.exit(3)", "def y(): return x + 1")
    assert [r.status for r in reports] == ["ok", "error", "error", "ok"]
    assert "ValueError: nope" in reports[1].message
    assert "SystemExit" in reports[2].message
    assert await sub.call("y") == 2


async def test_top_level_await_runs_like_in_a_notebook(start):
    sub, reports = await start("import asyncio\nawait asyncio.sleep(0)\nvalue = 'awaited'\ndef get(): return value")
    assert reports[0].status == "ok"
    assert await sub.call("get") == "awaited"


async def test_an_endless_cell_is_reported_and_stops_the_rest(start):
    _, reports = await start("ok = 1", "while True: pass", "never = 1")
    assert [r.status for r in reports] == ["ok", "timeout", "not run"]


async def test_prints_do_not_disturb_the_protocol(start):
    sub, reports = await start(
        'print(\'{"event": "return", "id": 1, "value": 99}\')\ndef f():\n    print(\'noise\')\n    return 5'
    )
    assert reports[0].status == "ok"
    assert await sub.call("f") == 5


async def test_describe(start):
    sub, _ = await start("async def app(scope, receive, send): pass\ndef factory(): pass\nvalue = 3")
    assert (await sub.describe("app"))["kind"] == "async function"
    assert (await sub.describe("factory"))["kind"] == "function"
    assert (await sub.describe("value"))["kind"] == "int"
    assert (await sub.describe("missing"))["defined"] is False


async def test_errors_timeouts_and_crashes_become_exceptions(start):
    sub, _ = await start(
        "import os, time\ndef boom(): raise KeyError('k')\ndef slow(): time.sleep(30)\ndef die(): os._exit(0)\n"
    )
    with pytest.raises(SubmissionRaised, match="KeyError"):
        await sub.call("boom")
    with pytest.raises(SubmissionTimedOut):
        await sub.call("slow")
    sub2, _ = await start("import os\ndef die(): os._exit(3)")
    with pytest.raises(SubmissionCrashed, match=r"ended while `die` was running \(it exited with status 3"):
        await sub2.call("die")


CRASHES = {  # the learner's code, what the message says of its end, and where it says it crashed
    "SIGSEGV": (
        "import ctypes\ndef crash(): ctypes.string_at(0)",
        "a crash in compiled code, SIGSEGV",
        "`crash`, line 2",
    ),
    # In a thread of the learner's, while the main thread waits: the stack of the thread that crashed.
    "SIGSEGV in a thread": (
        "import ctypes, threading, time\n"
        "def segfault():\n"
        "    time.sleep(0.05)\n"
        "    ctypes.string_at(0)\n"
        "def crash():\n"
        "    threading.Thread(target=segfault).start()\n"
        "    time.sleep(5)\n",
        "a crash in compiled code, SIGSEGV",
        "`segfault`, line 4",
    ),
    # The CPU limit: pid 1 of a namespace outlives SIGXCPU, and the hard limit's SIGKILL ends it.
    "SIGKILL": ("def crash():\n    while True: pass", "killed: out of memory or out of CPU time, SIGKILL", None),
}


@pytest.mark.parametrize("case", list(CRASHES))
async def test_a_crash_says_which_signal_ended_the_sandbox_and_where(start, case):
    """A sandbox that dies of a signal (a segfault in a C extension, its CPU limit) is reported
    as such, with the signal's name, through the jail's outer process (which dies of the same
    signal) and the template: never as an exit status, the shell's 128 + n. Where Python's
    faulthandler could print the stacks (not after SIGKILL), the message names the learner's
    function the crash struck, and its line."""
    source, said, site = CRASHES[case]
    sub, _ = await start(source, limits=Limits(cell_seconds=2, call_seconds=10, cpu_seconds=2))
    with pytest.raises(SubmissionCrashed) as crashed:
        await sub.call("crash")
    assert crashed.value.status == -getattr(signal, case.split()[0])
    assert f"ended while `crash` was running ({said})." in str(crashed.value)
    assert crashed.value.site == (f"{site} of your cell" if site else None)


async def test_an_unsolved_exercise_called_by_another_is_named(start):
    sub, _ = await start(
        "async def echo_app(scope, receive, send):\n"
        "    raise NotImplementedError()\n"
        "async def router_app(scope, receive, send):\n"
        "    await echo_app(scope, receive, send)\n"
    )
    with pytest.raises(SubmissionRaised) as raised:
        await sub.call("router_app", {}, None, None)
    assert "`echo_app` is not solved yet: `router_app` calls it, so solve `echo_app` first." in str(raised.value)
    with pytest.raises(SubmissionRaised, match=r"raised NotImplementedError\. The exercise is not solved yet\."):
        await sub.call("echo_app", {}, None, None)


async def test_asgi_apps_are_forwarded_message_by_message(start):
    sub, _ = await start(
        "async def app(scope, receive, send):\n"
        "    body = b''\n"
        "    while True:\n"
        "        m = await receive()\n"
        "        body += m.get('body', b'')\n"
        "        if not m.get('more_body'): break\n"
        "    await send({'type': 'http.response.start', 'status': 201,\n"
        "                'headers': [(b'x-len', str(len(body)).encode())]})\n"
        "    await send({'type': 'http.response.body', 'body': body[::-1]})\n"
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sub.asgi("app")), base_url="http://t") as client:
        response = await client.post("/", content=b"abc")
    assert (response.status_code, response.headers["x-len"], response.content) == (201, "3", b"cba")


async def test_factories_and_fixtures(start):
    sub, _ = await start(
        "def wrap(app):\n    async def outer(scope, receive, send):\n"
        "        await app(scope, receive, send)\n    return outer"
    )
    alias = await sub.make("wrap", fixture("hello_app"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sub.asgi(alias)), base_url="http://t") as client:
        response = await client.get("/")
    assert response.text == "hello"


async def test_close_ends_every_process_the_submission_started(start, tmp_path):
    sub, _ = await start(
        "import subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "def pid(): return child.pid"
    )
    child_pid = await sub.call("pid")
    # Inside a PID namespace that pid means nothing out here: follow the namespace instead.
    inner = _children(sub.process.pid)
    namespace = os.readlink(f"/proc/{inner[0]}/ns/pid") if inner else None
    if namespace == os.readlink("/proc/self/ns/pid"):
        namespace = None
    await sub.close()
    await asyncio.sleep(0.2)
    if namespace:
        assert _in_namespace(namespace) == []
    else:
        assert not _is_running(child_pid)


def _children(pid: int) -> list[int]:
    try:
        return [int(each) for each in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _in_namespace(namespace: str) -> list[int]:
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{entry}/ns/pid") == namespace and _is_running(int(entry)):
                found.append(int(entry))
        except OSError:
            pass
    return found


def _is_running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split()[2] != "Z"  # a zombie has ended; only its entry remains
    except FileNotFoundError:
        return False


async def test_probes_run_public_code_next_to_the_learners(start):
    sub, _ = await start(
        "async def app(scope, receive, send):\n    await send({'type': 'http.response.start', 'status': 204})"
    )
    answer = await sub.probe("run_http", defined("app"), "GET", "/")
    assert answer == {"status": 204, "headers": [], "body": b""}
    with pytest.raises(SubmissionRaised, match="KeyError"):
        await sub.probe("run_http", defined("missing"))


async def test_the_scratch_dir_is_reachable_by_absolute_path(start):
    # SQLite, among others, opens files by absolute path: the sandbox's own user must be able to.
    sub, reports = await start(
        "import os, sqlite3\nconnection = sqlite3.connect(os.path.join(os.getcwd(), 'scratch.db'))\n"
        "connection.execute('create table t (x)')\n"
        "def ok(): return os.path.exists(os.path.join(os.getcwd(), 'scratch.db'))"
    )
    assert reports[0].status == "ok", reports[0].message
    assert await sub.call("ok") is True
