"""Every lesson, both ways: the rules the foundation sets for each notebook and its suite."""

from __future__ import annotations

import ast
import copy
import re
import shutil
import tomllib
from dataclasses import dataclass

import nbformat
import pytest

from autograder import manifest, mistakes, notebook, release
from autograder.grade import grade_all
from autograder.lessons import ROOT, Lesson, all_lessons, find_lesson
from autograder.mistakes import Mistake, mistaken, mistakes_of
from autograder.suite import NOT_RUN, collect
from autograder.types import Only
from coursekit import progress
from tests.browser.lab import can_run_offline
from tests.conftest import BUSY_CORE
from tests.lessons.classes import JOBS, Submission, in_every_class
from tests.notebook_runs import RUN_LIMIT_SECONDS, execute
from tests.run_checks import image_outputs, recap_summary, red_blocks


def graded_in_full(mistake: Mistake) -> bool:
    """The first mistake listed for each exercise is graded with the whole notebook, to show the
    other exercises keep their points; the others, on their exercise alone (every test of it:
    its score and feedback are what their test reads), which is most of a lesson's grading
    saved (test_a_plausible_mistake_loses_points_with_a_useful_message)."""
    return next(m for m in mistakes_of(find_lesson(mistake.lesson)) if m.exercise == mistake.exercise) == mistake


def all_mistakes() -> list[Mistake]:
    return [mistake for lesson in all_lessons() for mistake in mistakes_of(lesson)]


@dataclass(frozen=True)
class Alternative:
    """A correct answer written another way (``alternatives.toml``): a whole exercise cell."""

    lesson: str
    exercise: str
    why: str
    source: str
    number: int

    @property
    def name(self) -> str:
        return f"alternative-{self.number:02d}-{self.exercise}"


def alternatives_of(lesson: Lesson) -> list[Alternative]:
    if not lesson.alternatives.exists():
        return []
    entries = tomllib.loads(lesson.alternatives.read_text()).get("alternative", [])
    return [Alternative(lesson.slug, number=number, **entry) for number, entry in enumerate(entries, 1)]


def all_alternatives() -> list[Alternative]:
    return [alternative for lesson in all_lessons() for alternative in alternatives_of(lesson)]


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def cell_with_id(notebook, wanted: str):
    for cell in notebook.cells:
        if grade_id(cell) == wanted:
            return cell
    raise AssertionError(f"no cell with grade_id {wanted}")


# What a listed mistake's cell does first to the sandbox's garbage collector, for its whole
# grading: off, or collecting at nearly every allocation.
SANDBOX_GC = {"off": "gc.disable()", "eager": "gc.set_threshold(1, 1, 1)"}


def with_mistake(solution, mistake: Mistake, gc_mode: str | None = None):
    """The solution with ``mistake`` in its exercise cell; with ``gc_mode`` (see ``SANDBOX_GC``),
    that cell first puts the sandbox's garbage collector in that mode for the whole grading."""
    return mistakes.with_mistake(solution, mistake, f"import gc\n{SANDBOX_GC[gc_mode]}\n" if gc_mode else "")


# Nothing may depend on the garbage collector or on load: the warned mistakes' self-checks run
# beside a process that keeps a core busy, each twice, and must fail both times: with the
# collector off, and with a full collection forced right before each of the check's assertions
# (the most awkward moment: whatever the code under test left for the collector is gone when the
# verdict is taken). A check that counted a leaked database connection with
# engine.pool.checkedout() passed or not depending on whether the collector had reclaimed the
# session yet; forced so, it passes every time, and this rule fails it.
GC_MODES = ("off", "collected before each assertion")
# gc.freeze(): what the lesson made before is left out of every collection, so a collection
# costs what the checks made since, not the whole notebook's heap (seconds each, otherwise).
BURNER_START = (
    f"import gc, subprocess, sys\ngc.freeze()\n_burner = subprocess.Popen([sys.executable, '-c', {BUSY_CORE!r}])"
)
BURNER_STOP = (
    "_burner.kill()\n_burner.wait()\ngc.unfreeze()\nprint('the burner ran throughout:', _burner.returncode == -9)"
)


