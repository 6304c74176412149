"""Hidden speed check of step 4, `listing_router`, in a module of its own so that it can be graded
alone, again and again, on a busy machine.

A probe (``lesson10.listing_speed``) times GET /invoices for an Acme member, Acme having 1,000 more
invoices than the dataset's 157, on the naive listing and on the learner's, both served by the
learner's ``make_app`` on one database, interleaved round by round, in CPU time
(``coursekit.timing.compare_apps``); the median of the rounds' ratios is compared, and more rounds
are measured before failing (``autograder.suitekit.speedup``). The reference is about three times
as fast as the naive listing there (on the dataset's 157 invoices, twice as fast on a quiet
machine, and under 1.5 times on a busy one: what every request costs, the same for both, grows
with the load); a listing that redoes the naive one's work is about as fast.
"""

import pytest

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import require, speedup

from .background import scenario as in_background

pytestmark = pytest.mark.anyio
NAME = "listing_router"
NEEDED = 1.5  # the statement's "at least 1.5 times as fast"
ACME_MEMBER = 3
MORE = 1_000  # invoices added to Acme's for the race (the statement's)
ROUNDS = 5
RACE_SECONDS = 60  # for one race, on a machine busy with a whole class (about 1 s of CPU on a quiet one)


@graded(NAME, points=2.5, promises=["faster"])
async def test_listing_router_is_at_least_one_and_a_half_times_as_fast(submission):
    """GET /invoices for an Acme member (1,157 invoices) takes at most 1/1.5 of the naive listing's CPU time, measured
    side by side."""
    await require(submission, "make_app", kind="function")
    await require(submission, NAME, kind="function")

    async def measure():
        return await in_background(
            submission,
            NAME,
            "listing_speed",
            defined("make_app"),
            defined("naive_listing_router"),
            defined(NAME),
            defined("new_database"),
            ACME_MEMBER,
            MORE,
            ROUNDS,
            seconds=RACE_SECONDS,
        )

    faster = await speedup(measure, "naive", "learner", needed=NEEDED)
    expect(
        faster >= NEEDED,
        f"Your GET /invoices was {faster:.2f} times as fast as the naive listing's; it should be at least {NEEDED:g} "
        "times as fast. Which work does every request redo that could be done once, and which way of answering "
        "skips FastAPI's own encoding?",
    )
