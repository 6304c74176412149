"""The jail as a sandbox lives in it, and what the grader does where there is none."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from autograder import grade as grading
from autograder import jail, lessons
from autograder.lessons import PRIVATE, find_lesson
from autograder.submission import Submission
from autograder.types import Cell, Limits

MODE = jail.confinement().mode
needs_namespaces = pytest.mark.skipif(
    not jail.confinement().protective, reason=f"no namespaces here: {jail.confinement().describe()}"
)

LOOK_AROUND = """
import json, os, signal, socket
def look(grader, hidden):
    facts = {"pid": os.getpid(), "uid": os.getuid(), "cwd": os.getcwd(),
             "interfaces": [name for _, name in socket.if_nameindex()],
             "processes": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
             "hidden": {path: os.path.isdir(path) and os.listdir(path) for path in hidden}}
    try:
        os.kill(grader, 0)
        facts["signal_grader"] = "allowed"
    except OSError as exc:
        facts["signal_grader"] = type(exc).__name__
    for path in ("/usr/lib/python-was-here", os.path.join(os.path.dirname(json.__file__), "was-here")):
        try:
            open(path, "w").close()
            facts.setdefault("written", []).append(path)
        except OSError:
            pass
    open("scratch-is-writable", "w").write("yes")
    return facts
"""


@needs_namespaces
@pytest.mark.anyio
async def test_a_sandbox_sees_its_own_world():
    sub = await Submission.start(Limits(), jail.Jail(hidden=tuple(str(path) for path in PRIVATE), mode=MODE))
    try:
        [report] = await sub.load([Cell("look", LOOK_AROUND, "exercise")])
        assert report.status == "ok", report.message
        facts = await sub.call("look", os.getpid(), [str(path) for path in PRIVATE])
    finally:
        await sub.close()
    assert facts["pid"] == 1 and facts["processes"] == [1]  # alone in its PID namespace
    assert facts["signal_grader"] == "ProcessLookupError"  # the grader has no pid in there
    assert facts["interfaces"] == ["lo"]
    assert facts["cwd"] == str(sub.scratch)
    assert not any(facts["hidden"].values()), facts["hidden"]  # solutions, suites, tests: empty
    assert "written" not in facts  # the system and the interpreter are read-only
    if MODE == "root":
        assert facts["uid"] == jail.uid_for(sub.process.pid)


def test_the_first_line_says_what_this_machine_gives(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "autograder", "check", str(find_lesson("01").release)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    first = completed.stdout.splitlines()[0]
    expected = "confined" if jail.confinement().protective else "UNCONFINED"
    assert expected in first and jail.DESCRIPTION[MODE] in first
    assert "Score: 0 / " in completed.stdout  # the learner's feedback, not the class summary


@pytest.mark.skipif(os.geteuid() != 0, reason="about a grader running as root")
def test_root_never_runs_a_notebook_with_its_own_rights(tmp_path):
    """Where root can neither make namespaces nor give the sandbox a user id that can run
    Python, grading stops, consent or not."""
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder",
            "grade",
            str(find_lesson("01").release),
            "--out",
            str(tmp_path),
            "--accept-risk",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "AUTOGRADER_CONFINEMENT": "none"},
    )
    assert completed.returncode == 1
    assert "Refusing to run a notebook as root" in completed.stderr
    assert not list(tmp_path.iterdir())


REWRITER = """
import glob
for path in glob.glob({folder!r} + "/*.py"):
    with open(path, "w") as handle:
        handle.write("from autograder.expect import graded\\n"
                     "@graded(exercise='json_app', points=100)\\n"
                     "def test_answers_200_with_method_and_path():\\n    pass\\n")
async def json_app(scope, receive, send):
    raise NotImplementedError()
"""


def test_a_suite_rewritten_on_disk_mid_run_changes_no_score(tmp_path, monkeypatch):
    """Unconfined on purpose (the worst case): the first submission rewrites the suite's files,
    and the rest of the class is graded with the suite as it was when the run began."""
    lesson = find_lesson("01")
    suites = tmp_path / "suites"
    shutil.copytree(lesson.suite, suites / lesson.slug)
    monkeypatch.setattr(lessons, "FOLDER", suites)
    monkeypatch.setattr(jail, "confinement", lambda: jail.Confinement("none"))
    folder = tmp_path / "class"
    folder.mkdir()
    solution = nbformat.read(lesson.solution, as_version=4)
    rewriter = nbformat.from_dict(json.loads(json.dumps(solution)))
    for cell in rewriter.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "json_app":
            cell.source = REWRITER.format(folder=str(suites / lesson.slug))
    nbformat.write(rewriter, folder / "a-rewriter.ipynb")
    nbformat.write(solution, folder / "b-honest.ipynb")
    (folder / "c-learner.ipynb").write_bytes(lesson.release.read_bytes())
    before = {path.name: path.read_text() for path in (suites / lesson.slug).glob("*.py")}

    results = {result.submission: result for result in grading.grade_all(sorted(folder.glob("*.ipynb")), jobs=1)}

    after = {path.name: path.read_text() for path in (suites / lesson.slug).glob("*.py")}
    assert after != before  # the attack did rewrite the files
    assert results["b-honest"].score == results["b-honest"].max_score > 0
    assert results["c-learner"].score == 0
    assert results["a-rewriter"].exercise_scores()["json_app"][0] == 0
    assert results["a-rewriter"].max_score == results["b-honest"].max_score


def test_nothing_is_bound_over_the_views_own_folders():
    """A folder to read that holds /tmp (a venv at / or /tmp itself) would bring every other
    user's files back into the view: it is dropped, and what is inside /tmp is kept."""
    from autograder.sandbox import confine

    inside = tempfile.mkdtemp(prefix="readable-", dir="/tmp")
    try:
        folders, _ = confine.readable_paths(["/", "/tmp", "/dev", "/dev/shm", inside])
    finally:
        os.rmdir(inside)
    assert not {"/", "/tmp", "/dev", "/dev/shm"} & set(folders)
    assert inside in folders


