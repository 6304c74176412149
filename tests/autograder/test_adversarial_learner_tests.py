"""Attacks on the grading of a learner's own tests (lesson 07's `invoice_tests`).

That exercise is graded by running the learner's tests against the correct app and against
hidden variants of it (``autograder.learner_tests``). A learner who cannot write tests that
catch the variants might try tests that fail on everything, pass on everything, count their
runs, look for the app's identity, forge verdicts or crash. Each attack in
the lesson's attacks.toml replaces the exercise cell of the *learner* notebook (the other
exercises stay unsolved, so a class grades in seconds), beside an honest notebook (the learner
notebook with the reference tests). The class is graded through the command line in two
modes: root (the full jail) and not root without user namespaces (no confinement, as the
user nobody). Each attack the mode stops must score nothing for the exercise, the honest one
full marks, and nothing may be left running or changed on disk.
"""

from __future__ import annotations

import json
import sys
import time
import tomllib

import nbformat
import pytest

from autograder.lessons import ROOT, find_lesson
from tests.autograder.grading_modes import MODES, class_folders, give_to, with_exercise
from tests.autograder.test_adversarial import WATCHED, _run, digest, leftovers

LESSON = find_lesson("07")
TARGET = "invoice_tests"
ATTACKS = tomllib.loads(LESSON.attacks.read_text())["attack"]
PLAYED = [mode for mode in MODES if mode.name in ("root", "not-root-without-userns")]

pytestmark = pytest.mark.slow


def target_source(notebook) -> str:
    return next(
        cell.source for cell in notebook.cells if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == TARGET
    )


@pytest.fixture(scope="module", params=PLAYED, ids=[mode.name for mode in PLAYED])
def graded_class(request, tmp_path_factory):
    mode = request.param
    workdir, folder, out = class_folders(mode, tmp_path_factory, "learner-tests")
    learner = nbformat.read(LESSON.release, as_version=4)
    honest = with_exercise(learner, TARGET, target_source(nbformat.read(LESSON.solution, as_version=4)))
    nbformat.write(honest, folder / "honest.ipynb")
    attacks = [attack for attack in ATTACKS if mode.confinement in attack.get("stopped_in", [mode.confinement])]
    for attack in attacks:
        nbformat.write(with_exercise(learner, TARGET, attack["source"]), folder / f"attack-{attack['name']}.ipynb")
    nbformat.write(honest, folder / "zz-honest-after-the-attacks.ipynb")
    give_to(workdir, mode)
    argv = ["-m", "autograder", "grade", str(folder), "--out", str(out), "--timeout", "300"]
    if not mode.protective:
        argv.append("--accept-risk")
    project_before = digest(*(ROOT / name for name in WATCHED))
    completed = _run(mode, argv, sys.executable, workdir, timeout=1200)
    time.sleep(1)
    results = {path.stem: json.loads(path.read_text()) for path in out.glob("*.json")}
    for name, result in sorted(results.items()):
        print(
            f"[{mode.name}] {name}: "
            f"{result['exercises'][TARGET]['score']:g}/{result['exercises'][TARGET]['max_score']:g}"
        )
    return {
        "mode": mode,
        "attacks": attacks,
        "completed": completed,
        "results": results,
        "project_before": project_before,
        "workdir": workdir,
    }


def test_the_class_is_graded(graded_class):
    completed = graded_class["completed"]
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert len(graded_class["results"]) == len(graded_class["attacks"]) + 2


def test_honest_tests_earn_every_point(graded_class):
    for honest in ("honest", "zz-honest-after-the-attacks"):
        exercise = graded_class["results"][honest]["exercises"][TARGET]
        assert exercise["score"] == exercise["max_score"] > 0, graded_class["results"][honest]["problems"]


@pytest.mark.parametrize("attack", ATTACKS, ids=[attack["name"] for attack in ATTACKS])
def test_an_attack_earns_nothing(attack, graded_class):
    if attack not in graded_class["attacks"]:
        pytest.skip(f"not stopped in this mode ({graded_class['mode'].confinement})")
    result = graded_class["results"][f"attack-{attack['name']}"]
    assert result["exercises"][TARGET]["score"] == 0, attack["why"]


def test_nothing_is_left_running_or_changed(graded_class):
    assert leftovers(graded_class["workdir"]) == []
    assert digest(*(ROOT / name for name in WATCHED)) == graded_class["project_before"]
