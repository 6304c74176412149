"""Benchmark: ``autograder grade`` against ``nbgrader autograde`` on one class of lesson 01.

    .venv/bin/python scripts/benchmark_grading.py [--submissions 40] [--jobs N]
                                                  [--nbgrader-cell-timeout 10] [--keep DIR]

Builds, in a temporary folder, a class of lesson-01 submissions of five kinds:

    correct   the solution notebook
    partial   the solution with some exercises put back to the released stub
    wrong     the solution with one plausible mistake (autograder/lessons/01_asgi_by_hand/mistakes.toml)
    crashing  an exercise cell that ends its process (os._exit)
    looping   an exercise cell that never ends, or an exercise that loops when called

then grades it on this machine, in this run, with both tools as they run by default
(``autograder grade``: several submissions at once, one per CPU unless --jobs says otherwise;
``nbgrader autograde``: one notebook after another, each run whole in one kernel). It prints
both wall times and their ratio, the median seconds per submission of each, and every
submission's two scores side by side. Correct, partial and wrong submissions are honest: their
scores must agree, and the last line counts those that do not. Crashing and looping ones may
differ: nbgrader loses the whole notebook when its kernel dies or stops answering (a thread
spinning in the learner's code), where ``autograder grade`` loses only the exercise at fault.
With --keep, nbgrader's log is left in DIR/nbgrader-autograde.log.

This is not a test: it takes many minutes, and its times depend on the machine.
``NbgraderCourse`` and the notebook helpers are shared with tests/autograder/test_nbgrader.py.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import nbformat

from autograder import notebook
from autograder.lessons import ROOT, Lesson, find_lesson
from autograder.types import Limits

LESSON = find_lesson("01")
MISTAKES = LESSON.mistakes
PATTERN = ["correct", "partial", "wrong", "wrong", "partial", "correct", "wrong", "crashing", "looping", "wrong"]
HONEST = ("correct", "partial", "wrong")


# -- notebooks -----------------------------------------------------------------------------


def exercise_sources(nb) -> dict[str, str]:
    """grade_id -> source of each exercise cell."""
    exercises = set(notebook.exercise_ids(nb))
    return {
        cell.metadata["nbgrader"]["grade_id"]: cell.source
        for cell in nb.cells
        if cell.metadata.get("nbgrader", {}).get("grade_id") in exercises
    }


def with_sources(nb, sources: dict[str, str]):
    """A copy of ``nb`` whose exercise cells named in ``sources`` have those sources."""
    changed = copy.deepcopy(nb)
    for cell in changed.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in sources and cell.cell_type == "code":
            cell.source = sources[grade_id]
    return changed


def reverted(solution, released, exercises: list[str]):
    """The solution with ``exercises`` put back to what the learner was given."""
    stubs = exercise_sources(released)
    return with_sources(solution, {exercise: stubs[exercise] for exercise in exercises})


def submission(kind: str, n: int, solution, released) -> tuple[str, object]:
    """The n-th submission of ``kind``: (what it does, notebook)."""
    exercises = notebook.exercise_ids(solution)
    answers = exercise_sources(solution)
    exercise = exercises[n % len(exercises)]
    if kind == "correct":
        return "the solution", solution
    if kind == "partial":
        left = (exercises[n % len(exercises) :] + exercises[: n % len(exercises)])[: 1 + n % 4]
        return f"unsolved: {', '.join(left)}", reverted(solution, released, left)
    if kind == "wrong":
        mistakes = tomllib.loads(MISTAKES.read_text())["mistake"]
        mistake = mistakes[n % len(mistakes)]
        source = answers[mistake["exercise"]] + "\n\n# a plausible mistake:\n" + mistake["source"]
        return f"{mistake['exercise']}: {mistake['why'][:50]}", with_sources(solution, {mistake["exercise"]: source})
    if kind == "crashing":
        return f"os._exit in {exercise}", with_sources(
            solution, {exercise: answers[exercise] + "\n\nimport os\nos._exit(1)\n"}
        )
    if kind == "looping" and n % 2 == 0:
        return f"{exercise}'s cell never ends", with_sources(
            solution, {exercise: "while True:\n    pass\n\n" + answers[exercise]}
        )
    if kind == "looping":
        app = ("json_app", "echo_app", "router_app", "websocket_echo")[n % 4]
        looping = answers[app] + f"\n\nasync def {app}(scope, receive, send):\n    while True:\n        pass\n"
        return f"{app} loops when called", with_sources(solution, {app: looping})
    raise ValueError(kind)


def build_class(folder: Path, count: int, lesson: Lesson = LESSON) -> list[tuple[str, str, str]]:
    """Write ``count`` submissions to ``folder``; return (student, kind, what it does) for each."""
    solution = nbformat.read(lesson.solution, as_version=4)
    released = nbformat.read(lesson.release, as_version=4)
    folder.mkdir(parents=True, exist_ok=True)
    seen: dict[str, int] = {}
    built = []
    for i in range(count):
        kind = PATTERN[i % len(PATTERN)]
        seen[kind] = seen.get(kind, 0) + 1
        student = f"{kind}-{seen[kind]:02d}"
        what, nb = submission(kind, seen[kind] - 1, solution, released)
        nbformat.write(nb, folder / f"{student}.ipynb")
        built.append((student, kind, what))
    return built


# -- an nbgrader course ----------------------------------------------------------------------


class NbgraderCourse:
    """A copy of this course's nbgrader set-up in ``folder``: nbgrader_config.py and one lesson's
    source. Its gradebook, submissions and results stay in that folder."""

    def __init__(self, folder: Path, lesson: Lesson = LESSON) -> None:
        self.folder, self.lesson = folder, lesson
        (folder / "solutions").mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "nbgrader_config.py", folder)
        shutil.copytree(lesson.solution.parent, folder / "solutions" / lesson.slug, dirs_exist_ok=True)

    @property
    def release(self) -> Path:
        return self.folder / "notebooks" / self.lesson.slug / f"{self.lesson.slug}.ipynb"

    def run(self, *args: str) -> tuple[int, list[tuple[float, str]]]:
        """Run ``nbgrader ARGS`` here; return its exit code and its log, each line timed."""
        # nbgrader runs `alembic` from PATH to set up its gradebook: give it this environment's.
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        process = subprocess.Popen(
            [sys.executable, "-m", "nbgrader", *args],
            cwd=self.folder,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert process.stdout is not None
        log = [(time.monotonic(), line.rstrip("\n")) for line in process.stdout]
        return process.wait(), log

    def submit(self, student: str, path: Path) -> Path:
        target = self.folder / "nbgrader" / "submitted" / student / self.lesson.slug / f"{self.lesson.slug}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
        return target

    def exported_scores(self) -> dict[str, float]:
        """student -> total score, from ``nbgrader export``'s CSV."""
        code, log = self.run("export", "--to", "grades.csv")
        if code != 0:
            raise RuntimeError("nbgrader export failed:\n" + "\n".join(line for _, line in log[-20:]))
        with (self.folder / "grades.csv").open(newline="") as handle:
            return {
                row["student_id"]: float(row["score"])
                for row in csv.DictReader(handle)
                if row["assignment"] == self.lesson.slug
            }


