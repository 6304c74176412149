"""Hidden tests for `rollback_session`: a session whose writes are rolled back after the block.

``lesson07.rollback_report`` plays scopes of steps ("add", "commit", "rollback", "count", and
"outside": a row committed by another connection first) on an SQLite file opened with the
notebook's ``savepoint_engine``, and reports what each count saw and what a new connection
sees after each scope.
"""

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import require, same_as_reference, without_errors

pytestmark = pytest.mark.anyio
NAME = "rollback_session"


async def played(side, scopes):
    return await side.probe("lesson07.rollback_report", defined(NAME), defined("savepoint_engine"), scopes)


async def report(submission, scopes):
    await require(submission, NAME, kind="function")
    return without_errors(await played(submission, scopes), NAME)


@graded(NAME, points=2)
async def test_commits_do_not_outlive_the_block(submission):
    """A row the app committed inside the block is gone after it."""
    seen = await report(submission, [["add", "commit", "count"], ["count"]])
    expect(seen[0]["session"] == "AsyncSession", f"The block should get an AsyncSession, not a {seen[0]['session']}.")
    expect(seen[0]["counts"] == [1], "Inside the block, a committed row should be visible to later queries.")
    expect(seen[0]["after"] == 0 and seen[1]["counts"] == [0],
           "A commit made through the session escaped the block: it must only end a SAVEPOINT inside a "
           "transaction you begin on the connection and roll back at the end.")


@graded(NAME, points=1)
async def test_rollback_inside_goes_back_to_the_last_commit(submission):
    """session.rollback() undoes what was written since the last commit, and the block goes on."""
    seen = await report(submission, [["add", "commit", "add", "rollback", "count", "add", "count"]])
    expect(seen[0]["counts"] == [1, 2],
           "After commit, add, rollback, the committed row should still be there (and the session usable): "
           "the session should join the connection's transaction with join_transaction_mode=\"create_savepoint\".")
    expect(seen[0]["after"] == 0, "Nothing written in the block may remain after it.")


@graded(NAME, points=1)
async def test_rows_from_before_stay(submission):
    """Rows committed before the block are seen inside and kept after."""
    seen = await report(submission, [["outside", "count", "add", "commit", "count"]])
    expect(seen[0]["counts"] == [1, 2] and seen[0]["after"] == 1,
           "Rows that were in the database before the block should be seen inside it and remain after it; "
           "only what the block wrote goes.")


STEPS = st.lists(st.sampled_from(["add", "commit", "rollback", "count", "outside"]), max_size=7)


@graded(NAME, points=2)
async def test_generated_scopes(submission, reference):
    """On generated sequences of writes, commits and rollbacks, the counts are as the task says."""
    await require(submission, NAME, kind="function")
    await same_as_reference(submission, reference, NAME, st.lists(STEPS, min_size=1, max_size=3), played,
                            examples=10,
                            promise="inside the block commit() keeps rows for the rest of the block and "
                                    "rollback() undoes back to the last commit; after the block nothing it "
                                    "wrote remains, and rows from before are untouched.")
