"""nbgrader parity: the course works as an nbgrader course, with the scores ``autograder grade`` gives.

nbgrader runs the hidden suites in its own kernel through ``InProcessSubmission``, so that must
answer exactly as a sandbox does. The nbgrader commands run in a temporary copy of the
course's nbgrader set-up (nbgrader_config.py and the lesson's source), so the repository's
notebooks/ and gradebook are never touched.
"""

from __future__ import annotations

import importlib.util
import sys
import time

import nbformat
import pytest

from autograder import release
from autograder.grade import grade_all
from autograder.inprocess import InProcessSubmission
from autograder.lessons import ROOT, all_lessons, find_lesson
from autograder.nbgrader_bridge import with_test_cells
from autograder.submission import Submission, SubmissionError, fixture
from autograder.types import Cell, Limits
from coursekit import drive, http_scope

LESSON = find_lesson("01")


def _shared():
    """The nbgrader helpers of scripts/benchmark_grading.py, which grades a whole class the same way."""
    spec = importlib.util.spec_from_file_location("benchmark_grading", ROOT / "scripts" / "benchmark_grading.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as an import does: its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


benchmark = _shared()


@pytest.mark.parametrize("lesson", all_lessons(), ids=lambda lesson: lesson.slug)
def test_every_exercise_has_a_test_cell_worth_its_hidden_tests(lesson):
    """Without it nbgrader gives the exercise nothing; worth more or less, its total differs."""
    up_to_date = lesson.solution.read_text(encoding="utf-8") == with_test_cells(lesson)
    assert up_to_date, (
        f"{lesson.solution.name} lacks autograder test cells or has stale ones. Run "
        f"`python -m autograder.nbgrader_bridge {lesson.slug}`, then `autograder release {lesson.slug}`."
    )


LEARNER_CODE = """
import asyncio
async def pair(a, b):
    return (a, b, b"raw", {"t": (1, 2)})
def boom():
    raise ValueError("nope")
def todo():
    raise NotImplementedError()
async def hang():
    await asyncio.Event().wait()
async def spin():
    while True:
        pass
class Thing:
    pass
VALUE = 3
async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": ((b"a", b"b"),)})
    await send({"type": "http.response.body", "body": b"hi"})
def wrap(app):
    async def wrapped(scope, receive, send):
        await app(scope, receive, send)
    return wrapped
"""


async def conversation(sub) -> dict:
    """What a hidden suite can observe of LEARNER_CODE through ``sub``, errors and timing included."""
    seen: dict = {name: await sub.describe(name) for name in ("pair", "boom", "Thing", "VALUE", "missing", "wrap")}
    seen["pair"] = await sub.call("pair", (1, 2), b"x")
    seen["app"] = (await drive(sub.asgi("app"), http_scope("GET", "/"))).sent
    seen["wrapped"] = (await drive(sub.asgi(await sub.make("wrap", fixture("hello_app"))), http_scope("GET", "/"))).sent
    for name in ("boom", "todo", "missing", "hang", "spin"):  # spin last: it stalls a real sandbox for good
        started = time.monotonic()
        try:
            await sub.call(name)
        except SubmissionError as exc:
            seen[name] = (type(exc).__name__, str(exc), round(time.monotonic() - started))
    return seen


@pytest.mark.anyio
async def test_in_process_submission_answers_as_a_sandbox_does():
    limits = Limits(call_seconds=1.0)
    sandboxed = await Submission.start(limits)
    try:
        await sandboxed.load([Cell("code", LEARNER_CODE, "exercise")])
        expected = await conversation(sandboxed)
    finally:
        await sandboxed.close()
    namespace: dict = {"__name__": "__main__"}
    exec(LEARNER_CODE, namespace)
    in_process = await InProcessSubmission.over(namespace, limits)
    try:
        assert await conversation(in_process) == expected
    finally:
        await in_process.close()
    assert expected["pair"] == [[1, 2], b"x", b"raw", {"t": [1, 2]}]
    assert expected["spin"][0] == expected["hang"][0] == "SubmissionTimedOut"
    assert not [name for name in namespace if name.startswith("_made")], "make() must not add to the learner's globals"


def tail(log: list[tuple[float, str]]) -> str:
    return "\n".join(line for _, line in log[-30:])


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = benchmark.NbgraderCourse(tmp_path_factory.mktemp("nbgrader-course"), LESSON)
    code, log = course.run("generate_assignment", LESSON.slug)
    assert code == 0, tail(log)
    return course


@pytest.mark.slow
def test_generate_assignment_writes_what_autograder_release_writes(course):
    assert course.release.read_text(encoding="utf-8") == release.released_text(LESSON), (
        "nbgrader generate_assignment and autograder release disagree: compare nbgrader_config.py "
        "with autograder/release.py"
    )


@pytest.mark.slow  # nbgrader executes each notebook whole: about a minute
def test_autograde_feedback_and_export_agree_with_autograder_grade(course, tmp_path):
    solution = nbformat.read(LESSON.solution, as_version=4)
    released = nbformat.read(course.release, as_version=4)
    submissions = {
        "honest": solution,
        "partial": benchmark.reverted(solution, released, ["json_app", "router_app"]),
    }
    for student, notebook in submissions.items():
        nbformat.write(notebook, tmp_path / f"{student}.ipynb")
        course.submit(student, tmp_path / f"{student}.ipynb")

    for step in ("autograde", "generate_feedback"):
        code, log = course.run(step, LESSON.slug)
        assert code == 0, f"nbgrader {step} failed:\n{tail(log)}"
    theirs = course.exported_scores()  # runs nbgrader export
    results = grade_all(sorted(tmp_path.glob("*.ipynb")), lesson=LESSON)
    ours = {result.submission: result.score for result in results}

    assert ours["honest"] == results[0].max_score > ours["partial"] > 0, ours
    assert theirs == ours
    for student in submissions:
        assert (course.folder / "nbgrader" / "feedback" / student / LESSON.slug / f"{LESSON.slug}.html").exists()


@pytest.mark.slow  # Validate executes the learner's notebook whole, twice
def test_validate_fails_an_untouched_lesson_and_passes_a_solved_one(course, tmp_path):
    """On a JupyterHub with nbgrader, learners have Validate. It scores the autograder-test
    cells of the learner's copy, which hold no hidden tests: their visible line runs the
    exercise's self-check there (coursekit.checks.self_check_for_nbgrader), so Validate says
    what the self-checks say, and never "passes" an untouched lesson."""
    released = nbformat.read(course.release, as_version=4)
    solved = benchmark.with_sources(released, benchmark.exercise_sources(nbformat.read(LESSON.solution, as_version=4)))
    said = {}
    for name, notebook in {"untouched": released, "solved": solved}.items():
        path = tmp_path / name / f"{LESSON.slug}.ipynb"
        path.parent.mkdir()
        nbformat.write(notebook, path)
        code, log = course.run("validate", str(path))
        said[name] = "\n".join(line for _, line in log)
        assert code == 0, tail(log)
    exercises = len(benchmark.exercise_sources(released))
    assert f"VALIDATION FAILED ON {exercises} CELL(S)" in said["untouched"], said["untouched"][-3000:]
    assert "not solved yet" in said["untouched"]
    assert "Success! Your notebook passes all the tests." in said["solved"], said["solved"][-3000:]
