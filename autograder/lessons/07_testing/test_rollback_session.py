"""Hidden tests for `rollback_session`: a session whose writes are rolled back after the block.

``lesson07.rollback_report`` plays scopes of steps ("add", "commit", "rollback", "count",
"raise", and "outside": a row committed by another connection first) on an SQLite file opened
with the notebook's ``savepoint_engine``, and reports what each count saw, what a new
connection sees after each scope and how many connections are still checked out then.
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


async def report(submission, scopes, allowed=()):
    await require(submission, NAME, kind="function")
    return without_errors(await played(submission, scopes), NAME, allowed=allowed)


@graded(NAME, points=2, promises=["async-session", "commit-keeps", "nothing-left"])
async def test_commits_do_not_outlive_the_block(submission):
    """A row the app committed inside the block is gone after it."""
    seen = await report(submission, [["add", "commit", "count"], ["count"]])
    expect(
        seen[0]["session"] == "AsyncSession",
        f"The block should get an AsyncSession, not a {seen[0]['session']}.",
        promises=["async-session"],
    )
    expect(
        seen[0]["counts"] == [1],
        "Inside the block, a committed row should be visible to later queries.",
        promises=["commit-keeps"],
    )
    expect(
        seen[0]["after"] == 0 and seen[1]["counts"] == [0],
        "A commit made through the session escaped the block: it must only end a SAVEPOINT inside a "
        "transaction you begin on the connection and roll back at the end.",
        promises=["nothing-left"],
    )


@graded(NAME, points=1, promises=["rollback-to-last-commit"], unhappy=True)
async def test_rollback_inside_goes_back_to_the_last_commit(submission):
    """session.rollback() undoes what was written since the last commit, and the block goes on."""
    seen = await report(submission, [["add", "commit", "add", "rollback", "count", "add", "count"]])
    expect(
        seen[0]["counts"] == [1, 2],
        "After commit, add, rollback, the committed row should still be there (and the session usable): "
        'the session should join the connection\'s transaction with join_transaction_mode="create_savepoint".',
    )
    expect(seen[0]["after"] == 0, "Nothing written in the block may remain after it.", promises=["nothing-left"])


@graded(NAME, points=1, promises=["async-session", "nothing-left"])
async def test_rows_from_before_stay(submission):
    """Rows committed before the block are seen inside and kept after."""
    seen = await report(submission, [["outside", "count", "add", "commit", "count"]])
    expect(
        seen[0]["counts"] == [1, 2] and seen[0]["after"] == 1,
        "Rows that were in the database before the block should be seen inside it and remain after it; "
        "only what the block wrote goes.",
        promises=["nothing-left"],
    )


@graded(NAME, points=1, promises=["nothing-left", "cleaned-up-when-raised"], unhappy=True)
async def test_gives_the_connection_back_when_the_block_raises(submission):
    """When the block raises, the exception comes out, nothing is left and the connection is given back."""
    seen = await report(submission, [["add", "commit", "count"], ["add", "commit", "raise"]], allowed=("LookupError",))
    expect(
        seen[1].get("error") == {"raised": "LookupError"},
        "An exception raised inside the block should come out of it unchanged, not be swallowed or replaced.",
        promises=["cleaned-up-when-raised"],
    )
    expect(
        seen[1]["checked_out"] == 0,
        "When the block raises, its connection was never given back to the engine (it stays checked out with "
        "its transaction open, and on SQLite every other writer waits): do the clean-up whatever way the block "
        "ends (async with, the exit stack, or finally).",
        promises=["cleaned-up-when-raised"],
    )
    expect(
        seen[0]["checked_out"] == 0,
        "After the block, its connection should be given back to the engine.",
        promises=["cleaned-up-when-raised"],
    )
    expect(
        seen[1]["after"] == 0,
        "When the block raises, nothing written in it may remain after it either.",
        promises=["cleaned-up-when-raised"],
    )


STEPS = st.lists(st.sampled_from(["add", "commit", "rollback", "count", "outside"]), max_size=7)


@graded(NAME, points=2, promises=["async-session", "commit-keeps", "rollback-to-last-commit", "nothing-left"])
async def test_generated_scopes(submission, reference):
    """On generated sequences of writes, commits and rollbacks, the counts are as the task says."""
    await require(submission, NAME, kind="function")
    await same_as_reference(
        submission,
        reference,
        NAME,
        st.lists(STEPS, min_size=1, max_size=3),
        played,
        examples=10,
        promise=["commit-keeps", "rollback-to-last-commit", "nothing-left"],
    )
