"""Attacks on the grader: each costs the attacker its own points and nothing else.

One class is graded through the command line: an honest solution, the untouched learner
notebook, and one notebook per attack in attacks/01_asgi_by_hand.toml. Then: every attack
scores no more than it honestly earns, the honest ones are graded right, nothing the class
started is still running, the results and the hidden suite are as the grader left them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import nbformat
import pytest

from autograder import jail
from autograder.lessons import find_lesson

LESSON = find_lesson("01")
ISOLATED = jail.confinement() == jail.FULL
ATTACKS = tomllib.loads((Path(__file__).parent / "attacks" / "01_asgi_by_hand.toml").read_text())["attack"]
RUNNABLE = [attack for attack in ATTACKS if ISOLATED or not attack.get("needs_isolation")]
TARGET = "json_app"


def attacked(solution, source: str):
    notebook = copy.deepcopy(solution)
    for cell in notebook.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == TARGET:
            cell.source = source
    return notebook


def digest(folder: Path) -> dict[str, str]:
    return {str(path): hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.rglob("*")) if path.is_file()}


def leftovers() -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
        zombie = "State:\tZ" in status
        if not zombie and (uid >= jail.FIRST_UID or "autograder.sandbox" in cmdline):
            found.append(f"{entry} uid={uid} {cmdline[:120]}")
    return found


@pytest.fixture(scope="module")
def attacked_class(tmp_path_factory):
    folder, out = tmp_path_factory.mktemp("attacked-class"), tmp_path_factory.mktemp("attacked-grades")
    solution = nbformat.read(LESSON.solution, as_version=4)
    nbformat.write(solution, folder / "honest.ipynb")
    (folder / "learner.ipynb").write_bytes(LESSON.release.read_bytes())
    for attack in RUNNABLE:
        nbformat.write(attacked(solution, attack["source"]), folder / f"attack-{attack['name']}.ipynb")
    suite_before = digest(LESSON.suite)
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", str(folder), "--out", str(out),
         "--cell-timeout", "3", "--call-timeout", "3", "--timeout", "120"],
        capture_output=True, text=True, timeout=900,
    )
    seconds = time.monotonic() - started
    results_then = digest(out)
    time.sleep(3)  # give anything left behind the time to try rewriting results
    return {
        "completed": completed, "out": out, "seconds": seconds, "results_then": results_then,
        "suite_before": suite_before, "results": {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")},
    }


def test_the_whole_class_is_graded(attacked_class):
    completed = attacked_class["completed"]
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert len(attacked_class["results"]) == len(RUNNABLE) + 2
    assert "isolation: " in completed.stdout


def test_honest_submissions_are_graded_right(attacked_class):
    results = attacked_class["results"]
    assert results["honest"]["score"] == results["honest"]["max_score"] > 0
    assert results["learner"]["score"] == 0


@pytest.mark.parametrize("attack", ATTACKS, ids=[attack["name"] for attack in ATTACKS])
def test_an_attack_scores_no_more_than_it_honestly_earns(attack, attacked_class):
    if attack not in RUNNABLE:
        pytest.skip(f"only the OS-level jail stops this attack; here: {jail.confinement()}")
    results = attacked_class["results"]
    honest = results["honest"]
    result = results[f"attack-{attack['name']}"]
    earned_without_target = honest["max_score"] - honest["exercises"][TARGET]["max_score"]
    assert result["exercises"][TARGET]["score"] == 0, attack["why"]
    assert result["score"] <= earned_without_target, attack["why"]
    assert result["max_score"] == honest["max_score"]


def test_nothing_the_class_started_is_still_running(attacked_class):
    assert leftovers() == []


def test_results_are_not_rewritten_after_grading(attacked_class):
    assert digest(attacked_class["out"]) == attacked_class["results_then"]


def test_the_hidden_suite_is_unchanged(attacked_class):
    assert digest(LESSON.suite) == attacked_class["suite_before"]