# -- the benchmark ---------------------------------------------------------------------------


def run_autograder(folder: Path, out: Path, jobs: int | None) -> tuple[float, dict[str, dict]]:
    command = [
        str(Path(sys.executable).parent / "autograder"),
        "grade",
        str(folder),
        "--out",
        str(out),
        "--lesson",
        "01",
    ]
    started = time.monotonic()
    subprocess.run(command + (["--jobs", str(jobs)] if jobs else []), check=True, stdout=subprocess.DEVNULL)
    wall = time.monotonic() - started
    return wall, {path.stem: json.loads(path.read_text()) for path in out.glob("*.json")}


def run_nbgrader(course: NbgraderCourse, cell_timeout: int) -> tuple[float, dict[str, float], int]:
    """autograde the course's class; return wall time, seconds per student, exit code."""
    started = time.monotonic()
    code, log = course.run("autograde", course.lesson.slug, f"--Execute.timeout={cell_timeout}")
    ended = time.monotonic()
    (course.folder.parent / "nbgrader-autograde.log").write_text("\n".join(line for _, line in log) + "\n")
    marker = f"{os.sep}submitted{os.sep}"
    starts = [
        (moment, line.split(marker)[1].split(os.sep)[0])
        for moment, line in log
        if "Sanitizing" in line and marker in line
    ]
    seconds = {
        student: (starts[i + 1][0] if i + 1 < len(starts) else ended) - moment
        for i, (moment, student) in enumerate(starts)
    }
    return ended - started, seconds, code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=None, help="autograder's --jobs (default: its own, the CPUs)")
    parser.add_argument(
        "--nbgrader-cell-timeout",
        type=int,
        default=10,
        help="seconds nbgrader lets one cell run (its own default is 30)",
    )
    parser.add_argument("--keep", help="work in this folder and keep it, instead of a temporary one")
    args = parser.parse_args(argv)

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="benchmark-grading-"))
    try:
        built = build_class(work / "class", args.submissions)
        course = NbgraderCourse(work / "course")
        code, log = course.run("generate_assignment", LESSON.slug, "--force")
        if code != 0:
            raise RuntimeError("nbgrader generate_assignment failed:\n" + "\n".join(line for _, line in log[-20:]))
        for student, _, _ in built:
            course.submit(student, work / "class" / f"{student}.ipynb")
        counts = {kind: sum(k == kind for _, k, _ in built) for kind in dict.fromkeys(PATTERN)}
        print(f"class: {len(built)} submissions of {LESSON.slug}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
        print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
        limits = Limits()
        print(
            f"autograder grade: --jobs {args.jobs or f'default ({os.cpu_count()}, the CPUs)'}, default limits "
            f"({limits.cell_seconds:g} s per cell, {limits.call_seconds:g} s per call, "
            f"{limits.submission_seconds:g} s per submission)"
        )
        print(
            f"nbgrader autograde: one notebook at a time (its only mode), "
            f"--Execute.timeout={args.nbgrader_cell_timeout} s per cell so that looping notebooks end"
        )
        print("grading with autograder ...", flush=True)
        auto_wall, auto = run_autograder(work / "class", work / "autograder-out", args.jobs)
        print("grading with nbgrader ...", flush=True)
        nb_wall, nb_seconds, nb_code = run_nbgrader(course, args.nbgrader_cell_timeout)
        nb_scores = course.exported_scores()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"{'':22}{'autograder':>12}{'nbgrader':>12}")
    print(f"{'wall time (s)':22}{auto_wall:12.1f}{nb_wall:12.1f}")
    print(
        f"{'median per submission':22}{statistics.median(r['seconds'] for r in auto.values()):12.2f}"
        f"{statistics.median(nb_seconds.values()) if nb_seconds else float('nan'):12.2f}"
    )
    print("(autograder's seconds per submission are measured with several graded at once; nbgrader's one by one)")
    print(
        f"ratio (nbgrader / autograder wall time): {nb_wall / auto_wall:.1f}x"
        + ("" if nb_code == 0 else f"   (nbgrader autograde exited {nb_code}: some notebooks failed)")
    )
    print()
    print(f"{'submission':14} {'kind':9} {'what':58} {'auto':>5} {'nbg':>5} {'s auto':>6} {'s nbg':>6}  agree")
    differing_honest = 0
    for student, kind, what in built:
        mine, theirs = auto[student]["score"], nb_scores.get(student)
        agree = theirs is not None and abs(mine - theirs) < 1e-9
        differing_honest += kind in HONEST and not agree
        shown = "-" if theirs is None else f"{theirs:g}"
        print(
            f"{student:14} {kind:9} {what[:58]:58} {mine:5g} {shown:>5} {auto[student]['seconds']:6.1f} "
            f"{nb_seconds.get(student, float('nan')):6.1f}  {'yes' if agree else 'NO'}"
        )
    honest = sum(kind in HONEST for _, kind, _ in built)
    print()
    print(f"honest submissions (correct, partial, wrong) whose scores differ: {differing_honest} of {honest}")
    return 0 if differing_honest == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
