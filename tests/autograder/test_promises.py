"""autograder.promises: a lesson's promises read, listed in statements, named in feedback, and
required of its hidden tests."""

from __future__ import annotations

import nbformat
import pytest

from autograder import plugin, promises
from autograder.errors import PromisesInvalid, StatementWithoutPromises
from autograder.suite import FrozenSuite, HiddenTest, hermetic_pytest_args, materialise

TOML = """
[[promise]]
exercise = "json_app"
id = "status-200"
text = "answers with status **200**"
unhappy = false

[[promise]]
exercise = "echo_app"
id = "whole-body"
text = "reads the whole body"

[[promise]]
exercise = "json_app"
id = "two-headers"
text = "exactly two headers, on every request"
unhappy = true
"""
TABLE = promises.parse(TOML)


def test_promises_are_numbered_per_exercise_in_file_order():
    assert [(p.number, p.id, p.unhappy) for p in TABLE["json_app"]] == [
        (1, "status-200", False),
        (2, "two-headers", True),
    ]
    assert [(p.number, p.id, p.unhappy) for p in TABLE["echo_app"]] == [(1, "whole-body", False)]


@pytest.mark.parametrize(
    "entry, complaint",
    [
        ('exercise = "json_app"\nid = "Status 200"\ntext = "t"', "kebab-case"),
        ('exercise = "json_app"\nid = "a"\ntext = ""', "needs text"),
        ('exercise = "json_app"\nid = "a"\ntext = "t"\nwhy = "w"', "unknown fields"),
        ('exercise = "json app"\nid = "a"\ntext = "t"', "grade_id"),
        ('exercise = "json_app"\nid = "a"\ntext = "t"\nunhappy = "yes"', "true or false"),
    ],
)
def test_a_bad_entry_is_named_with_what_to_fix(entry, complaint):
    with pytest.raises(PromisesInvalid, match=complaint):
        promises.parse(f"[[promise]]\n{entry}\n", "promises.toml")


def test_two_promises_of_one_exercise_cannot_share_an_id():
    entry = '[[promise]]\nexercise = "json_app"\nid = "a"\ntext = "t"\n'
    with pytest.raises(PromisesInvalid, match="two promises of json_app"):
        promises.parse(entry * 2)
    assert len(promises.parse(entry + entry.replace("json_app", "echo_app"))) == 2


def statement_notebook(*cells):
    """A notebook of markdown cells (str) and exercise cells (("code", grade_id))."""
    made = []
    for cell in cells:
        if isinstance(cell, str):
            made.append(nbformat.v4.new_markdown_cell(cell))
        else:
            made.append(
                nbformat.v4.new_code_cell("pass", metadata={"nbgrader": {"solution": True, "grade_id": cell[1]}})
            )
    return nbformat.v4.new_notebook(cells=made)


MARKERS = "<!-- promises: {0} -->\n<!-- /promises -->"


def test_the_release_writes_each_list_between_its_markers_and_again_the_same():
    notebook = statement_notebook(
        "## json_app\n\nIts promises:\n\n" + MARKERS.format("json_app") + "\n\nStuck?",
        ("code", "json_app"),
        "## echo_app " + MARKERS.format("echo_app"),
        ("code", "echo_app"),
    )
    promises.with_lists(notebook, TABLE)
    assert notebook.cells[0].source == (
        "## json_app\n\nIts promises:\n\n<!-- promises: json_app -->\n"
        "1. answers with status **200**\n2. exactly two headers, on every request\n"
        "<!-- /promises -->\n\nStuck?"
    )
    assert "1. reads the whole body\n<!-- /promises -->" in notebook.cells[2].source
    again = promises.with_lists(nbformat.from_dict(notebook), TABLE)
    assert again.cells == notebook.cells


@pytest.mark.parametrize(
    "cells, complaint",
    [
        ((("code", "json_app"), MARKERS.format("echo_app"), ("code", "echo_app")), "put the two lines"),
        (
            (MARKERS.format("json_app") + MARKERS.format("echo_app"), ("code", "json_app"), ("code", "echo_app")),
            "not in its statement",
        ),
        (
            (
                MARKERS.format("json_app"),
                ("code", "json_app"),
                MARKERS.format("echo_app"),
                ("code", "echo_app"),
                MARKERS.format("other_app"),
                ("code", "other_app"),
            ),
            "has no promises",
        ),
    ],
)
def test_a_list_without_its_place_in_the_statement_says_where_it_goes(cells, complaint):
    with pytest.raises(StatementWithoutPromises, match=complaint):
        promises.with_lists(statement_notebook(*cells), TABLE)


