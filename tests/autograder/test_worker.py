"""Workers: forked warm, each in a process group of its own, stopped at the submission's limit."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import pytest

from autograder import grade, worker
from autograder.lessons import find_lesson
from autograder.submission import SCRATCH_ROOT
from autograder.suite import snapshot
from autograder.types import Cell, Limits

PROBE_SUITE = """
import os
import sys

from autograder.expect import expect, graded


@graded("probe", points=1)
def test_the_worker_is_warm_and_on_its_own():
    "The worker was forked with the suites' imports done, and leads its own process group."
    expect(os.getpgid(0) == os.getpid(), "not a process group of its own")
    expect({"autograder.suitekit", "coursekit", "httpx"} <= set(sys.modules), "not preloaded")


@graded("probe", points=1)
async def test_the_submission_is_there(submission):
    "The cells ran in a sandbox."
    expect(await submission.call("answer") == 42, "the cell did not run")
"""


def program(*sources: str, limits: Limits = Limits()) -> dict:
    cells = [Cell(f"c{i}", source, "exercise") for i, source in enumerate(sources)]
    return {"cells": [asdict(cell) for cell in cells], "limits": asdict(limits), "hidden": []}


def sandbox_processes(scratch: Path) -> int:
    """Processes working in a scratch folder in ``scratch``: this run's sandboxes and what they
    started, whatever other graders run on the machine."""
    count = 0
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            count += os.readlink(f"/proc/{entry}/cwd").startswith(f"{scratch}/")
        except OSError:
            continue
    return count


def test_workers_are_forked_warm_and_lead_their_own_group(tmp_path):
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "test_probe.py").write_text(PROBE_SUITE)
    paths = {name: tmp_path / name for name in ("program.json", "result.json", "worker.log")}
    paths["program.json"].write_text(json.dumps(program("def answer(): return 42")))
    sources = (("test_probe.py", PROBE_SUITE),)
    process = worker.start(paths["program.json"], sources, paths["result.json"], paths["worker.log"])
    process.join(60)
    assert process.exitcode == 0, paths["worker.log"].read_text()
    result = json.loads(paths["result.json"].read_text())
    assert [cell["status"] for cell in result["cells"]] == ["ok"]
    assert [(test["name"], test["passed"]) for test in result["tests"]] == [
        ("test_the_worker_is_warm_and_on_its_own", True),
        ("test_the_submission_is_there", True),
    ]


# It counts every sandbox and scratch folder on the machine: no other grader may run meanwhile.
@pytest.mark.whole_machine
def test_a_submission_over_its_time_is_stopped_with_all_it_started():
    # A scratch root of this run's own: another grader on the machine has sandboxes too.
    scratch = SCRATCH_ROOT / f"test-worker-{uuid.uuid4().hex[:8]}"
    limits = Limits(submission_seconds=2, cell_seconds=60)  # the cell's own limit would come too late
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(
                grade.run_worker,
                program("while True: pass", limits=limits),
                snapshot(find_lesson("01")),
                limits,
                scratch=scratch,
            )
            seen = 0  # the count below sees this run's sandbox while it runs
            while not running.done():
                seen = max(seen, sandbox_processes(scratch))
                time.sleep(0.05)
            outcome = running.result()
        assert seen > 0
        assert time.monotonic() - started < 15
        assert outcome == {"error": "grading stopped after 2 s; only finished checks count"}
        assert sandbox_processes(scratch) == 0
        assert list(scratch.iterdir()) == []  # the killed worker's sandbox folder too
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
