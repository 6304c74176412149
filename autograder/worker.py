"""Grade one submission in a process of its own: a preflight, then the hidden suite.

Each submission is graded in a fresh process, so that each run of the hidden suite starts from
a clean interpreter and runs in parallel with the others. Starting Python and importing pytest
and the suites' helpers costs more than grading a submission does, so ``autograder.grade``
does it once: ``start`` forks each worker from a multiprocessing forkserver that has imported
``PRELOAD`` already. ``python -m autograder.worker PROGRAM SUITE RESULT`` runs one by hand.

The run (``grade``): ``Sandboxes.preflight`` learns each cell's fate and drops the cells that
never end or end their process; then pytest runs the hidden suite with ``SandboxPlugin``, and
the first test gets the sandbox the preflight left.

PROGRAM is JSON {"cells": [...], "limits": {...}, "hidden": [...], "ledger": ..., "confined": ...};
RESULT gets {"cells": [...], "tests": [...]}.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from .jail import Jail
from .plugin import SandboxPlugin
from .pool import Sandboxes
from .suite import hermetic_pytest_args
from .types import Cell, Limits

# What every worker imports before its first test: this module, and what the hidden suites
# import. A suite that imports something else still works; it pays for that import itself.
PRELOAD = ["autograder.worker", "autograder.suitekit", "autograder.expect", "coursekit", "httpx", "asgi_lifespan"]


def grade(program: dict, suite: str) -> dict:
    cells = [Cell(**cell) for cell in program["cells"]]
    jail = Jail(tuple(program.get("hidden", ())), program.get("ledger"), program.get("confined"))
    sandboxes = Sandboxes(cells, Limits(**program["limits"]), jail)
    loop = asyncio.new_event_loop()
    try:
        reports = loop.run_until_complete(sandboxes.preflight())
        plugin = SandboxPlugin(sandboxes, loop)
        pytest.main(hermetic_pytest_args(suite), plugins=[plugin])
    finally:
        loop.run_until_complete(sandboxes.retire())
        loop.close()
    return {"cells": [asdict(report) for report in reports], "tests": [vars(test) for test in plugin.results]}


def main(program_path: str, suite: str, result_path: str) -> int:
    result = grade(json.loads(Path(program_path).read_text()), suite)
    Path(result_path).write_text(json.dumps(result))
    return 0


def _run_forked(program_path: str, suite: str, result_path: str, log_path: str) -> None:
    """A forked worker's first steps: a process group of its own (so that the grader can end
    it and all it started), pytest's report to nowhere, errors to ``log_path``."""
    os.setsid()
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(log, 2)
    sys.exit(main(program_path, suite, result_path))


def start(program_path: Path, suite: Path, result_path: Path, log_path: Path) -> multiprocessing.Process:
    """A worker for one submission, forked from the warm forkserver (started on first use)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    process = context.Process(target=_run_forked, args=(str(program_path), str(suite), str(result_path), str(log_path)),
                              name="autograder-worker")
    process.start()
    return process


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
