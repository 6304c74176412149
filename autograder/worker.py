"""Grade one submission in a process of its own: a preflight, then the hidden suite.

The suite is the one the grader read before the first submission of the run ran
(``autograder.suite.snapshot``): the worker lays it out in a private folder of its own and
makes each test module from that source, never from the repository's files, so nothing a
submission does to the files on disk changes what the rest of the class is graded with. The
lesson's sandbox probes come from the same snapshot: the worker hands their source to every
sandbox it starts and to the reference (``autograder.sandbox.probes``).

Each submission is graded in a fresh process, so that each run of the hidden suite starts from
a clean interpreter and runs in parallel with the others. Starting Python and importing pytest
and the suites' helpers costs more than grading a submission does, so ``autograder.grade``
does it once: ``start`` forks each worker from a multiprocessing forkserver that has imported
``PRELOAD`` already. ``python -m autograder.worker PROGRAM SUITE RESULT`` runs one by hand.

The run (``grade``): ``Sandboxes.preflight`` learns each cell's fate and drops the cells that
never end or end their process; then pytest runs the hidden suite with ``SandboxPlugin``, and
the first test gets the sandbox the preflight left.

PROGRAM is JSON {"cells": [...], "limits": {...}, "hidden": [...], "ledger": ..., "mode": ...,
"lesson": its slug, "only": an exercise whose tests alone run, or null, "first_failure":
whether they stop at the first that fails, "answers": the run's folder
for ``autograder.answers``, or null,
"scratch": where its sandboxes' scratch folders go, or null, "template": the sandbox template
to fork them from (``autograder.template.Address``), or null: the worker's own};
RESULT gets {"cells": [...], "tests": [...]}, and "grader_error" (why) when the grader failed on
its own side: then the submission is not graded (``types.GRADER_ERROR``).
"""

from __future__ import annotations

import asyncio
import atexit
import json
import multiprocessing
import multiprocessing.forkserver
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from multiprocessing.process import BaseProcess
from pathlib import Path

import pytest
from _pytest.config import default_plugins  # the names of pytest's own plugins

from . import answers, reference
from .errors import GraderFault
from .inprocess import private_temporary_folder
from .jail import Jail
from .lessons import Lesson
from .plugin import SandboxPlugin
from .pool import Sandboxes
from .suite import FrozenSuite, Snapshot, hermetic_pytest_args, materialise, probes, snapshot
from .template import PRELOAD as SANDBOX_PRELOAD
from .template import Address
from .types import Cell, Limits, Outcome, Program

# What every worker imports before its first test: this module, and what every hidden suite
# imports. ``warm_up`` adds what the lessons being graded import (``autograder.suite.imports``):
# their tests', and their probes', which the reference runs in the worker.
PRELOAD = [
    # pytest's own plugins, which each run's configuration would otherwise import afresh in
    # every worker (a fifth of a worker's CPU when a class is graded)
    *(f"_pytest.{name}" for name in default_plugins),
    # what the reference's cells import, when a test runs the reference in the worker: the
    # sandboxes' template imports the same for the learner's side (``autograder.template``)
    *SANDBOX_PRELOAD,
    "autograder.worker",
    "autograder.suitekit",
    "autograder.strategies",
    "autograder.expect",
    "coursekit",
    "httpx",
    "hypothesis",
    "asgi_lifespan",
    "autograder.learner_tests",
]


# pytest's exit statuses after a run of the suite that says something about the submission
# (some tests failed, or with ``only``, none of that exercise's were collected).
RAN = (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED)