class _CollectBeforeAsserts(ast.NodeTransformer):
    def generic_visit(self, node):
        super().generic_visit(node)
        for field in ("body", "orelse", "finalbody"):
            statements = getattr(node, field, None)
            if isinstance(statements, list) and any(isinstance(each, ast.Assert) for each in statements):
                setattr(
                    node,
                    field,
                    [
                        new
                        for each in statements
                        for new in (
                            [ast.parse("__import__('gc').collect()").body[0], each]
                            if isinstance(each, ast.Assert)
                            else [each]
                        )
                    ],
                )
        return node


def collected_before_asserts(source: str) -> str:
    """``source`` with a full garbage collection before each ``assert``."""
    return ast.unparse(ast.fix_missing_locations(_CollectBeforeAsserts().visit(ast.parse(source))))


def checks_in_gc_modes(check: str, marks: dict) -> list[tuple[str, dict]]:
    """The cells that run a self-check in each of ``GC_MODES``, the check's own marked."""
    return [
        ("gc.disable()", {}),
        (check, {**marks, "gc": "off"}),
        ("gc.enable()", {}),
        (collected_before_asserts(check), {**marks, "gc": "collected before each assertion"}),
    ]


def with_warned_mistakes(solution, listed: list[Mistake]):
    """The solution notebook, then, beside a busy core: for each mistake the lesson warns
    about, its exercise cell with the mistake, the exercise's self-check in each of
    ``GC_MODES`` (marked with the mistake's name and the mode), and the exercise cell as it
    was, so the next mistake starts from the reference again."""
    notebook = copy.deepcopy(solution)
    appended = []
    for mistake in listed:
        if not mistake.warned:
            continue
        exercise = cell_with_id(solution, mistake.exercise).source
        check = cell_with_id(solution, f"check_{mistake.exercise}").source
        appended += [
            (mistaken(exercise, mistake), {}),
            *checks_in_gc_modes(check, {"warned_mistake": mistake.name}),
            (exercise, {}),
        ]
    if appended:
        appended = [(BURNER_START, {}), *appended, (BURNER_STOP, {"burner": True})]
    for source, marks in appended:
        notebook.cells.append(nbformat.v4.new_code_cell(source, metadata={"appended": True, **marks}))
    return notebook


# Answers that do nothing, made from the learner's copy of an exercise cell: its unsolved body
# (`raise NotImplementedError()`) becomes each of these. The last one returns a callable that
# does nothing, as a factory (an app, a middleware) that returns an app that sends nothing.
NOTHING = {
    "pass": ["pass"],
    "return-none": ["return None"],
    "not-implemented": ["raise NotImplementedError()"],
    "returns-a-do-nothing-app": [
        "async def _does_nothing(*args, **kwargs):",
        "    return None",
        "return _does_nothing",
    ],
}
UNSOLVED = "raise NotImplementedError()"


def doing_nothing(released_source: str, kind: str) -> str:
    lines = []
    for line in released_source.splitlines():
        if line.strip() == UNSOLVED:
            indent = line[: len(line) - len(line.lstrip())]
            lines += [indent + each for each in NOTHING[kind]]
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def nothing_variants(lesson: Lesson, solution) -> dict[str, tuple[str | None, object]]:
    """name -> (exercise, the solution notebook with that exercise's cell doing nothing); and,
    as ``all-nothing-<kind>`` (exercise None, graded in full), every exercise doing nothing at
    once. (Every exercise raising NotImplementedError is the learner's notebook, graded already.)"""
    released = {
        cell.metadata.get("nbgrader", {}).get("grade_id"): cell.source
        for cell in nbformat.read(lesson.release, as_version=4).cells
    }
    exercises = notebook.exercise_ids(solution)
    variants = {}
    for kind in NOTHING:
        for doing_nothing_now in [[exercise] for exercise in exercises] + [exercises]:
            changed = copy.deepcopy(solution)
            for cell in changed.cells:
                exercise = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                if exercise in doing_nothing_now:
                    cell.source = doing_nothing(released[exercise], kind)
            if len(doing_nothing_now) == 1:
                variants[f"nothing-{kind}-{doing_nothing_now[0]}"] = (doing_nothing_now[0], changed)
            elif kind != "not-implemented":
                variants[f"all-nothing-{kind}"] = (None, changed)
    return variants


