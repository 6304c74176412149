"""Attacks on the grader, in every way an instructor may run it: each attack costs the
attacker its own points and nothing else.

For each mode of ``grading_modes.MODES`` (root with the full jail; root from a venv made with
plain ``python3 -m venv``; root where namespaces are refused; not root with user namespaces;
not root without them) one class is graded through the command line: an honest solution,
the untouched learner notebook, one notebook per attack in attacks/01_asgi_by_hand.toml that
the mode stops (``stopped_in``), and a second honest solution. Then: the first line states the
mode; every attack scores no more than it honestly earns; the honest ones are graded right;
nothing the class started is still running; nothing on disk outside the sandboxes' scratch
folders changed (results, the class's files, the project: hidden suites, solutions, code).
Where the mode does not protect the hidden tests, grading refuses without --accept-risk.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import nbformat
import pytest

from autograder import jail
from autograder.lessons import ROOT, find_lesson
from tests.autograder.grading_modes import (
    MODES,
    Mode,
    class_folders,
    command,
    give_to,
    symlinked_venv,
    temporary_folder,
    with_exercise,
)

LESSON = find_lesson("01")
ATTACKS = tomllib.loads((Path(__file__).parent / "attacks" / "01_asgi_by_hand.toml").read_text())["attack"]
TARGET = "json_app"
ALL_MODES = [mode.confinement for mode in MODES]
# What no submission may change: the project as the grader reads it.
WATCHED = ("autograder", "coursekit", "datasets", "notebooks", "solutions", "tests")

pytestmark = pytest.mark.slow


def stops(attack: dict, mode: Mode) -> bool:
    return mode.confinement in attack.get("stopped_in", ALL_MODES)


def digest(*folders: Path) -> dict[str, str]:
    return {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in folders
        for path in sorted(folder.rglob("*"))
        # .course-progress.json: the self-checks' record of a notebook run (git ignores it)
        if path.is_file() and "__pycache__" not in path.parts and path.name != ".course-progress.json"
    }


def _process(pid: str) -> dict | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        namespace = os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    return {
        "pid": pid,
        "uid": int(fields["Uid"].split()[0]),
        "zombie": fields["State"].startswith("Z"),
        "init": fields.get("NSpid", "").split()[-1:] == ["1"],
        "cmdline": cmdline,
        "namespace": namespace,
    }


def leftovers(workdir: Path) -> list[str]:
    """Processes this class started that still run: sandboxes (their command line, the sandbox
    template's, names the class's temporary folder), and anything in their PID namespaces or
    under a sandbox's user id.
    (Other graders may be running on the machine: their processes are not this class's.)"""
    processes = [each for each in map(_process, filter(str.isdigit, os.listdir("/proc"))) if each]
    ours = os.readlink("/proc/self/ns/pid")
    named = str(temporary_folder(workdir))
    mine = {each["namespace"] for each in processes if each["init"] and named in each["cmdline"]}
    found = []
    for each in processes:
        if each["zombie"]:
            continue
        sandbox = "autograder.sandbox" in each["cmdline"]
        if sandbox and named not in each["cmdline"]:
            continue  # another grader's
        inside = each["namespace"] in mine
        by_uid = each["uid"] >= jail.FIRST_UID and each["namespace"] == ours
        if sandbox or inside or by_uid:
            found.append(f"{each['pid']} uid={each['uid']} {each['cmdline'][:120]}")
    return found


@pytest.fixture(scope="module", params=MODES, ids=[mode.name for mode in MODES])
def graded_class(request, tmp_path_factory):
    mode: Mode = request.param
    workdir, folder, out = class_folders(mode, tmp_path_factory, "adversarial")
    solution = nbformat.read(LESSON.solution, as_version=4)
    nbformat.write(solution, folder / "honest.ipynb")
    nbformat.write(solution, folder / "zz-honest-after-the-attacks.ipynb")
    (folder / "learner.ipynb").write_bytes(LESSON.release.read_bytes())
    attacks = [attack for attack in ATTACKS if stops(attack, mode)]
    for attack in attacks:
        nbformat.write(with_exercise(solution, TARGET, attack["source"]), folder / f"attack-{attack['name']}.ipynb")
    give_to(workdir, mode)
    python = str(symlinked_venv(workdir / "venv")) if mode.interpreter == "symlinked" else sys.executable
    argv = [
        "-m",
        "autograder",
        "grade",
        str(folder),
        "--out",
        str(out),
        "--cell-timeout",
        "3",
        "--call-timeout",
        "3",
        "--timeout",
        "120",
    ]
    refused = None
    if mode.confinement not in jail.PROTECTIVE:
        refused = _run(mode, argv, python, workdir, timeout=300)
        argv.append("--accept-risk")
    project_before = digest(*(ROOT / name for name in WATCHED))
    class_before = digest(folder)
    started = time.monotonic()
    completed = _run(mode, argv, python, workdir, timeout=900)
    seconds = time.monotonic() - started
    results_then = digest(out)
    time.sleep(3)  # give anything left behind the time to try rewriting results
    results = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    # What this mode printed first and what each submission scored (shown with pytest -s).
    print(f"\n[{mode.name}] {completed.stdout.splitlines()[0] if completed.stdout else completed.stderr[-300:]}")
    for name, result in sorted(results.items()):
        print(f"[{mode.name}]   {name}: {result['score']:g}/{result['max_score']:g}")
    return {
        "mode": mode,
        "attacks": attacks,
        "completed": completed,
        "refused": refused,
        "out": out,
        "seconds": seconds,
        "results_then": results_then,
        "project_before": project_before,
        "class_before": class_before,
        "folder": folder,
        "workdir": workdir,
        "results": results,
    }


def _run(mode: Mode, argv: list[str], python: str, workdir: Path, timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="opened-paths-") as stash:
        line, env = command(mode, argv, python, workdir, Path(stash))
        return subprocess.run(line, capture_output=True, text=True, env=env, cwd=workdir, timeout=timeout)


def test_the_whole_class_is_graded_and_the_mode_is_stated(graded_class):
    completed, mode = graded_class["completed"], graded_class["mode"]
    assert completed.returncode == 0, completed.stderr[-2000:]
    first = completed.stdout.splitlines()[0]
    assert first.startswith(f"isolation: {jail.DESCRIPTION[mode.confinement]}"), first
    assert len(graded_class["results"]) == len(graded_class["attacks"]) + 3


def test_without_consent_an_unprotective_mode_refuses(graded_class):
    refused = graded_class["refused"]
    if refused is None:
        pytest.skip("this mode protects the hidden tests: it grades without being asked twice")
    assert refused.returncode == 1
    assert "Refusing to grade" in refused.stderr and "--accept-risk" in refused.stderr


def test_honest_submissions_are_graded_right(graded_class):
    results = graded_class["results"]
    for honest in ("honest", "zz-honest-after-the-attacks"):
        assert results[honest]["score"] == results[honest]["max_score"] > 0, results[honest]["problems"]
    assert results["learner"]["score"] == 0


@pytest.mark.parametrize("attack", ATTACKS, ids=[attack["name"] for attack in ATTACKS])
def test_an_attack_scores_no_more_than_it_honestly_earns(attack, graded_class):
    if attack not in graded_class["attacks"]:
        pytest.skip(f"not stopped in this mode ({graded_class['mode'].confinement}): it is not graded here")
    results = graded_class["results"]
    honest = results["honest"]
    result = results[f"attack-{attack['name']}"]
    earned_without_target = honest["max_score"] - honest["exercises"][TARGET]["max_score"]
    assert result["exercises"][TARGET]["score"] == 0, attack["why"]
    assert result["score"] <= earned_without_target, attack["why"]
    assert result["max_score"] == honest["max_score"]


def test_nothing_the_class_started_is_still_running(graded_class):
    assert leftovers(graded_class["workdir"]) == []


def test_results_are_not_rewritten_after_grading(graded_class):
    assert digest(graded_class["out"]) == graded_class["results_then"]


def test_nothing_on_disk_outside_the_scratch_folders_changed(graded_class):
    assert digest(*(ROOT / name for name in WATCHED)) == graded_class["project_before"]
    assert digest(graded_class["folder"]) == graded_class["class_before"]
