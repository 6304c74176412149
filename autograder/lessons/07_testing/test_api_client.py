"""Hidden tests for `api_client`: the whole set-up for one test of the invoices app.

``lesson07.api_report`` uses the learner's context manager once per block on one invoices app
and one SQLite file (opened with the notebook's ``savepoint_engine``), sends each block's
steps ("create", "pay", "list", "read", "raise"), and reports the answers, what the recorder
kept, whether the lifespan had run, whether the block's requests shared one session, the
overrides left after each block, the rows left and the connections still checked out.
"""

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import require, same_as_reference, without_errors

pytestmark = pytest.mark.anyio
NAME = "api_client"


async def played(side, blocks):
    return await side.probe("lesson07.api_report", defined(NAME), defined("savepoint_engine"), blocks)


async def report(submission, blocks, allowed=()):
    await require(submission, NAME, kind="function")
    return without_errors(await played(submission, blocks), NAME, allowed=allowed)


@graded(NAME, points=2, promises=["one-session", "rolled-back"])
async def test_a_block_is_a_test_of_its_own(submission):
    """Invoices created in a block are seen in it, and gone after it (the next block starts empty)."""
    seen = await report(
        submission, [{"user": "alice", "steps": ["create", "list"]}, {"user": "alice", "steps": ["list"]}]
    )
    first, second = seen
    expect(
        first["answers"][0]["status"] == 201 and len(first["answers"][1]["body"]) == 2,
        "Inside the block, requests should use the database of the engine given (rows already there "
        "included), and an invoice created by one request should be seen by the next: one session on "
        "that engine for the whole block.",
        promises=["one-session"],
    )
    expect(
        len(second["answers"][0]["body"]) == 1 and first["rows_after"] == 1,
        "What a block wrote should be gone after it: every request's get_session should be the block's "
        "rolled-back session.",
        promises=["rolled-back"],
    )


@graded(NAME, points=1, promises=["one-session"])
async def test_every_request_gets_the_same_session(submission):
    """Two requests in one block get the very same session object from get_session."""
    seen = await report(submission, [{"user": "ivan", "steps": ["create"]}])
    expect(
        seen[0]["one_session"] is True,
        "Inside the block, two requests got two different sessions from get_session: make one session for "
        "the block, and have the override answer that one object every time.",
    )


@graded(NAME, points=1, promises=["lifespan-and-client", "user-and-recorder"])
async def test_acts_as_the_user_and_records(submission):
    """Requests are the user's, a payment is recorded, the lifespan has run."""
    seen = await report(submission, [{"user": "grace", "steps": ["create", "pay"]}])
    block = seen[0]
    expect(
        block["answers"][0]["body"].get("owner") == "grace",
        "Inside the block, current_user should answer the given user.",
        promises=["user-and-recorder"],
    )
    expect(
        block["answers"][1]["status"] == 200 and len(block["notified"]) == 1,
        "A paid invoice should land in the recorder the block gets (get_notifier answers it).",
        promises=["user-and-recorder"],
    )
    expect(block["lifespan_ran"], "The app's lifespan should run around the block.", promises=["lifespan-and-client"])
    expect(
        block["base_url"] == "http://test",
        f"The client's base_url should be http://test, not {block['base_url']}.",
        promises=["lifespan-and-client"],
    )


@graded(NAME, points=1, promises=["overrides-restored"])
async def test_leaves_no_overrides(submission):
    """After the block the app's overrides are as before: its own gone, another fixture's kept."""
    seen = await report(submission, [{"user": "heidi", "steps": ["list"]}])
    expect(
        seen[0]["overrides_after"] == ["get_settings"],
        "After the block, app.dependency_overrides should be exactly as before it: the overrides the block "
        "added gone, and any that were there before (another fixture's) still there.",
    )


@graded(NAME, points=1, promises=["whatever-happens"], unhappy=True)
async def test_puts_everything_back_when_the_block_raises(submission):
    """A block that raises: the exception comes out, overrides restored, writes gone, connection given back."""
    seen = await report(submission, [{"user": "judy", "steps": ["create", "raise"]}], allowed=("LookupError",))
    block = seen[0]
    expect(
        block.get("error") == {"raised": "LookupError"},
        "An exception raised inside the block should come out of it unchanged, not be swallowed or replaced.",
    )
    expect(
        block["overrides_after"] == ["get_settings"],
        "When the block raises (a failing test), app.dependency_overrides should still be put back as it was: "
        "restore it in a finally, or with a callback on the exit stack.",
    )
    expect(
        block["rows_after"] == 1 and block["checked_out"] == 0,
        "When the block raises, what it wrote should still be rolled back and its connection given back.",
    )


BLOCKS = st.lists(
    st.fixed_dictionaries(
        {
            "user": st.sampled_from(["alice", "bob"]),
            "steps": st.lists(st.sampled_from(["create", "pay", "list", "read"]), max_size=5),
        }
    ),
    min_size=1,
    max_size=3,
)


@graded(
    NAME,
    points=2,
    promises=["lifespan-and-client", "one-session", "rolled-back", "user-and-recorder", "overrides-restored"],
)
async def test_generated_blocks(submission, reference):
    """On generated blocks of requests, answers and what is left are as the task says."""
    await require(submission, NAME, kind="function")
    await same_as_reference(
        submission,
        reference,
        NAME,
        BLOCKS,
        played,
        examples=8,
        promise=["lifespan-and-client", "one-session", "rolled-back", "user-and-recorder", "overrides-restored"],
    )