@in_every_class
def learner_mistakes_nothing_and_alternatives(lesson: Lesson, solution) -> dict[str, Submission]:
    """The untouched learner notebook (its bytes as released), every listed mistake (the
    sandbox's garbage collector off or eager, in turn), every do-nothing variant and correct
    alternative (each graded on its exercise alone) and every whole lesson doing nothing (graded
    in full). The solution is the run's canary (``tests/lessons/classes.py``)."""
    made = {"learner": Submission(lesson.release.read_bytes())}
    made.update(
        {
            mistake.name: Submission(
                with_mistake(solution, mistake, list(SANDBOX_GC)[mistake.number % len(SANDBOX_GC)]),
                only=None if graded_in_full(mistake) else Only(mistake.exercise, first_failure=False),
            )
            for mistake in mistakes_of(lesson)
        }
    )
    made.update(
        {
            name: Submission(variant, only=exercise)
            for name, (exercise, variant) in nothing_variants(lesson, solution).items()
        }
    )
    for alternative in alternatives_of(lesson):
        changed = copy.deepcopy(solution)
        cell_with_id(changed, alternative.exercise).source = alternative.source
        made[alternative.name] = Submission(changed, only=alternative.exercise)
    return made


LESSONS = all_lessons()


@pytest.fixture(params=LESSONS, ids=lambda lesson: lesson.slug)
def lesson(request):
    return request.param


def test_there_are_lessons():
    assert [lesson.slug for lesson in LESSONS][:1] == ["01_asgi_by_hand"]


def test_no_alternative_or_mistake_is_listed_twice(lesson):
    """Each entry is graded in every full run: a copy costs a grading and tests nothing new (lesson
    08 once held its blind review's correct answers twice)."""
    alternatives = [(one.exercise, one.source.strip()) for one in alternatives_of(lesson)]
    mistakes = [(one.exercise, one.source.strip(), one.feedback) for one in mistakes_of(lesson)]
    assert len(set(alternatives)) == len(alternatives)
    assert len(set(mistakes)) == len(mistakes)


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
    graded = {test.exercise for test in collect(lesson)}
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


@pytest.mark.parametrize(
    "mistake", all_mistakes(), ids=lambda mistake: f"{mistake.lesson[:2]}-{mistake.exercise}-{mistake.why[:40]}"
)
def test_a_plausible_mistake_loses_points_with_a_useful_message(mistake, graded_classes):
    lesson = find_lesson(mistake.lesson)
    results = graded_classes(lesson)
    result = results[mistake.name]
    scores = result.exercise_scores()
    got, total = scores[mistake.exercise]
    assert got < total, f"the mistake '{mistake.why}' kept all its points"
    messages = [test.feedback for test in result.tests if test.exercise == mistake.exercise and not test.passed]
    assert any(mistake.feedback in message for message in messages), messages
    if not graded_in_full(mistake):
        assert set(scores) == {mistake.exercise}  # graded on its exercise alone
        return
    # the other exercises are not affected
    full = results["solution"].exercise_scores()
    assert {name: score for name, score in scores.items() if name != mistake.exercise} == {
        name: score for name, score in full.items() if name != mistake.exercise
    }


