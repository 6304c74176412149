#!/usr/bin/env python3
"""The course's two entry points, runnable with nothing but Python 3.11.

    python3 course.py lab               set everything up, then open the course in JupyterLab
    python3 course.py lab --instructor  the same, with nbgrader's instructor tools (formgrader)
    python3 course.py test              set everything up, then run the whole test suite
    python3 course.py test --quick      the same, without notebook runs and class gradings (minutes)

"Set everything up" means: a virtual environment in .venv, filled from the lock file
(requirements.lock) and the project itself, redone only when the lock or pyproject.toml
changes. This file uses the standard library only, because it runs before anything is
installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
LOCK = ROOT / "requirements.lock"
STAMP = VENV / "course-installed.sha256"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
# Selects the course's kernel (coursekit/kernel.py) for every kernel the venv starts, so
# notebooks name Python 3.11 whatever its patch version, as the released lessons do.
KERNEL_CONFIG = VENV / "etc" / "ipython" / "ipython_kernel_config.py"


def _wanted_stamp() -> str:
    digest = hashlib.sha256()
    for path in (LOCK, ROOT / "pyproject.toml"):
        digest.update(path.read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def ensure_environment() -> None:
    """Create .venv and install the locked dependencies, unless that is already done."""
    if sys.version_info[:2] != (3, 11):
        sys.exit(
            f"The course is pinned to Python 3.11; this is {sys.version.split()[0]}. "
            "Run this file with a Python 3.11 interpreter (for example python3.11 course.py ...)."
        )
    wanted = _wanted_stamp()
    installed = STAMP.exists() and STAMP.read_text() == wanted and PYTHON.exists()
    if not installed:
        if not PYTHON.exists():
            print("course: creating .venv", flush=True)
            venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
        print("course: installing the locked dependencies into .venv (first time only)", flush=True)
        pip = [str(PYTHON), "-m", "pip", "--disable-pip-version-check", "install", "--quiet"]
        subprocess.run([*pip, "-r", str(LOCK)], check=True)
        subprocess.run([*pip, "--no-deps", "--no-build-isolation", "-e", str(ROOT)], check=True)
        STAMP.write_text(wanted)
    if not installed or not KERNEL_CONFIG.exists():  # missing in a .venv made before the course's kernel
        subprocess.run([str(PYTHON), "-m", "coursekit.kernel"], check=True, stdout=subprocess.DEVNULL)


# What each Lab leaves out of nbgrader, and why. A learner's Lab has no exchange or gradebook,
# so nbgrader's assignment and course lists only show errors there, and its formgrader and
# "Create Assignment" are an instructor's: the learner's Lab has none of nbgrader (its
# self-checks, the start page's progress and `autograder check` are the learner's tools).
# nbgrader's Validate button runs a notebook's autograder test cells, which in a learner's copy
# hold no tests (the hidden suite is the instructor's), so it answers "passes all the tests"
# for an untouched lesson: neither Lab has it. `autograder check NOTEBOOK` runs the hidden tests.
NBGRADER = "nbgrader.server_extensions."
LAB_MODES = {
    "learner": {
        "server": [NBGRADER + name for name in ("formgrader", "validate_assignment", "assignment_list", "course_list")],
        "lab": ["@jupyter/nbgrader"],
    },
    "instructor": {
        "server": [NBGRADER + "validate_assignment"],
        "lab": ["@jupyter/nbgrader:validate-assignment"],
    },
}
# Both: Lab's offer to fetch Jupyter's news from the internet, noise in an offline course.
NEWS = "@jupyterlab/apputils-extension:announcements"
INSTRUCTOR_FLAG = "--instructor"


def lab_config(mode: str) -> Path:
    """A Jupyter config folder, read before every other one (JUPYTER_CONFIG_PATH), that turns
    off what ``LAB_MODES[mode]`` names for this launch only: the user's own settings
    (JUPYTER_CONFIG_DIR) and the installed configuration are left as they are."""
    folder = VENV / "lab-config" / mode
    files = {
        folder / "jupyter_server_config.json": {
            "ServerApp": {"jpserver_extensions": {name: False for name in LAB_MODES[mode]["server"]}}
        },
        folder / "labconfig" / "page_config.json": {
            "disabledExtensions": {name: True for name in [*LAB_MODES[mode]["lab"], NEWS]}
        },
    }
    for path, content in files.items():
        text = json.dumps(content, indent=1) + "\n"
        if not path.exists() or path.read_text(encoding="utf-8") != text:  # a shared .venv may be read-only
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    return folder


def lab_environment(mode: str) -> dict[str, str]:
    # The venv's commands first on PATH: the terminals Lab opens, and tools that run others by
    # name (nbgrader's formgrader runs `alembic`), find the course's, as after `activate`.
    env = {**os.environ, "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")])}
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
        [str(lab_config(mode)), *filter(None, [os.environ.get("JUPYTER_CONFIG_PATH")])]
    )
    return env


def lab_command(args: list[str]) -> list[str]:
    # 127.0.0.1 only: the course never listens beyond loopback. The root is the course's folder,
    # so files the lessons point to outside notebooks/ (datasets/README.md) open from the browser.
    command = [
        str(BIN / "jupyter"),
        "lab",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.root_dir={ROOT}",
        "notebooks/START.ipynb",
        *args,
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI run as root
        command.append("--allow-root")
    return command


def lab(args: list[str]) -> int:
    ensure_environment()
    mode = "instructor" if INSTRUCTOR_FLAG in args else "learner"
    rest = [arg for arg in args if arg != INSTRUCTOR_FLAG]
    if mode == "instructor":
        print("course: the instructor's Lab, with nbgrader's tools (menu Nbgrader > Formgrader)", flush=True)
    command, env = lab_command(rest), lab_environment(mode)
    if os.name == "posix":  # Lab replaces this process, so a signal sent to it (a test's, a
        os.chdir(ROOT)  # service manager's) reaches the server, which stops its kernels
        os.execve(command[0], command, env)
    return subprocess.call(command, cwd=ROOT, env=env)


QUICK_FLAG = "--quick"
# pytest-xdist workers per core. The heavy tests mostly wait (a notebook's demos sleep and
# serve, a class's gradings wait on time limits, a Lab on its kernel): in a full run on 2 cores
# the tests' wall times summed to 3722 s and their CPU (each with all it started) to 2069 s. Two
# workers a core would use that idle time, but do not pay: beside other engineers' work, at a
# load of 10 to 24, timing-bound checks failed; on a quiet 2-core machine (issue 23, 4 workers):
# 25 min 41 s of pytest against 27 min 58 s with 2, the CPU 3091 s against 2892 (a Lab and a
# Chromium per worker), and 5 timing-bound failures (two notebooks over their time limit, the
# SSE heartbeat's canary, a kernel killed before it removed its scratch folder).
# Tests that share a costly result (a lesson's graded class, its notebook runs) carry an
# xdist_group mark and run in one worker (`--dist loadgroup`), in the order tests/conftest.py
# puts them, heaviest first (so no reordering by xdist).
WORKERS_PER_CORE = 1
PARALLEL = ["-n", str(WORKERS_PER_CORE * (os.cpu_count() or 1)), "--dist", "loadgroup", "--no-loadscope-reorder"]
# The quick tier: what needs no notebook run and no grading of a whole class (marked `slow`).
QUICK = ["-m", "not slow"]


def test_arguments(args: list[str]) -> list[str]:
    """pytest's arguments for ``course.py test ARGS``: the defaults first, so that the user's
    own (``-n 0``, another ``-m``) come later and win."""
    quick = QUICK_FLAG in args
    return [*PARALLEL, *(QUICK if quick else []), *[arg for arg in args if arg != QUICK_FLAG]]


# Lint, format and type checks, run before the tests (seconds), each configured in pyproject.toml;
# docs/AUTHORING.md says how to run each alone and fix what it reports.
STATIC_CHECKS = {
    "ruff check": ["-m", "ruff", "check", "."],
    "ruff format --check": ["-m", "ruff", "format", "--check", "."],
    "mypy": ["-m", "mypy"],
}


def static_checks() -> int:
    """Run every check (so one run reports all they find); 1 if any found something."""
    failed = []
    for name, arguments in STATIC_CHECKS.items():
        print(f"course: {name}", flush=True)
        if subprocess.call([str(PYTHON), *arguments], cwd=ROOT) != 0:
            failed.append(name)
    if failed:
        print(
            f"course: {', '.join(failed)} found problems (above); no test was run. "
            "docs/AUTHORING.md, 'Lint, format and type checks', says how to fix them.",
            flush=True,
        )
        return 1
    return 0


def test(args: list[str]) -> int:
    ensure_environment()
    return static_checks() or subprocess.call([str(PYTHON), "-m", "pytest", *test_arguments(args)], cwd=ROOT)


COMMANDS = {"lab": lab, "test": test}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__.strip())
        return 2
    return COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
