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
from tests.conftest import run_async


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
    assert probe(Jail(hidden=hidden, mode="uid"), sandbox, [str(database), str(theirs)]).seen["visible"] == []
    # The same sandbox reads them where the folders are left as made with the usual umask.
    for folder in (settings.folder, scratch):
        folder.chmod(0o755)
    theirs.parent.chmod(0o755)
    assert probe(Jail(hidden=hidden, mode="uid"), sandbox, [str(database), str(theirs)]).seen["visible"] != []


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


def test_a_grader_error_is_kept_for_retry_and_shown_to_the_instructor_never_as_a_score(settings, people, monkeypatch):
    """A worker whose canary is not graded (its sandbox never became ready) stores the
    submission as a grader error: the learner reads "not graded", no score; the instructor sees
    it with the reason and can have it graded again, which then gives the real score."""
    import httpx
    from asgi_lifespan import LifespanManager

    from autograder import grade
    from autograder.lessons import find_lesson
    from autograder.service.app import create_app
    from autograder.service.grading import Grader
    from autograder.service.store import Store

    reason = "the sandbox did not become ready (it ended (exit status 1) before it was ready: ModuleNotFoundError)"
    real = grade.run_worker

    async def scenario() -> dict:
        app = create_app(settings)
        store = Store.connect(settings.database, pooled=False)
        grader = Grader(settings, store, announce=lambda *_: None)
        seen = {}
        async with LifespanManager(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
                alice, prof = people.header(people.alice), people.header(people.prof)
                accepted = (
                    await client.post(
                        "/api/submissions", content=find_lesson("01").solution.read_bytes(), headers=alice
                    )
                ).json()
                monkeypatch.setattr(grade, "run_worker", lambda *args, **kwargs: {"grader_error": reason})
                seen["outcome"] = await grader.handle(accepted["id"])
                seen["learner"] = (await client.get(accepted["status_url"], headers=alice)).json()
                seen["class"] = (await client.get("/api/instructor/class", headers=prof)).json()
                seen["grades"] = (await client.get("/api/instructor/grades.csv", headers=prof)).text
                seen["retried"] = (await client.post("/api/instructor/retry", headers=prof)).json()
                seen["queued"] = (await client.get(accepted["status_url"], headers=alice)).json()["status"]
                monkeypatch.setattr(grade, "run_worker", real)  # the grader works again
                seen["again"] = await grader.handle(accepted["id"])
                seen["graded"] = (await client.get(accepted["status_url"], headers=alice)).json()
        await store.close()
        return seen

    seen = run_async(scenario())
    assert seen["outcome"].startswith("not graded: grader error")
    learner = seen["learner"]
    assert learner["status"] == "error" and learner["score"] is None
    assert "Not graded" in learner["feedback"] and "did not answer" not in learner["feedback"]
    assert learner["result"]["status"] == "not graded: grader error"
    view = seen["class"]
    assert view["counts"]["error"] == 1 and view["rows"] == []  # no score shown for it
    [failure] = view["grader_errors"]
    assert failure["learner"] == "alice" and reason in failure["reason"]
    assert "alice" not in seen["grades"]
    assert seen["retried"] == {"queued": 1} and seen["queued"] == "queued"
    assert seen["again"] == "done"
    graded = seen["graded"]
    assert graded["status"] == "done" and graded["score"] == graded["max_score"] > 0