@pytest.mark.parametrize(
    "alternative",
    all_alternatives(),
    ids=lambda alternative: f"{alternative.lesson[:2]}-{alternative.exercise}-{alternative.why[:40]}",
)
def test_a_correct_alternative_keeps_full_marks(alternative, graded_classes):
    """A correct answer written another way than the solution (``alternatives.toml``) loses
    nothing: the hidden tests hold it to what the statement promises, and no more."""
    result = graded_classes(find_lesson(alternative.lesson))[alternative.name]
    got, total = result.exercise_scores()[alternative.exercise]
    assert got == total > 0, [(test.name, test.feedback) for test in result.tests if not test.passed]


def test_an_answer_that_does_nothing_earns_nothing(lesson, graded_classes):
    """Every exercise's cell made to do nothing (`pass`, `return None`, NotImplementedError, a
    do-nothing app) earns 0 for that exercise: a check such an answer passes must be marked
    @graded(..., negative=True), so that it counts only beside the exercise's positive checks."""
    results = graded_classes(lesson)
    earned = {}
    for name, result in results.items():
        if name.startswith("nothing-"):
            exercise = name.rsplit("-", 1)[-1]  # exercise ids are identifiers: no "-"
            got, total = result.exercise_scores().get(exercise, (0.0, 0.0))
            assert total > 0, (name, result.problems)
            if got:
                earned[name] = [test.name for test in result.tests if test.passed]
    assert earned == {}


def test_a_lesson_whose_every_answer_does_nothing_earns_nothing(lesson, graded_classes):
    """Every exercise doing nothing at once, each way (NotImplementedError is the untouched
    learner notebook), graded in full: 0. The variants above stop at an exercise's first failed
    check, so a later check that doing nothing passes (a negative check not marked so, a
    differential test whose inputs never make the reference act) shows only here."""
    results = graded_classes(lesson)
    earned = {}
    for name in [f"all-nothing-{kind}" for kind in NOTHING if kind != "not-implemented"] + ["learner"]:
        result = results[name]
        assert result.graded and result.max_score > 0, (name, result.grader_error, result.problems)
        if result.score:
            earned[name] = [(test.exercise, test.name, test.points) for test in result.tests if test.points]
    assert earned == {}


def test_every_exercise_has_a_plausible_mistake(lesson):
    exercises = set(notebook.exercise_ids(nbformat.read(lesson.solution, as_version=4)))
    covered = {mistake.exercise for mistake in all_mistakes() if mistake.lesson == lesson.slug}
    assert exercises <= covered, exercises - covered


def outputs_text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        for value in output.get("data", {}).values():
            parts.append(value if isinstance(value, str) else "")
    return "".join(parts)


@pytest.fixture(scope="session")
def executed_solutions(tmp_path_factory):
    """lesson slug -> the solution notebook run headless, each cell twice, the warned mistakes'
    checks appended (a ``tests.notebook_runs.Run``)."""
    cache: dict[str, tuple] = {}

    def executed(lesson: Lesson):
        if lesson.slug not in cache:
            folder = tmp_path_factory.mktemp(f"run-{lesson.slug}")
            notebook = with_warned_mistakes(nbformat.read(lesson.solution, as_version=4), mistakes_of(lesson))
            nbformat.write(notebook, folder / lesson.solution.name)
            cache[lesson.slug] = execute(
                folder / lesson.solution.name, folder, allow_errors=False, folder=lesson.solution.parent, rerun=True
            )
        return cache[lesson.slug]

    return executed


@pytest.mark.slow
def test_solution_notebook_runs_offline_within_the_limit(lesson, notebook_runs, executed_solutions):
    """Run top to bottom (in the learner's Lab in the browser where there is one, and read by
    the browser test too; headless otherwise), offline where the machine can prove it, within
    the time limit, and every self-check passes."""
    run = notebook_runs(lesson).solution or executed_solutions(lesson)
    assert run.offline == can_run_offline()
    assert run.seconds < RUN_LIMIT_SECONDS, f"{run.seconds:.0f} s ({run.where})"
    shown = "".join(outputs_text(cell) for cell in run.notebook.cells if not cell.metadata.get("appended"))
    assert "❌" not in shown and "⏳" not in shown, "a self-check did not pass on the solution"