def test_feedback_names_the_broken_promises_by_number_and_in_the_statements_words():
    assert (
        promises.named(TABLE, "json_app", ["two-headers"], "Send two.")
        == "Promise 2 of `json_app` (exactly two headers, on every request): Send two."
    )
    assert (
        promises.named(TABLE, "json_app", ["two-headers", "status-200"], "Wrong.")
        == "Promises 1 and 2 of `json_app` (1. answers with status **200**; 2. exactly two headers, on every request): "
        "Wrong."
    )
    assert promises.named(TABLE, "json_app", [], "As it was.") == "As it was."
    assert promises.named({}, "json_app", ["status-200"], "As it was.") == "As it was."


def test_every_promise_needs_a_test_and_every_test_a_known_promise():
    tests = [
        HiddenTest("test_status", "json_app", 1.0, promises=("status-200",)),
        HiddenTest("test_headers", "json_app", 1.0, promises=("two-headers",)),
        HiddenTest("test_anything", "json_app", 1.0),
        HiddenTest("test_typo", "json_app", 1.0, promises=("status-201",)),
    ]
    assert promises.unchecked(TABLE, tests) == [
        "test_anything names no promise: give @graded(..., promises=[...]) the ids it checks (those of json_app: "
        "status-200, two-headers)",
        "test_typo names promise 'status-201', which json_app does not have in promises.toml",
        "promise 2 of json_app (two-headers) is unhappy: it needs a test off the happy path, "
        "@graded(..., unhappy=True)",
        "echo_app has promises but no hidden tests (is the exercise named right in promises.toml?)",
    ]
    fixed = [
        tests[0],
        tests[1]._replace(unhappy=True),
        HiddenTest("test_echo", "echo_app", 1.0, promises=("whole-body",)),
    ]
    assert promises.unchecked(TABLE, fixed) == []
    assert promises.unchecked({}, fixed[:1]) == [
        "test_status names promise 'status-200', which json_app does not have in promises.toml",
        "json_app has hidden tests but no promises in promises.toml: list what its statement promises",
    ]


SUITE = '''
from autograder.expect import Mistake, expect, graded


@graded("json_app", points=1, promises=["status-200", "two-headers"])
def test_both():
    expect(False, "Answer 200.")


@graded("json_app", points=1, promises=["status-200", "two-headers"])
def test_narrowed():
    expect(False, "Send two headers.", promises=["two-headers"])


@graded("json_app", points=1, promises=["status-200"])
def test_an_assert():
    """The status
    is 200.

    Its first paragraph is what a learner reads, however it is wrapped."""
    assert False


@graded("json_app", points=1)
def test_none():
    raise Mistake("Nothing named.")
'''


class Results:
    def pytest_sessionfinish(self, session) -> None:
        self.results = {result.name: result.feedback for result in session.config.stash[plugin.RESULTS]}


def test_a_failed_tests_feedback_names_its_promises_from_the_runs_snapshot(tmp_path):
    """The feedback is made where the test runs (``autograder.plugin.feedback_for``), from the
    promises the run's snapshot holds: grade, check, the service and nbgrader's bridge alike."""
    sources = (("test_suite.py", SUITE), (promises.FILE, TOML))
    suite = materialise(
        (("test_suite.py", SUITE), (promises.FILE, "this file on disk is not read")), tmp_path / "lesson"
    )
    results = Results()
    pytest.main(
        [*hermetic_pytest_args(str(suite)), "-p", "autograder.plugin"], plugins=[results, FrozenSuite(sources, suite)]
    )
    assert results.results == {
        "test_both": "Promises 1 and 2 of `json_app` (1. answers with status **200**; 2. exactly two headers, on every "
        "request): Answer 200.",
        "test_narrowed": "Promise 2 of `json_app` (exactly two headers, on every request): Send two headers.",
        "test_an_assert": "Promise 1 of `json_app` (answers with status **200**): "
        "This check failed: The status is 200. "
        "(the grader saw AssertionError).",
        "test_none": "Nothing named.",
    }


def test_a_differential_test_names_the_promises_of_the_parts_that_differ():
    from autograder.suitekit import broken_promises

    by_part = {"status": "status-200", "headers": "two-headers", "body": ["json-body", "two-headers"]}
    mine, theirs = (
        {"status": 200, "headers": 3, "body": "a", "raised": None},
        {"status": 200, "headers": 2, "body": "a", "raised": None},
    )
    assert broken_promises(by_part, mine, theirs) == ("two-headers",)
    assert broken_promises(by_part, {**mine, "body": "b"}, theirs) == ("two-headers", "json-body")
    assert broken_promises(by_part, {**mine, "raised": "KeyError"}, theirs) == (
        "status-200",
        "two-headers",
        "json-body",
    )
    assert broken_promises(["status-200"], mine, theirs) == ("status-200",)
    assert broken_promises("a sentence, as lessons not converted yet give", mine, theirs) == ()
