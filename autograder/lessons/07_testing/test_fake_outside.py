"""Hidden tests for `fake_outside`: overrides for the caller and the payments service, restored.

``lesson07.outside_report`` uses the learner's context manager on the invoices app, with
overrides already in place as a plan says, creates (and maybe pays) an invoice with no token,
maybe raises inside the block, and reports the overrides before, inside and after (each shown
by what it answers), the answers, and what the recorder kept.
"""

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import require, same_as_reference, without_errors

pytestmark = pytest.mark.anyio
NAME = "fake_outside"


async def played(side, plan):
    return await side.probe("lesson07.outside_report", defined(NAME), plan)


async def report(submission, plan):
    await require(submission, NAME, kind="function")
    return without_errors(await played(submission, plan), NAME, allowed=("LookupError", "CancelledError"))


@graded(NAME, points=2, promises=["acts-as-user", "one-recorder"])
async def test_acts_as_the_user_and_records_the_payment(submission):
    """Inside the block the caller is `user` and a payment lands in the recorder."""
    seen = await report(submission, {"user": "dave", "pay": True})
    expect(
        seen["created"]["status"] == 201 and seen["created"]["body"].get("owner") == "dave",
        "Inside the block, current_user should answer the given user (a request without a token is that user).",
        promises=["acts-as-user"],
    )
    expect(
        seen.get("paid") == {"status": 200} and seen["recorded"] == [seen["created"]["body"]["id"]],
        "Inside the block, get_notifier should answer the recorder the block gets, so a paid invoice lands "
        "in recorder.sent (one recorder for the whole block).",
        promises=["one-recorder"],
    )


@graded(NAME, points=2, promises=["restored-exactly"])
async def test_restores_earlier_overrides(submission):
    """Overrides in place before the block are exactly as before after it."""
    before = {"current_user": "carol", "get_notifier": True, "get_settings": True}
    seen = await report(submission, {"user": "dave", "before": before})
    expect(
        seen["after"] == seen["before"],
        "After the block, app.dependency_overrides should be exactly as before it: overrides of other "
        "dependencies untouched, earlier overrides of current_user and get_notifier back in place.",
    )


@graded(NAME, points=1, promises=["restored-exactly"])
async def test_removes_its_overrides(submission):
    """With no overrides before, none are left after (and a request needs a token again)."""
    seen = await report(submission, {"user": "dave"})
    expect(
        seen["after"] == {} and seen["after_status"] == 401,
        "After the block, the overrides it added should be gone: a request without a token gets 401 again.",
    )


@graded(NAME, points=1, promises=["restored-whatever-raised"], unhappy=True)
async def test_restores_when_the_block_raises(submission):
    """The overrides are restored when the block raises, and the exception goes on."""
    seen = await report(submission, {"user": "dave", "raise": True, "before": {"get_settings": True}})
    expect(
        seen.get("error") == {"raised": "LookupError"},
        "An exception raised inside the block should come out of it, not be swallowed.",
    )
    expect(seen["after"] == seen["before"], "When the block raises, the overrides must still be restored (finally).")


@graded(NAME, points=1, promises=["restored-whatever-raised"], unhappy=True)
async def test_restores_when_the_test_is_cancelled(submission):
    """The overrides are restored when a BaseException (a cancellation) ends the block, and it goes on."""
    seen = await report(submission, {"user": "dave", "raise": "cancel", "before": {"current_user": "carol"}})
    expect(
        seen.get("error") == {"raised": "CancelledError"},
        "A cancellation inside the block should come out of it unchanged, not be swallowed.",
    )
    expect(
        seen["after"] == seen["before"],
        "When the block ends by an exception that is not an Exception (a cancelled test, pytest's skip or exit: "
        "BaseException), the overrides must still be restored: except Exception does not see those; a finally "
        "does.",
    )


PLANS = st.fixed_dictionaries(
    {
        "user": st.sampled_from(["alice", "bob", "zoe"]),
        "before": st.fixed_dictionaries(
            {
                "current_user": st.sampled_from([None, "carol", "alice"]),
                "get_notifier": st.booleans(),
                "get_settings": st.booleans(),
            }
        ),
        "pay": st.booleans(),
        "raise": st.sampled_from([False, True, "cancel"]),
        "unit_cents": st.integers(0, 10**6),
    }
)


@graded(NAME, points=2, promises=["acts-as-user", "one-recorder", "restored-exactly", "restored-whatever-raised"])
async def test_generated_plans(submission, reference):
    """On generated earlier overrides and blocks, requests and overrides are as the task says."""
    await require(submission, NAME, kind="function")
    await same_as_reference(
        submission,
        reference,
        NAME,
        PLANS,
        played,
        examples=10,
        promise={
            "created": "acts-as-user",
            "paid": "one-recorder",
            "recorded": "one-recorder",
            "inside": ["acts-as-user", "one-recorder"],
            "after": ["restored-exactly", "restored-whatever-raised"],
            "after_status": "restored-exactly",
            "error": "restored-whatever-raised",
        },
    )