def grade(program: Program, sources: Snapshot) -> Outcome:
    cells = [Cell(**cell) for cell in program["cells"]]
    # The lesson's probes as the run read them, for its sandboxes and the reference alike.
    lesson_probes = probes(Lesson(program.get("lesson", "suite")), sources)
    if "reference" in program:  # the solution as the grader read it before the run began
        reference.fix(program["lesson"], tuple(Cell(**cell) for cell in program["reference"]), lesson_probes)
    answers.share(program.get("answers"))  # the run's inputs and reference answers, computed once
    jail = Jail(
        tuple(program.get("hidden", ())),
        program.get("ledger"),
        program.get("mode"),
        program.get("scratch"),
        Address(**program["template"]) if program.get("template") else None,
    )
    sandboxes = Sandboxes(cells, Limits(**program["limits"]), jail, lesson_probes)
    loop = asyncio.new_event_loop()
    folder = Path(tempfile.mkdtemp(prefix="suite-"))  # 0700: the grader's alone
    # What the reference's probes write in this process goes with the worker's run too.
    with private_temporary_folder("worker-tmp-"):
        try:
            reports = loop.run_until_complete(sandboxes.preflight())
            only = program.get("only")
            plugin = SandboxPlugin(sandboxes, loop, only)
            # The folder is named after the lesson: the reference fixture finds its lesson so.
            suite = materialise(sources, folder / program.get("lesson", "suite"))
            # Grading a mutant only asks whether anything fails: stop there (``types.Only``).
            stop = ["-x"] if only and program.get("first_failure", True) else []
            code = pytest.main(
                [*hermetic_pytest_args(str(suite)), *stop], plugins=[plugin, FrozenSuite(sources, suite)]
            )
        except GraderFault as exc:  # the preflight's sandbox never became ready
            return {"cells": [], "tests": [], "grader_error": str(exc)}
        finally:
            loop.run_until_complete(sandboxes.retire())
            loop.close()
            shutil.rmtree(folder, ignore_errors=True)
    result: Outcome = {
        "cells": [asdict(report) for report in reports],
        "tests": [vars(test) for test in plugin.results],
    }
    if plugin.grader_errors:
        result["grader_error"] = "; ".join(plugin.grader_errors)
    elif code not in RAN:  # a suite that did not import, a usage error: no test said anything about the code
        result["grader_error"] = f"the hidden suite could not run (pytest exit status {code})"
    return result


def main(program_path: str, sources: Snapshot, result_path: str) -> int:
    result = grade(json.loads(Path(program_path).read_text()), sources)
    Path(result_path).write_text(json.dumps(result))
    return 0


def _run_forked(program_path: str, sources: Snapshot, result_path: str, log_path: str) -> None:
    """A forked worker's first steps: a process group of its own (so that the grader can end
    it and all it started), pytest's report to nowhere, errors to ``log_path``."""
    os.setsid()
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(log, 2)
    folder = os.environ.get(PROFILE)
    if folder:
        sys.exit(_profiled(Path(folder), program_path, sources, result_path))
    sys.exit(main(program_path, sources, result_path))


# A folder: each worker writes there the CPU profile of its run (``<pid>.prof``, for ``pstats``;
# CPU time, not wall time, since a worker mostly waits on its sandbox). How the grader's own
# costs per submission were found: pytest importing its plugins in every worker, a syntax walk
# of every suite module (see ``PRELOAD`` and ``suite.UNUSED_PLUGINS``).
PROFILE = "AUTOGRADER_PROFILE"


def _profiled(folder: Path, program_path: str, sources: Snapshot, result_path: str) -> int:
    import cProfile

    profiler = cProfile.Profile(time.process_time)
    try:
        return profiler.runcall(main, program_path, sources, result_path)
    finally:
        profiler.dump_stats(folder / f"{os.getpid()}.prof")


_warm = False


def warm_up(preload: Sequence[str] = ()) -> None:
    """Start the forkserver now (before the first submission runs), importing ``PRELOAD`` and
    ``preload``, from an empty folder of its own: Python 3.11's forkserver keeps "" (the folder
    it was started in) first on ``sys.path``, so started from wherever the grader was run, it
    would import an ``autograder`` it found there instead of this one."""
    global _warm
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([*PRELOAD, *preload])
    if _warm:
        multiprocessing.forkserver.ensure_running()  # started again only if it died
        return
    _warm = True
    here = os.getcwd()
    empty = tempfile.mkdtemp(prefix="forkserver-")  # kept while it runs: imports ask for the cwd
    atexit.register(shutil.rmtree, empty, True)
    os.chdir(empty)
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        os.chdir(here)


def _nothing() -> None:
    pass


def warmed() -> float:
    """Wait until the forkserver has imported what workers need (a first worker is forked from
    it): the run's fixed cost, apart from any grading. Return the seconds waited."""
    started = time.monotonic()
    process = multiprocessing.get_context("forkserver").Process(target=_nothing, name="autograder-warm-up")
    process.start()
    process.join()
    return time.monotonic() - started


def start(
    program_path: Path, sources: Snapshot, result_path: Path, log_path: Path, preload: Sequence[str] = ()
) -> BaseProcess:
    """A worker for one submission, forked from the warm forkserver (started here if
    ``warm_up`` was not called)."""
    warm_up(preload)
    process = multiprocessing.get_context("forkserver").Process(
        target=_run_forked, args=(str(program_path), sources, str(result_path), str(log_path)), name="autograder-worker"
    )
    process.start()
    return process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], snapshot(Lesson(Path(sys.argv[2]).name)), sys.argv[3]))  # PROGRAM names "lesson"
