"""What a worker keeps from the sandboxes it grades in, proved by a real sandbox's probe.

With namespaces (``root``, ``userns``) a sandbox sees a filesystem built for it, and the
service's files are not in it. With a user id alone (``uid``, graded only with --accept-risk)
it sees what every user may read: so the service keeps its data and scratch folders to itself.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from autograder.jail import Jail, probe
from autograder.service.grading import sandbox_hidden
from autograder.service.settings import Settings, private_folder


@pytest.mark.skipif(os.geteuid() != 0, reason="a sandbox with a user id of its own needs a grader that is root")
def test_a_sandbox_with_its_own_user_id_cannot_read_the_database_or_other_submissions(tmp_path):
    # pytest's own folder is its owner's alone; an instructor's is often open to all users.
    folder = Path(tempfile.mkdtemp(prefix="service-", dir="/var/tmp"))
    folder.chmod(0o755)
    try:
        check_what_the_sandbox_reads(folder)
    finally:
        shutil.rmtree(folder)


def check_what_the_sandbox_reads(tmp_path: Path) -> None:
    settings = Settings(data=str(tmp_path / "data"))
    database = settings.make_folder() / "service.db"
    database.write_text("every notebook and token hash")
    scratch = private_folder(tmp_path / "scratch")
    theirs = scratch / "theirs" / "bob.ipynb"
    theirs.parent.mkdir()
    theirs.write_text("{}")
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    hidden = sandbox_hidden(scratch / "mine" / "alice.ipynb", scratch, settings)
    assert probe(Jail(hidden=hidden, mode="uid"), sandbox, [str(database), str(theirs)])["visible"] == []
    # The same sandbox reads them where the folders are left as made with the usual umask.
    for folder in (settings.folder, scratch):
        folder.chmod(0o755)
    theirs.parent.chmod(0o755)
    assert probe(Jail(hidden=hidden, mode="uid"), sandbox, [str(database), str(theirs)])["visible"] != []


def test_a_worker_computes_the_references_answers_once_for_all_its_submissions(tmp_path):
    """The differential tests' inputs and the reference's answers are the same for every
    learner: the second submission a worker grades reads them, and computes none again."""
    from autograder.lessons import find_lesson
    from autograder.service.grading import Grader

    settings = Settings(data=str(tmp_path / "data"), scratch=str(tmp_path / "scratch"), accept_risk=True)
    grader = Grader(settings, store=None, announce=lambda *_: None)
    lesson = find_lesson("01")
    solution = lesson.solution.read_bytes()
    fixed = grader.suite(lesson.slug, 0)

    first = grader.grade("first", "alice", solution, fixed, version=0)
    shared = grader.answers / f"{lesson.slug}-0"
    written = {path.name: path.stat().st_mtime_ns for path in shared.glob("*.json")}
    second = grader.grade("second", "bob", solution, fixed, version=0)

    assert first.score == second.score == first.max_score > 0
    assert written, "the first submission shared no answers"
    assert {path.name: path.stat().st_mtime_ns for path in shared.glob("*.json")} == written
    assert not any(shared.glob("*.part"))
