"""Making mutants (``autograder.mutation``): what a sample holds, and that no mutant is made
that cannot compile or that another mutant already is. Grading them against the hidden suites
is ``tests/lessons/test_mutation.py``'s."""

from __future__ import annotations

import textwrap

import pytest

from autograder import mutation
from autograder.lessons import all_lessons


def cell(body: str) -> str:
    return f"{mutation.BEGIN}\n" + textwrap.dedent(body).strip("\n") + f"\n{mutation.END}\n"


USE = cell("""
    async def use(pool, job, retries):
        connection = await pool.acquire()
        try:
            for attempt in range(retries + 1):
                if attempt > 0 and not job.ready:
                    continue
                return await job(connection, attempt * 2 - 1)
        finally:
            await connection.close()
    """)


def test_a_sample_holds_every_semantic_mutant_and_at_most_most_syntactic_ones():
    semantic = mutation.semantic_mutants("lesson", "use", USE)
    syntactic = mutation.syntactic_mutants("lesson", "use", USE)
    assert len(semantic) >= 2 and len(syntactic) > 10
    sample = mutation.mutants_of_cell("lesson", "use", USE, most=5)
    assert sample[-len(semantic) :] == semantic
    assert len(sample) - len(semantic) <= 5
    assert mutation.mutants_of_cell("lesson", "use", USE, syntactic=False) == semantic


def test_a_program_made_by_a_syntactic_and_a_semantic_operator_is_made_once_under_the_semantic_id():
    made = mutation.mutants_of_cell("lesson", "use", USE)
    sources = [mutant.source for mutant in made]
    assert len(sources) == len(set(sources))
    dropped_await = [
        mutant.id for mutant in made if "connection.close()" in mutant.id and "-> connection.close()" in mutant.id
    ]
    assert dropped_await == ["skip-await-cleanup at 10:8: await connection.close() -> connection.close()"]


def test_no_mutant_that_cannot_compile_is_made():
    # removing `started = False` would leave `nonlocal started` without its binding
    source = cell("""
        def watch(send):
            started = False

            def watching(message):
                nonlocal started
                started = True
                send(message)
            return watching
        """)
    made = mutation.mutants_of_cell("lesson", "watch", source)
    assert made and all(mutation._compiles(mutant.source) for mutant in made)
    removed = [mutant.id for mutant in made if mutant.id.startswith("remove-statement")]
    assert "remove-statement at 8:8: send(message) -> (removed)" in removed
    assert not any(each.startswith("remove-statement at 3:4: started = False") for each in removed)


@pytest.mark.parametrize("lesson", all_lessons(), ids=lambda lesson: lesson.slug)
def test_every_lesson_s_semantic_mutants_compile_and_differ_from_each_other_and_the_reference(lesson):
    made = mutation.mutants(lesson, syntactic=False)
    ids = [mutant.id for mutant in made]
    assert len({(mutant.exercise, mutant.id) for mutant in made}) == len(ids), "two mutants share an id"
    assert len({mutant.source for mutant in made}) == len(made)
    assert all(mutation._compiles(mutant.source) for mutant in made)


SUITE_MODULE = '''"""A hidden test module."""

from autograder.expect import expect, graded


@graded("json_app", points=1)
async def test_pairs(submission):
    """Every pair is
    as the task says."""
    for got, want in zip(submission.got, submission.wanted):
        expect(got == want, "Answer each request as the table says.")
'''


def test_a_suites_meaning_ignores_its_layout_and_sees_its_code():
    """The record stays fresh across formatting, comments, noqa marks, rewrapped docstrings and
    long strings split into adjacent literals; any change to what runs makes it stale."""
    meaning = mutation.meaning
    laid_out = SUITE_MODULE.replace(
        '    """Every pair is\n    as the task says."""',
        '    """Every pair is as the task says."""  # a comment',
    ).replace('"Answer each request as the table says.")', '"Answer each request " "as the table says.")  # noqa: E501')
    assert laid_out != SUITE_MODULE
    assert meaning("test_x.py", laid_out) == meaning("test_x.py", SUITE_MODULE)
    strict = SUITE_MODULE.replace("submission.wanted)", "submission.wanted, strict=True)")
    reworded = SUITE_MODULE.replace("as the table says", "as the task says")
    for changed in (strict, reworded):
        assert meaning("test_x.py", changed) != meaning("test_x.py", SUITE_MODULE)
    assert meaning("promises.toml", "a = 1\n") != meaning("promises.toml", "a  = 1\n")  # not Python: as written