@pytest.mark.slow
def test_the_solved_lesson_shows_no_unannounced_red_and_every_check_passing(lesson, executed_solutions):
    """What a learner who solved every exercise sees of the notebook (the headless solution run,
    the lesson's own cells, each run twice: a learner may run any cell again): no error or
    stderr that the text before it does not announce, the recap counting every exercise as
    passing its visible check, and every figure an image. (The browser test sees the same of
    the untouched lesson in the Lab, where images, hints and the console are checked too.)"""
    executed = copy.deepcopy(executed_solutions(lesson).notebook)
    executed.cells = [cell for cell in executed.cells if not cell.metadata.get("appended")]
    first_runs = copy.deepcopy(executed)
    for cell in first_runs.cells:
        cell.outputs = cell.metadata.get("first_outputs", cell.get("outputs", []))
    count = len(notebook.exercise_ids(executed))
    for run in (first_runs, executed):
        assert red_blocks(run) == [], "red blocks no text announces (tag the cell announced-stderr once it does)"
        assert f"{count} of {count} exercises pass their visible checks" in recap_summary(run)
        assert image_outputs(run)[1] == [], "figures shown as text, not images"


# What a cell concludes, as opposed to what it measured: the verdict of a claim (coursekit.verdicts'
# "verdict: TRUE", or a line that starts with the word), a self-check's or the recap's status per
# exercise, a yes/NO fact, a choice. Numbers may differ from one run to the next; these may not.
VERDICT_LINES = [
    re.compile(r"^\s*verdict: (TRUE|FALSE|PARTLY TRUE|not shown)"),
    re.compile(r"^(TRUE|FALSE|PARTLY TRUE|not shown)\b"),
    re.compile(r"^(✅|⏳|❌) (\w+)"),
    re.compile(r"^(\w+)\s+(✅|⏳|❌) "),
    re.compile(r"^(yes|NO) +(.+)$"),
    re.compile(r"^(chosen: .+)$"),
]


def verdicts(outputs) -> list:
    found = []
    for line in outputs_text({"outputs": outputs}).splitlines():
        for pattern in VERDICT_LINES:
            matched = pattern.match(line)
            if matched:
                found.append(matched.groups())
                break
    return found


@pytest.mark.slow
def test_every_cell_run_again_on_its_own_concludes_the_same(lesson, executed_solutions):
    """The rule in docs/AUTHORING.md: a learner may run any cell again on its own after the
    notebook has run (files from its first run must not change what it concludes). The headless
    run executes each code cell twice in a row; the second run must raise nothing (else the run
    itself fails) and print the same verdicts as the first."""
    executed = executed_solutions(lesson).notebook
    changed = [
        (cell.source.splitlines()[0][:80], verdicts(cell.metadata["first_outputs"]), verdicts(cell.outputs))
        for cell in executed.cells
        if "first_outputs" in cell.metadata and verdicts(cell.metadata["first_outputs"]) != verdicts(cell.outputs)
    ]
    assert changed == []


@pytest.mark.slow
def test_a_lesson_leaves_nothing_in_the_temporary_folder(lesson, executed_solutions):
    """What a lesson writes to disk (coursekit.scratch) and what its self-checks and the hidden
    tests' probes write is gone once its kernel has stopped."""
    executed = executed_solutions(lesson).notebook
    assert executed.metadata["left_in_temporary_folder"] == []


