"""A sandbox's memory cgroup: one limit for all its processes, and a list of them to end."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from autograder import cgroup
from autograder.jail import Jail, isolation
from autograder.submission import Submission
from autograder.types import Cell, Limits

pytestmark = pytest.mark.anyio
MEMORY = cgroup.available()
needs_cgroup = pytest.mark.skipif(not isinstance(MEMORY, cgroup.Hierarchy), reason=f"no memory cgroup here: {MEMORY}")


def alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


async def start(source: str, limits: Limits, jail: Jail = Jail()) -> Submission:
    sub = await Submission.start(limits, jail)
    [report] = await sub.load([Cell("c0", source, "exercise")])
    assert report.status == "ok", report.message
    return sub


def test_the_run_says_how_memory_is_limited():
    said = isolation()
    assert ("memory limited per submission" in said) == isinstance(MEMORY, cgroup.Hierarchy)
    assert "memory limited" in said


@needs_cgroup
async def test_processes_share_one_memory_limit():
    source = (
        "import os, time\n"
        "def allocate_in_children(count, megabytes):\n"
        "    pids = []\n"
        "    for _ in range(count):\n"
        "        pid = os.fork()\n"
        "        if pid == 0:\n"
        "            with open('/proc/self/oom_score_adj', 'w') as adj:\n"
        "                adj.write('1000')  # the children, not the sandbox, are the ones to end\n"
        "            block = bytearray(megabytes * 1024 * 1024)\n"
        "            for page in range(0, len(block), 4096):\n"
        "                block[page] = 1\n"
        "            time.sleep(3)  # hold it while the others allocate\n"
        "            os._exit(0)\n"
        "        pids.append(pid)\n"
        "    return sum(os.waitpid(pid, 0)[1] == 0 for pid in pids)\n"
    )
    sub = await start(source, Limits(memory_bytes=512 * 1024**2, call_seconds=30))
    try:
        # 4 x 200 MB: each process is within its own limit of 512 MiB, the four are not.
        assert await sub.call("allocate_in_children", 4, 200) <= 2
        assert await sub.call("allocate_in_children", 1, 200) == 1  # the sandbox lives on
    finally:
        await sub.close()
    assert not MEMORY.group(sub.process.pid).exists()


@needs_cgroup
async def test_a_detached_process_is_ended_without_the_user_id_jail():
    source = (
        "import subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], start_new_session=True)\n"
        "def detached(): return child.pid\n"
    )
    sub = await start(source, Limits(), Jail(mode="none"))  # no PID namespace, no user id of its own to sweep by
    pid = await sub.call("detached")
    assert os.getpgid(pid) != os.getpgid(sub.process.pid)  # out of reach of the process group
    await sub.close()
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:  # another process: nothing to await but time  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    assert not alive(pid)
