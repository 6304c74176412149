"""A lesson's files on disk: one folder per kernel, removed when the kernel stops.

    WORK = lesson_folder("lesson05")     # /tmp/lesson05-<pid>-<random>, the same for the whole kernel
    log = WORK.fresh("kill-test") / "log" # an empty folder for this run of the cell

Why it is built this way:

- **Removed when the kernel stops.** A kernel that shuts down (Lab's "Shut Down Kernel" or
  "Restart", nbclient at the end of a headless run) exits Python normally, which runs
  ``atexit`` handlers: the folder goes then. Only the process that made the folder removes it:
  a forked worker inherits the handler and must not take its parent's files with it.
- **A kernel that was killed** (SIGKILL, a crashed machine) runs no handler. Its pid is in
  the folder's name, so the next kernel that asks for a folder of the same lesson removes
  those whose kernel is gone.
- **Each cell starts clean.** Running one demo cell again must not find the files of its
  first run (a queue file holding the last run's jobs concludes the opposite). ``fresh(name)``
  empties the cell's own subfolder before it is used; a re-run of the cell that made
  ``lesson_folder`` keeps the kernel's folder, rather than leaving one more behind.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from pathlib import Path

__all__ = ["Scratch", "lesson_folder"]

_made: dict[str, Scratch] = {}  # prefix -> this kernel's folder


class Scratch:
    """A folder for one kernel's files: usable wherever a path is (``WORK / "x.db"``,
    ``tempfile.mkdtemp(dir=WORK)``, ``f"{WORK}"``), plus ``fresh``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"Scratch({str(self.path)!r})"

    def fresh(self, name: str) -> Path:
        """``name``, a subfolder emptied now: what a cell writes there starts from nothing
        each time the cell runs."""
        folder = self.path / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return folder


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive, and not ours to judge
    return True


def _sweep(prefix: str, root: Path) -> None:
    """Remove ``prefix``-folders left by kernels that are gone (killed before their exit)."""
    pattern = re.compile(rf"{re.escape(prefix)}-(\d+)-")
    for folder in root.glob(f"{prefix}-*"):
        found = pattern.match(folder.name)
        if found and folder.is_dir() and not _pid_alive(int(found.group(1))):
            shutil.rmtree(folder, ignore_errors=True)


def _remove(path: Path, owner: int) -> None:
    if os.getpid() == owner:  # not in a forked child that inherited the handler
        shutil.rmtree(path, ignore_errors=True)


def lesson_folder(prefix: str, *, mode: int = 0o700) -> Scratch:
    """This kernel's folder for ``prefix`` (``lesson05``), in the temporary folder; made on the
    first call, the same one afterwards, removed when the kernel exits. ``mode`` 0o755 lets a
    server that runs as another user (PostgreSQL run as root) reach it."""
    made = _made.get(prefix)
    if made is not None and made.path.is_dir():
        return made
    root = Path(tempfile.gettempdir())
    _sweep(prefix, root)
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}-{os.getpid()}-", dir=root))
    path.chmod(mode)
    atexit.register(_remove, path, os.getpid())
    _made[prefix] = Scratch(path)
    return _made[prefix]