@pytest.mark.slow
def test_a_lesson_writes_nothing_beside_its_notebook_but_the_progress_record(lesson, executed_solutions):
    """A learner's notebooks folder gets no litter from a run: the kernel runs in the notebook's
    folder (the solution's, here), where only the self-checks' record may appear (git ignores
    it). Hypothesis, run by the hidden test cells (as nbgrader runs them), once left its cache
    there."""
    executed_solutions(lesson)
    kept = {lesson.solution.name, progress.PROGRESS_FILE, ".ipynb_checkpoints"}  # the last: the Lab's own
    beside = sorted(path.name for path in lesson.solution.parent.iterdir() if path.name not in kept)
    assert beside == [], f"left in {lesson.solution.parent} (delete it if an older run left it): {beside}"


@pytest.mark.slow
@pytest.mark.parametrize(
    "mistake",
    [m for m in all_mistakes() if m.warned],
    ids=lambda mistake: f"{mistake.lesson[:2]}-{mistake.exercise}-{mistake.why[:40]}",
)
def test_the_visible_self_check_catches_every_mistake_the_lesson_warns_about(mistake, executed_solutions):
    """With the garbage collector off and eager, beside a busy core (``with_warned_mistakes``)."""
    executed = executed_solutions(find_lesson(mistake.lesson)).notebook
    checks = {
        cell.metadata["gc"]: outputs_text(cell)
        for cell in executed.cells
        if cell.metadata.get("warned_mistake") == mistake.name
    }
    assert set(checks) == set(GC_MODES)
    passed = {mode: shown for mode, shown in checks.items() if f"❌ {mistake.exercise}:" not in shown}
    assert passed == {}, (
        f"the self-check passes '{mistake.why}' with the garbage collector {', '.join(passed)}: {passed!r}"
    )
    [burner] = [cell for cell in executed.cells if cell.metadata.get("burner")]
    assert "the burner ran throughout: True" in outputs_text(burner)


def test_every_lesson_warns_about_some_mistakes(lesson):
    """The rule in docs/AUTHORING.md: each warning in a lesson's text is a mistake with
    `warned = true`; a lesson without any has not been reviewed for them."""
    assert any(mistake.warned for mistake in mistakes_of(lesson))


