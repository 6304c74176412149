"""A worker's scratch folder, and the removal of those whose worker died.

A worker writes each notebook it grades (a learner's work) into a folder of its own and
removes it after; a worker killed mid-job (SIGKILL, the out-of-memory killer, a power cut)
leaves it behind. So each worker's folder holds a lock for the worker's life, an exclusive
``flock`` on ``.alive`` that the kernel drops when the process dies, however it dies, and every
worker at start-up removes the folders beside its own whose lock it can take. A lock, not a
pid: pids are reused, and a folder shared between machines has pids of other machines.

    root/grading-scratch-<random>/.alive          locked while its worker lives
                                 /<submission>/   the notebook being graded
                                 /answers-<...>/  the reference's answers (``grading``)
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
from pathlib import Path

PREFIX = "grading-scratch-"
LOCK = ".alive"
# A folder without its lock file yet is a worker between creating it and locking it, unless
# it is older than this (then its worker died in between).
UNLOCKED_GRACE = 60.0


class ScratchFolder:
    """This worker's folder under ``root``, locked until the process ends (``fd`` stays open)."""

    def __init__(self, root: Path) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=PREFIX, dir=root))  # mode 0700: its owner's alone
        self.fd = os.open(self.path / LOCK, os.O_CREAT | os.O_RDWR, 0o600)  # not inherited by children
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def alive(folder: Path) -> bool:
    """Whether a worker holds ``folder``'s lock (or may be about to take it)."""
    try:
        fd = os.open(folder / LOCK, os.O_RDWR)
    except FileNotFoundError:
        return time.time() - folder.stat().st_mtime < UNLOCKED_GRACE
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # drops the lock, if it was taken here
    return False


def remove_dead(root: Path) -> list[Path]:
    """Remove the scratch folders under ``root`` whose worker is dead; return them. Only this
    user's: another user's are not ours to judge (nor readable)."""
    removed = []
    for folder in sorted(root.glob(PREFIX + "*")):
        try:
            if folder.is_symlink() or not folder.is_dir() or folder.stat().st_uid != os.getuid() or alive(folder):
                continue
        except OSError:  # gone meanwhile (another worker removed it), or not readable
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed
