"""Every lesson, both ways: the rules the foundation sets for each notebook and its suite."""

from __future__ import annotations

import copy
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from autograder import jail, notebook, release
from autograder.grade import grade_all
from autograder.lessons import Lesson, all_lessons, find_lesson
from autograder.suite import collect

# Plausible wrong answers, per lesson: see the comment at the top of each file.
MISTAKES = Path(__file__).parent / "mistakes"


@dataclass(frozen=True)
class Mistake:
    lesson: str
    exercise: str
    why: str
    feedback: str
    source: str
    number: int

    @property
    def name(self) -> str:
        return f"mistake-{self.number:02d}-{self.exercise}"


def mistakes_of(lesson: Lesson) -> list[Mistake]:
    path = MISTAKES / f"{lesson.slug}.toml"
    if not path.exists():
        return []
    entries = tomllib.loads(path.read_text())["mistake"]
    return [Mistake(lesson.slug, number=number, **entry) for number, entry in enumerate(entries, 1)]


def all_mistakes() -> list[Mistake]:
    return [mistake for lesson in all_lessons() for mistake in mistakes_of(lesson)]


def with_mistake(solution, mistake: Mistake):
    notebook = copy.deepcopy(solution)
    for cell in notebook.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == mistake.exercise:
            cell.source = cell.source + "\n\n# a plausible mistake:\n" + mistake.source
            return notebook
    raise AssertionError(f"{mistake.lesson} has no exercise cell {mistake.exercise}")


@pytest.fixture(scope="session")
def graded_classes(tmp_path_factory):
    """lesson slug -> {submission name: SubmissionResult} for solution, learner and every mistake."""
    cache: dict[str, dict] = {}

    def graded(lesson: Lesson) -> dict:
        if lesson.slug not in cache:
            folder = tmp_path_factory.mktemp(lesson.slug)
            solution = nbformat.read(lesson.solution, as_version=4)
            nbformat.write(solution, folder / "solution.ipynb")
            (folder / "learner.ipynb").write_bytes(lesson.release.read_bytes())
            for mistake in mistakes_of(lesson):
                nbformat.write(with_mistake(solution, mistake), folder / f"{mistake.name}.ipynb")
            results = grade_all(sorted(folder.glob("*.ipynb")), lesson=lesson)
            cache[lesson.slug] = {result.submission: result for result in results}
        return cache[lesson.slug]

    return graded

LESSONS = all_lessons()
HEADLESS_LIMIT_SECONDS = 90


@pytest.fixture(params=LESSONS, ids=lambda lesson: lesson.slug)
def lesson(request):
    return request.param


def test_there_are_lessons():
    assert [lesson.slug for lesson in LESSONS][:1] == ["01_asgi_by_hand"]


def test_learner_notebook_matches_a_fresh_release(lesson):
    release.check([lesson])


def test_learner_notebook_has_no_solutions_and_no_outputs(lesson):
    learner = nbformat.read(lesson.release, as_version=4)
    text = lesson.release.read_text()
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    for cell in learner.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_every_exercise_is_graded_and_every_test_has_an_exercise(lesson):
    exercises = notebook.exercise_ids(nbformat.read(lesson.solution, as_version=4))
    graded = {exercise for _, exercise, _ in collect(lesson)}
    assert len(exercises) >= 5
    assert set(exercises) == graded


def test_solution_earns_full_marks(lesson, graded_classes):
    result = graded_classes(lesson)["solution"]
    failed = [(test.name, test.feedback) for test in result.tests if not test.passed]
    assert failed == [] and result.problems == []
    assert result.score == result.max_score > 0


def test_untouched_learner_notebook_earns_nothing(lesson, graded_classes):
    result = graded_classes(lesson)["learner"]
    assert result.max_score > 0
    assert result.score == 0, [test.name for test in result.tests if test.passed]
    assert all(test.feedback for test in result.tests)


@pytest.mark.parametrize("mistake", all_mistakes(), ids=lambda mistake: f"{mistake.lesson[:2]}-{mistake.exercise}-{mistake.why[:40]}")
def test_a_plausible_mistake_loses_points_with_a_useful_message(mistake, graded_classes):
    lesson = find_lesson(mistake.lesson)
    results = graded_classes(lesson)
    result = results[mistake.name]
    scores = result.exercise_scores()
    got, total = scores[mistake.exercise]
    assert got < total, f"the mistake '{mistake.why}' kept all its points"
    messages = [test.feedback for test in result.tests if test.exercise == mistake.exercise and not test.passed]
    assert any(mistake.feedback in message for message in messages), messages
    # the other exercises are not affected
    full = results["solution"].exercise_scores()
    assert {name: score for name, score in scores.items() if name != mistake.exercise} == {
        name: score for name, score in full.items() if name != mistake.exercise
    }


def test_every_exercise_has_a_plausible_mistake(lesson):
    exercises = set(notebook.exercise_ids(nbformat.read(lesson.solution, as_version=4)))
    covered = {mistake.exercise for mistake in all_mistakes() if mistake.lesson == lesson.slug}
    assert exercises <= covered, exercises - covered