@pytest.mark.slow
def test_untouched_learner_notebook_runs_all_to_the_end_without_an_error(lesson, notebook_runs):
    """ "Restart Kernel and Run All" on the released notebook (in the learner's Lab in the
    browser where there is one, headless otherwise; offline where the machine can prove it):
    demos that need an unsolved exercise say so calmly (coursekit.uses_exercises), no cell shows
    an error, the recap's report ran, and (headless, where the kernel's temporary folder is its
    own) nothing is left in the temporary folder."""
    run = notebook_runs(lesson).learner
    assert run.offline == can_run_offline()
    assert run.seconds < RUN_LIMIT_SECONDS, f"{run.seconds:.0f} s ({run.where})"
    errors = [
        (cell.source[:200], output["ename"], output["evalue"])
        for cell in run.notebook.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert errors == []
    *_, recap, submit = [cell for cell in run.notebook.cells if cell.cell_type == "code"]
    assert recap.source.strip() == "report()" and "exercises pass their visible checks" in outputs_text(recap)
    assert "No grading server is configured" in outputs_text(submit)  # the release's closing cell
    assert run.notebook.metadata.get("left_in_temporary_folder", []) == []


@pytest.mark.slow
def test_self_checks_need_only_what_the_progress_refresh_runs(lesson, tmp_path):
    """The start page re-runs a lesson's self-checks without its demos (``progress.rerun``):
    a check must rely on setup cells, exercises and definitions only. Run so, the solution's
    checks all pass and the untouched learner notebook's all say "not solved yet"."""
    for source, expected in ((lesson.solution, "pass"), (lesson.release, "todo")):
        folder = tmp_path / source.parent.parent.name / lesson.slug
        folder.mkdir(parents=True)
        shutil.copy(source, folder / f"{lesson.slug}.ipynb")
        [found] = progress.lessons(folder.parent)
        progress.rerun(found)
        [found] = progress.lessons(folder.parent)
        assert found.statuses == {exercise: expected for exercise in found.exercises}, source


def test_every_lesson_is_in_the_course_manifest():
    authored = sorted(path.name for path in (ROOT / "solutions").glob("[0-9][0-9]_*") if path.is_dir())
    assert [entry.slug for entry in manifest.entries()] == authored == [lesson.slug for lesson in LESSONS]


# --- lesson 04: timing checks do not flip on a busy machine ----------------------------------
#
# Grading the solution 20 times while another process keeps a core busy gives full marks
# every time; an answer that still blocks the loop, graded 20 times under the same load, gets
# 0 for each timing check every time. (The timing checks compare a cheap request's latency
# with the idle latency measured in the same run, with wide margins, and repeat before
# failing: see ``autograder.suitekit.responsiveness``.) They are graded as many at once as a
# lesson's class is (``tests/lessons/classes.py``, JOBS): more load beside each timing check
# than the burner alone, and the whole test takes the machine for half the time.

RUNS = 20
LESSON_04 = "04_async_pitfalls"
# the mistakes that hold the loop, one per exercise with a timing check
BLOCKING_04 = {
    "make_fixed_app": "adds an await asyncio.sleep(0)",
    "make_cpu_app": "owns a pool but still counts on the loop",
}
TIMING_CHECKS_04 = {
    "test_make_fixed_app_keeps_ping_fast_during_a_report",
    "test_make_cpu_app_keeps_ping_fast_while_computing",
}


@pytest.mark.slow
def test_lesson04_timing_checks_hold_under_load(tmp_path, busy_core):
    lesson = find_lesson(LESSON_04)
    solution = nbformat.read(lesson.solution, as_version=4)
    # Each blocking mistake is graded on its exercise alone (every test of it): the timing
    # check is what this asks about, and the rest of the notebook would only add grading time.
    blocking = {
        mistake.exercise: with_mistake(solution, mistake)
        for mistake in mistakes_of(lesson)
        if any(mistake.exercise == exercise and mistake.why.startswith(why) for exercise, why in BLOCKING_04.items())
    }
    assert set(blocking) == set(BLOCKING_04), "the blocking mistakes were not found"
    only = {}
    for run in range(RUNS):
        nbformat.write(solution, tmp_path / f"solution-{run:02d}.ipynb")
        for exercise, notebook_with_mistake in blocking.items():
            path = tmp_path / f"blocking-{exercise}-{run:02d}.ipynb"
            nbformat.write(notebook_with_mistake, path)
            only[path] = Only(exercise, first_failure=False)

    results = grade_all(sorted(tmp_path.glob("*.ipynb")), lesson=lesson, only=only, jobs=JOBS)

    assert busy_core.poll() is None, "the burner stopped: the machine was not busy throughout"
    solutions = [result for result in results if result.submission.startswith("solution")]
    blocked = [result for result in results if result.submission.startswith("blocking")]
    assert len(solutions) == RUNS and len(blocked) == RUNS * len(BLOCKING_04)
    lost = {
        result.submission: [(test.name, test.feedback) for test in result.tests if not test.passed]
        for result in solutions
        if result.score != result.max_score
    }
    assert lost == {}, lost
    for result in blocked:
        timing = [test for test in result.tests if test.name in TIMING_CHECKS_04]
        assert len(timing) == 1, result.submission  # its exercise's timing check, and it ran
        assert all(test.points == 0 and not test.passed for test in timing), (result.submission, timing)
        assert all(test.feedback != NOT_RUN for test in timing), (result.submission, timing)


def test_the_lesson_says_first_that_only_exercise_cells_are_graded(lesson):
    first = next(cell for cell in nbformat.read(lesson.release, as_version=4).cells if cell.cell_type == "markdown")
    assert "Only exercise cells are graded" in first.source
