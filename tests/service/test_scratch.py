"""Scratch folders (``scratch``): a worker killed with SIGKILL leaves its folder, learners'
notebooks inside; the next worker to start removes it, and never a living worker's."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from autograder.service.scratch import LOCK, PREFIX, ScratchFolder, remove_dead

HOLD = """
import sys, time
from pathlib import Path
from autograder.service.scratch import ScratchFolder
folder = ScratchFolder(Path(sys.argv[1]))
(folder.path / "submission").mkdir()
(folder.path / "submission" / "alice.ipynb").write_text("a learner's notebook")
print(folder.path, flush=True)
time.sleep(600)
"""


def worker_holding_a_notebook(root: Path) -> tuple[subprocess.Popen, Path]:
    worker = subprocess.Popen([sys.executable, "-c", HOLD, str(root)], stdout=subprocess.PIPE, text=True)
    with worker.stdout:  # its one line read, the pipe is closed (it writes nothing more)
        return worker, Path(worker.stdout.readline().strip())


def test_the_folders_of_killed_workers_are_removed_and_the_living_ones_kept(tmp_path):
    killed, dead = worker_holding_a_notebook(tmp_path)
    living, alive = worker_holding_a_notebook(tmp_path)
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        mine = ScratchFolder(tmp_path)  # this process: a worker starting up
        assert (dead / "submission" / "alice.ipynb").exists()  # SIGKILL cleans nothing up
        assert remove_dead(tmp_path) == [dead]
        assert not dead.exists() and (alive / "submission" / "alice.ipynb").exists() and (mine.path / LOCK).exists()
        assert remove_dead(tmp_path) == []  # and again: the living stay
    finally:
        living.kill()
        living.wait()
    assert remove_dead(tmp_path) == [alive]


def test_a_folder_being_created_is_left_alone_and_other_things_in_the_root_too(tmp_path):
    creating = tmp_path / f"{PREFIX}new"
    creating.mkdir()  # a worker between mkdtemp and its lock
    (tmp_path / "unrelated").mkdir()
    (tmp_path / f"{PREFIX}a-file").write_text("not a folder")
    assert remove_dead(tmp_path) == []


def test_a_grader_starting_up_removes_dead_workers_scratch(tmp_path):
    from autograder.service.grading import Grader
    from autograder.service.settings import Settings

    root = tmp_path / "scratch"
    root.mkdir()
    killed, dead = worker_holding_a_notebook(root)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    grader = Grader(
        Settings(data=str(tmp_path / "data"), scratch=str(root), accept_risk=True), store=None, announce=lambda *_: None
    )
    assert not dead.exists()
    assert grader.scratch.parent == root and (grader.scratch / LOCK).exists()
