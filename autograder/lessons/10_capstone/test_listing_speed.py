"""Hidden speed check of step 4, `listing_router`, in a module of its own so that it can be graded
alone, again and again, on a busy machine.

A probe (``lesson10.listing_speed``) times GET /invoices for an Acme member (157 invoices) on the
naive listing and on the learner's, both served by the learner's ``make_app`` on one database,
interleaved round by round, in CPU time (``coursekit.timing.compare_apps``); the median of the
rounds' ratios is compared, and more rounds are measured before failing
(``autograder.suitekit.speedup``). The reference is about twice as fast as the naive listing; a
listing that redoes the naive one's work is about as fast.
"""

import pytest

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import probe, require, speedup

pytestmark = pytest.mark.anyio
NAME = "listing_router"
NEEDED = 1.5  # the statement's "at least 1.5 times as fast"
ACME_MEMBER = 3
ROUNDS = 7


@graded(NAME, points=2.5, promises=["faster"])
async def test_listing_router_is_at_least_one_and_a_half_times_as_fast(submission):
    """GET /invoices for an Acme member takes at most 1/1.5 of the naive listing's CPU time, measured side by side."""
    await require(submission, "make_app", kind="function")
    await require(submission, NAME, kind="function")

    async def measure():
        return await probe(submission, NAME, "lesson10.listing_speed", defined("make_app"),
                           defined("naive_listing_router"), defined(NAME), defined("new_database"), ACME_MEMBER, ROUNDS)

    faster = await speedup(measure, "naive", "learner", needed=NEEDED)
    expect(faster >= NEEDED,
           f"Your GET /invoices was {faster:.2f} times as fast as the naive listing's; it should be at least {NEEDED:g} "
           "times as fast. Which work does every request redo that could be done once, and which way of answering "
           "skips FastAPI's own encoding?")
