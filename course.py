#!/usr/bin/env python3
"""The course's two entry points, runnable with nothing but Python 3.11.

    python3 course.py lab     set everything up, then open the course in JupyterLab
    python3 course.py test    set everything up, then run the whole test suite

"Set everything up" means: a virtual environment in .venv, filled from the lock file
(requirements.lock) and the project itself, redone only when the lock or pyproject.toml
changes. This file uses the standard library only, because it runs before anything is
installed.
"""

from __future__ import annotations

import hashlib
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


def _wanted_stamp() -> str:
    digest = hashlib.sha256()
    for path in (LOCK, ROOT / "pyproject.toml"):
        digest.update(path.read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def ensure_environment() -> None:
    """Create .venv and install the locked dependencies, unless that is already done."""
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"The course is pinned to Python 3.11; this is {sys.version.split()[0]}. "
                 "Run this file with a Python 3.11 interpreter (for example python3.11 course.py ...).")
    wanted = _wanted_stamp()
    if STAMP.exists() and STAMP.read_text() == wanted and PYTHON.exists():
        return
    if not PYTHON.exists():
        print("course: creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    print("course: installing the locked dependencies into .venv (first time only)", flush=True)
    pip = [str(PYTHON), "-m", "pip", "--disable-pip-version-check", "install", "--quiet"]
    subprocess.run([*pip, "-r", str(LOCK)], check=True)
    subprocess.run([*pip, "--no-deps", "--no-build-isolation", "-e", str(ROOT)], check=True)
    STAMP.write_text(wanted)


def lab(args: list[str]) -> int:
    ensure_environment()
    # 127.0.0.1 only: the course never listens beyond loopback.
    command = [str(BIN / "jupyter"), "lab", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.root_dir={ROOT}", "notebooks/START.ipynb", *args]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI run as root
        command.append("--allow-root")
    # The venv's commands first on PATH: the terminals Lab opens, and tools that run others by
    # name (nbgrader's formgrader runs `alembic`), find the course's, as after `activate`.
    env = {**os.environ, "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")])}
    return subprocess.call(command, cwd=ROOT, env=env)


def test(args: list[str]) -> int:
    ensure_environment()
    return subprocess.call([str(PYTHON), "-m", "pytest", *args], cwd=ROOT)


COMMANDS = {"lab": lab, "test": test}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__.strip())
        return 2
    return COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