@needs_namespaces
def test_a_folder_under_tmp_reached_through_a_symlink_is_readable_and_its_hidden_parts_stay_hidden(monkeypatch):
    """The project's folders may live under /tmp (bound after the sandbox's private /tmp) and be
    reached through a symlink (bound at their real place, the link made again): what is hidden
    at the real place is hidden through the link too."""
    folder = Path(tempfile.mkdtemp(prefix="linked-course-", dir="/tmp"))
    try:
        folder.chmod(0o755)
        (folder / "real" / "secret").mkdir(parents=True)
        (folder / "real" / "secret" / "answer").write_text("hidden")
        (folder / "real" / "public").write_text("readable")
        (folder / "link").symlink_to(folder / "real")
        scratch = folder / "scratch"
        scratch.mkdir()
        readable = jail.readable_for_sandbox()
        monkeypatch.setattr(jail, "readable_for_sandbox", lambda: [*readable, str(folder / "link")])
        probed = jail.probe(
            jail.Jail(hidden=(str(folder / "real" / "secret"),), mode=MODE),
            scratch,
            [str(folder / "link" / "secret" / "answer"), str(folder / "real" / "secret" / "answer")],
        )
    finally:
        shutil.rmtree(folder)
    assert probed.unready == "" and probed.seen["unseen"] == []  # the link, and what it leads to, are there
    assert probed.seen["visible"] == []


# A process whose main thread has exited alone (the exit system call, not exit_group) shows as
# a zombie in /proc while its other threads still run: ending a sandbox must not take it for
# dead. It plays a sandbox's leftover in `uid` mode (found by its user id alone): it takes the
# user id Jail.end looks for, and a thread of it keeps writing to a file.
EXITED_LEADER = """
import ctypes, os, sys, threading, time
os.setgid(int(sys.argv[1])); os.setuid(int(sys.argv[1]) + os.getpid())
def beat():
    while True:
        with open(sys.argv[2], "a") as out:
            out.write(".")
        time.sleep(0.01)
threading.Thread(target=beat).start()
time.sleep(0.2)
ctypes.CDLL(None, use_errno=True).syscall(60, 0)  # SYS_exit on x86-64: this thread alone
"""


@pytest.mark.skipif(os.geteuid() != 0 or os.uname().machine != "x86_64", reason="plays another user (root, x86-64)")
def test_ending_a_sandbox_kills_a_process_whose_leader_thread_has_exited():
    folder = Path(tempfile.mkdtemp())  # not under pytest's, which only root may enter
    folder.chmod(0o777)
    beats = folder / "beats"
    process = subprocess.Popen([sys.executable, "-c", EXITED_LEADER, str(jail.FIRST_UID), str(beats)])
    try:
        for _ in range(100):  # until the leader is a zombie and its thread still beats
            status = Path(f"/proc/{process.pid}/status").read_text()
            if "\nState:\tZ" in status and beats.stat().st_size > 0:
                break
            subprocess.run(["sleep", "0.05"])
        else:
            pytest.fail("the leader thread did not exit alone")
        size = beats.stat().st_size
        subprocess.run(["sleep", "0.1"])
        assert beats.stat().st_size > size, "its thread should still be running"
        assert jail.Jail(mode="uid").end(process.pid) >= 1
        process.wait(timeout=10)
        size = beats.stat().st_size
        subprocess.run(["sleep", "0.2"])
        assert beats.stat().st_size == size, "its thread still runs"
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(folder)


def a_process_of_its_own_group() -> subprocess.Popen[bytes]:
    """A process that leads its own process group, as a sandbox and a grading worker do."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)


def test_ending_a_runs_sandboxes_ends_one_the_worker_did_not(tmp_path):
    ledger = jail.Jail(ledger=str(tmp_path / "sandboxes.txt"), mode="none")
    left = a_process_of_its_own_group()
    ledger.record(left.pid, tmp_path / "scratch")
    try:
        ledger.end_all()
        assert left.wait(timeout=10) == -9
    finally:
        left.kill()
        left.wait()


def test_ending_a_runs_sandboxes_spares_a_process_that_now_has_an_ended_sandboxs_pid(tmp_path, monkeypatch):
    # A pid is reused once its process is gone, within minutes on a busy machine: the grading
    # run's end must not end another run's sandbox (or anything else) that now has the pid of
    # one of its own sandboxes, ended long before.
    ledger = jail.Jail(ledger=str(tmp_path / "sandboxes.txt"), mode="none")
    ended, reused = a_process_of_its_own_group(), a_process_of_its_own_group()
    try:
        ledger.record(ended.pid, tmp_path / "ended")
        ledger.end(ended.pid)
        assert ended.wait(timeout=10) == -9
        # This process got the pid of a sandbox recorded earlier, which then ended unrecorded
        # (its worker killed): the start time recorded is not this process's.
        monkeypatch.setattr(jail, "_start_time", lambda pid: "1")
        ledger.record(reused.pid, tmp_path / "reused")
        monkeypatch.undo()
        ledger.end_all()
        assert reused.poll() is None, "a process that is not the run's sandbox was killed"
    finally:
        for process in (ended, reused):
            process.kill()
            process.wait()
