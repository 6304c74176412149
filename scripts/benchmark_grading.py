"""Benchmark: ``autograder grade`` against ``nbgrader autograde``, on one lesson's class or every lesson's.

    .venv/bin/python scripts/benchmark_grading.py [--lesson ID | --all] [--submissions N] [--jobs N]
                                                  [--nbgrader-cell-timeout S] [--keep DIR]

For each lesson (``--lesson``: one, by number or slug, 01 by default; ``--all``: every lesson in
course order, one after another), builds in a temporary folder a class of submissions of five
kinds, made from that lesson's solution and learner notebooks alone:

    correct   the solution notebook
    partial   the solution with some exercises put back to the released stub
    wrong     the solution with one plausible mistake from the lesson's own list
              (autograder/lessons/<slug>/mistakes.toml, applied by ``autograder.mistakes`` as
              the lesson tests apply it)
    crashing  an exercise cell that ends its process (os._exit)
    looping   an exercise cell that never ends, or an exercise function that loops when called

then grades that class on this machine, in this run, with both tools as they run by default:
``autograder grade`` with its default limits, several submissions at once (one per CPU
unless --jobs says otherwise); ``nbgrader autograde`` as the course configures it
(nbgrader_config.py, as tests/autograder/test_nbgrader.py runs it), one notebook after another,
each run whole in one kernel. Its time limit per cell is the configured 30 s unless
--nbgrader-cell-timeout says otherwise: a hidden-test cell runs all of an exercise's tests, each
of which may wait out the grader's limit per call, so a shorter limit would cut honest
submissions short (and a looping notebook costs nbgrader that limit for every cell that hangs).
Both grade the same notebook files, and neither is given anything beforehand: the datasets are
read from the repository's datasets/ wherever a notebook runs, and the servers a lesson starts
(lesson 05's Redis, lesson 07's PostgreSQL) are started and stopped by its own cells, which
nbgrader runs with the rest of the notebook and ``autograder grade`` does not need (the hidden
suites use neither).

For each lesson it prints both wall times and their ratio, the median seconds per submission
of each tool, and every submission's two scores side by side. Correct, partial and wrong
submissions are honest: their scores must agree, and the lesson's last line counts those that
do not. Crashing and looping ones may differ: nbgrader loses the whole notebook when its kernel
dies or stops answering (a thread spinning in the learner's code), where ``autograder grade``
loses only the exercise at fault. With --all it ends with a table of every lesson. The exit
status is 1 when any honest submission's scores differ. With --keep, the classes, results and
nbgrader's logs (DIR/<slug>/nbgrader-autograde.log) are left in DIR.

This is not a test: it takes many minutes a lesson, and its times depend on the machine and on
whatever else runs on it. ``NbgraderCourse`` and the notebook helpers are shared with
tests/autograder/test_nbgrader.py.
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from traitlets.config.loader import PyFileConfigLoader

from autograder import notebook
from autograder.lessons import ROOT, Lesson, all_lessons, find_lesson
from autograder.mistakes import mistakes_of, with_mistake
from autograder.types import Limits

PATTERN = ["correct", "partial", "wrong", "wrong", "partial", "correct", "wrong", "crashing", "looping", "wrong"]
HONEST = ("correct", "partial", "wrong")
SUBMISSIONS = 40  # per lesson, for one lesson
SUBMISSIONS_EACH = 10  # per lesson, with --all


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
    for exercise, source in sources.items():
        nb = notebook.with_cell(nb, exercise, source)
    return nb


def reverted(solution, released, exercises: list[str]):
    """The solution with ``exercises`` put back to what the learner was given."""
    stubs = exercise_sources(released)
    return with_sources(solution, {exercise: stubs[exercise] for exercise in exercises})


def named_function(source: str, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The function ``name`` that ``source`` defines at its top level, if it does."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return node
    return None


def looping_when_called(source: str, name: str) -> str:
    """``source`` with an endless loop first in the body of its function ``name``: its
    decorators, signature and kind (a coroutine, a generator) stay, so it loops when used."""
    function = named_function(source, name)
    if function is None or function.body[0].lineno == function.lineno:
        raise ValueError(f"the cell defines no function {name} whose body starts on a line of its own")
    first = function.body[0]
    starts = min([first.lineno] + [each.lineno for each in getattr(first, "decorator_list", [])])
    indent = " " * first.col_offset
    lines = source.splitlines(keepends=True)
    lines.insert(starts - 1, f"{indent}while True:\n{indent}    pass\n")
    return "".join(lines)


def submission(kind: str, n: int, lesson: Lesson, solution, released) -> tuple[str, object]:
    """The n-th submission of ``kind`` in ``lesson``'s class: (what it does, notebook)."""
    exercises = notebook.exercise_ids(solution)
    answers = exercise_sources(solution)
    exercise = exercises[n % len(exercises)]
    if kind == "correct":
        return "the solution", solution
    if kind == "partial":
        left = (exercises[n % len(exercises) :] + exercises[: n % len(exercises)])[: 1 + n % 4]
        return f"unsolved: {', '.join(left)}", reverted(solution, released, left)
    if kind == "wrong":
        mistakes = mistakes_of(lesson)
        mistake = mistakes[n % len(mistakes)]
        return f"{mistake.exercise}: {mistake.why}", with_mistake(solution, mistake)
    if kind == "crashing":
        return f"os._exit in {exercise}", with_sources(
            solution, {exercise: answers[exercise] + "\n\nimport os\nos._exit(1)\n"}
        )
    # The exercises that are a function of their own name (an app, a factory, a dependency)
    # can loop when called; every lesson has some.
    functions = [each for each in exercises if named_function(answers[each], each)]
    if kind == "looping" and (n % 2 == 0 or not functions):
        return f"{exercise}'s cell never ends", with_sources(
            solution, {exercise: "while True:\n    pass\n\n" + answers[exercise]}
        )
    if kind == "looping":
        function = functions[(n // 2) % len(functions)]
        return f"{function} loops when called", with_sources(
            solution, {function: looping_when_called(answers[function], function)}
        )
    raise ValueError(kind)


def build_class(folder: Path, count: int, lesson: Lesson) -> list[tuple[str, str, str]]:
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
        what, nb = submission(kind, seen[kind] - 1, lesson, solution, released)
        nbformat.write(nb, folder / f"{student}.ipynb")
        built.append((student, kind, what))
    return built


# -- an nbgrader course ----------------------------------------------------------------------


class NbgraderCourse:
    """A copy of this course's nbgrader set-up in ``folder``: nbgrader_config.py and one lesson's
    source. Its gradebook, submissions and results stay in that folder."""

    def __init__(self, folder: Path, lesson: Lesson) -> None:
        self.folder, self.lesson = folder, lesson
        (folder / "solutions").mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "nbgrader_config.py", folder)
        shutil.copytree(lesson.solution.parent, folder / "solutions" / lesson.slug, dirs_exist_ok=True)

    def setting(self, section: str, name: str):
        """A value this course's nbgrader_config.py sets, read as nbgrader reads it."""
        return PyFileConfigLoader("nbgrader_config.py", path=str(self.folder)).load_config()[section][name]

    @property
    def release(self) -> Path:
        return self.folder / "notebooks" / self.lesson.slug / f"{self.lesson.slug}.ipynb"

    def run(self, *args: str) -> tuple[int, list[tuple[float, str]]]:
        """Run ``nbgrader ARGS`` here; return its exit code and its log, each line timed."""
        # nbgrader runs `alembic` from PATH to set up its gradebook: give it this environment's.
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        with subprocess.Popen(  # as a context manager, it closes the pipe after
            [sys.executable, "-m", "nbgrader", *args],
            cwd=self.folder,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        ) as process:
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


@dataclass
class Outcome:
    """One lesson's class graded by both tools."""

    lesson: Lesson
    built: list[tuple[str, str, str]]  # (student, kind, what it does)
    auto_wall: float
    auto: dict[str, dict]  # student -> autograder's result (its JSON)
    nb_wall: float
    nb_seconds: dict[str, float]  # student -> seconds nbgrader spent on it
    nb_code: int
    nb_scores: dict[str, float]

    @property
    def ratio(self) -> float:
        return self.nb_wall / self.auto_wall

    def agree(self, student: str) -> bool:
        mine, theirs = self.auto[student]["score"], self.nb_scores.get(student)
        return mine is not None and theirs is not None and abs(mine - theirs) < 1e-9

    @property
    def honest(self) -> int:
        return sum(kind in HONEST for _, kind, _ in self.built)

    @property
    def honest_disagreements(self) -> int:
        return sum(kind in HONEST and not self.agree(student) for student, kind, _ in self.built)


def run_autograder(folder: Path, out: Path, lesson: Lesson, jobs: int | None) -> tuple[float, dict[str, dict]]:
    command = [str(Path(sys.executable).parent / "autograder"), "grade", str(folder), "--out", str(out)]
    command += ["--lesson", lesson.slug] + (["--jobs", str(jobs)] if jobs else [])
    started = time.monotonic()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.monotonic() - started
    return wall, {path.stem: json.loads(path.read_text()) for path in out.glob("*.json")}


def run_nbgrader(course: NbgraderCourse, cell_timeout: int | None) -> tuple[float, dict[str, float], int]:
    """autograde the course's class; return wall time, seconds per student, exit code."""
    timeout = [] if cell_timeout is None else [f"--Execute.timeout={cell_timeout}"]
    started = time.monotonic()
    code, log = course.run("autograde", course.lesson.slug, *timeout)
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


def benchmark(lesson: Lesson, count: int, work: Path, jobs: int | None, cell_timeout: int | None) -> Outcome:
    """Build ``lesson``'s class of ``count`` in ``work``, and grade it with both tools."""
    built = build_class(work / "class", count, lesson)
    course = NbgraderCourse(work / "course", lesson)
    code, log = course.run("generate_assignment", lesson.slug, "--force")
    if code != 0:
        raise RuntimeError("nbgrader generate_assignment failed:\n" + "\n".join(line for _, line in log[-20:]))
    for student, _, _ in built:
        course.submit(student, work / "class" / f"{student}.ipynb")
    counts = {kind: sum(k == kind for _, k, _ in built) for kind in dict.fromkeys(PATTERN)}
    print(f"class: {len(built)} submissions of {lesson.slug}: " + ", ".join(f"{n} {k}" for k, n in counts.items() if n))
    timeout = (
        f"{cell_timeout} s" if cell_timeout else f"{course.setting('Execute', 'timeout')} s (nbgrader_config.py's)"
    )
    print(f"nbgrader's time limit per cell: {timeout}")
    print("grading with autograder ...", flush=True)
    auto_wall, auto = run_autograder(work / "class", work / "autograder-out", lesson, jobs)
    print("grading with nbgrader ...", flush=True)
    nb_wall, nb_seconds, nb_code = run_nbgrader(course, cell_timeout)
    return Outcome(lesson, built, auto_wall, auto, nb_wall, nb_seconds, nb_code, course.exported_scores())


def median(values) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


def print_outcome(outcome: Outcome) -> None:
    auto, nb_seconds = outcome.auto, outcome.nb_seconds
    print()
    print(f"{'':22}{'autograder':>12}{'nbgrader':>12}")
    print(f"{'wall time (s)':22}{outcome.auto_wall:12.1f}{outcome.nb_wall:12.1f}")
    auto_median = median(auto[student]["seconds"] for student, _, _ in outcome.built)
    print(f"{'median per submission':22}{auto_median:12.2f}{median(nb_seconds.values()):12.2f}")
    print("(autograder's seconds per submission are measured with several graded at once; nbgrader's one by one)")
    print(
        f"ratio (nbgrader / autograder wall time): {outcome.ratio:.1f}x"
        + ("" if outcome.nb_code == 0 else f"   (nbgrader autograde exited {outcome.nb_code}: some notebooks failed)")
    )
    print()
    print(f"{'submission':14} {'kind':9} {'what':58} {'auto':>5} {'nbg':>5} {'s auto':>6} {'s nbg':>6}  agree")
    for student, kind, what in outcome.built:
        mine, theirs = auto[student]["score"], outcome.nb_scores.get(student)
        print(
            f"{student:14} {kind:9} {what[:58]:58} {'-' if mine is None else f'{mine:g}':>5} "
            f"{'-' if theirs is None else f'{theirs:g}':>5} {auto[student]['seconds']:6.1f} "
            f"{nb_seconds.get(student, float('nan')):6.1f}  {'yes' if outcome.agree(student) else 'NO'}"
        )
    print()
    print(
        f"{outcome.lesson.slug}: honest submissions (correct, partial, wrong) whose scores differ: "
        f"{outcome.honest_disagreements} of {outcome.honest}"
    )


def print_table(outcomes: list[Outcome]) -> None:
    print()
    print(f"{'lesson':26}{'submissions':>12}{'autograder s':>14}{'nbgrader s':>12}{'ratio':>8}", end="")
    print(f"{'honest disagreements':>22}")
    for each in outcomes:
        print(
            f"{each.lesson.slug:26}{len(each.built):12d}{each.auto_wall:14.1f}{each.nb_wall:12.1f}"
            f"{each.ratio:7.1f}x{f'{each.honest_disagreements} of {each.honest}':>22}"
        )
    auto_wall, nb_wall = sum(each.auto_wall for each in outcomes), sum(each.nb_wall for each in outcomes)
    print(
        f"{'all':26}{sum(len(each.built) for each in outcomes):12d}{auto_wall:14.1f}{nb_wall:12.1f}"
        f"{nb_wall / auto_wall:7.1f}x"
        f"{f'{sum(e.honest_disagreements for e in outcomes)} of {sum(e.honest for e in outcomes)}':>22}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group()
    # No default here: argparse takes a value equal to its default for no value, and would let
    # "--lesson 01 --all" through.
    which.add_argument("--lesson", help="the lesson, by number or slug (default: 01)")
    which.add_argument("--all", action="store_true", help="every lesson, one after another")
    parser.add_argument(
        "--submissions",
        type=int,
        default=None,
        help=f"submissions per lesson (default: {SUBMISSIONS} for one lesson, {SUBMISSIONS_EACH} each with --all)",
    )
    parser.add_argument("--jobs", type=int, default=None, help="autograder's --jobs (default: its own, the CPUs)")
    parser.add_argument(
        "--nbgrader-cell-timeout",
        type=int,
        default=None,
        help="seconds nbgrader lets one cell run (default: nbgrader_config.py's)",
    )
    parser.add_argument("--keep", help="work in this folder and keep it, instead of a temporary one")
    args = parser.parse_args(argv)
    if args.all:
        lessons = all_lessons()
    else:
        lesson = find_lesson(args.lesson or "01")
        if lesson is None:
            parser.error(f"no lesson {args.lesson!r}; known: {', '.join(each.slug for each in all_lessons())}")
        lessons = [lesson]
    count = args.submissions or (SUBMISSIONS_EACH if args.all else SUBMISSIONS)

    limits = Limits()
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(
        f"autograder grade: --jobs {args.jobs or f'default ({os.cpu_count()}, the CPUs)'}, default limits "
        f"({limits.cell_seconds:g} s per cell, {limits.call_seconds:g} s per call, "
        f"{limits.submission_seconds:g} s per submission)"
    )
    print("nbgrader autograde: one notebook at a time (its only mode), each notebook run whole in one kernel")

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="benchmark-grading-"))
    outcomes = []
    try:
        for lesson in lessons:
            print(f"\n== {lesson.slug}", flush=True)
            outcomes.append(benchmark(lesson, count, root / lesson.slug, args.jobs, args.nbgrader_cell_timeout))
            print_outcome(outcomes[-1])
            if not args.keep:
                shutil.rmtree(root / lesson.slug, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if len(outcomes) > 1:
        print_table(outcomes)
    return 0 if all(each.honest_disagreements == 0 for each in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