EXECUTE = """
import sys, time, nbclient, nbformat
source, target, allow_errors = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
notebook = nbformat.read(source, as_version=4)
started = time.monotonic()
nbclient.NotebookClient(notebook, timeout=90, kernel_name="python3", allow_errors=allow_errors,
                        resources={"metadata": {"path": sys.argv[4]}}).execute()
notebook.metadata["seconds_to_run"] = time.monotonic() - started
nbformat.write(notebook, target)
"""


def execute(path: Path, tmp_path: Path, *, allow_errors: bool):
    """Run a notebook top to bottom headless, offline where this machine can prove it (a
    network namespace with only loopback), and return it executed with its run time."""
    target = tmp_path / path.name
    completed = subprocess.run(
        [sys.executable, "-c", EXECUTE, str(path), str(target), "1" if allow_errors else "0", str(path.parent)],
        capture_output=True, text=True, timeout=HEADLESS_LIMIT_SECONDS * 3,
        preexec_fn=jail.offline if jail.confinement() == jail.FULL else None,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    executed = nbformat.read(target, as_version=4)
    return executed, executed.metadata["seconds_to_run"]


def outputs_text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        for value in output.get("data", {}).values():
            parts.append(value if isinstance(value, str) else "")
    return "".join(parts)


@pytest.mark.slow
def test_solution_notebook_runs_headless_within_the_limit(lesson, tmp_path):
    executed, seconds = execute(lesson.solution, tmp_path, allow_errors=False)
    assert seconds < HEADLESS_LIMIT_SECONDS
    shown = "".join(outputs_text(cell) for cell in executed.cells)
    assert "❌" not in shown and "⏳" not in shown, "a self-check did not pass on the solution"


@pytest.mark.slow
def test_learner_notebook_fails_only_where_an_unsolved_exercise_is_used(lesson, tmp_path):
    executed, seconds = execute(lesson.release, tmp_path, allow_errors=True)
    assert seconds < HEADLESS_LIMIT_SECONDS
    exercises = notebook.exercise_ids(executed)
    for cell in executed.cells:
        errors = [output for output in cell.get("outputs", []) if output.get("output_type") == "error"]
        for error in errors:
            assert error["ename"] == "NotImplementedError", (cell.source[:200], error["ename"], error["evalue"])
            assert any(name in cell.source for name in exercises), cell.source[:200]


# --- lesson 04: timing checks do not flip on a busy machine ----------------------------------
#
# Grading the solution 20 times while another process keeps a core busy gives full marks
# every time; an answer that still blocks the loop, graded 20 times under the same load, gets
# 0 for each timing check every time. (The timing checks compare a cheap request's latency
# with the idle latency measured in the same run, with wide margins, and repeat before
# failing: see ``autograder.suitekit.responsiveness``.)

RUNS = 20
LESSON_04 = "04_async_pitfalls"
# the mistakes that hold the loop, one per exercise with a timing check
BLOCKING_04 = {"make_fixed_app": "adds an await asyncio.sleep(0)", "make_cpu_app": "owns a pool but still counts on the loop"}
TIMING_CHECKS_04 = {"test_make_fixed_app_keeps_ping_fast_during_a_report", "test_make_cpu_app_keeps_ping_fast_while_computing"}


@pytest.fixture
def busy_core():
    """A process that keeps one core busy for the length of the test."""
    # It spins until its parent is gone, so even a killed test run leaves no burner behind.
    burner = subprocess.Popen([sys.executable, "-c", "import os\nparent = os.getppid()\nwhile os.getppid() == parent: pass"])
    try:
        yield burner
    finally:
        burner.kill()
        burner.wait()


@pytest.mark.slow
def test_lesson04_timing_checks_hold_under_load(tmp_path, busy_core):
    lesson = find_lesson(LESSON_04)
    solution = nbformat.read(lesson.solution, as_version=4)
    blocking = solution
    for mistake in mistakes_of(lesson):
        if any(mistake.exercise == exercise and mistake.why.startswith(why) for exercise, why in BLOCKING_04.items()):
            blocking = with_mistake(blocking, mistake)
    assert blocking is not solution, "the blocking mistakes were not found"
    for run in range(RUNS):
        nbformat.write(solution, tmp_path / f"solution-{run:02d}.ipynb")
        nbformat.write(blocking, tmp_path / f"blocking-{run:02d}.ipynb")

    results = grade_all(sorted(tmp_path.glob("*.ipynb")), lesson=lesson)

    assert busy_core.poll() is None, "the burner stopped: the machine was not busy throughout"
    solutions = [result for result in results if result.submission.startswith("solution")]
    blocked = [result for result in results if result.submission.startswith("blocking")]
    assert len(solutions) == len(blocked) == RUNS
    lost = {result.submission: [(test.name, test.feedback) for test in result.tests if not test.passed]
            for result in solutions if result.score != result.max_score}
    assert lost == {}, lost
    for result in blocked:
        timing = [test for test in result.tests if test.name in TIMING_CHECKS_04]
        assert len(timing) == len(TIMING_CHECKS_04)
        assert all(test.points == 0 and not test.passed for test in timing), (result.submission, timing)
