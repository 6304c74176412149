"""Hidden tests for step 4, `listing_router`: the naive listing's answers, from the database as it is.

A probe (``lesson10.listing_answers``) serves ``make_app(url, listing_router())`` and
``make_app(url, naive_listing_router())`` on one fresh database in the sandbox and asks both the
same requests, with writes (plain sqlite3) between some of them; the tests compare the learner's
answer with the naive listing's, which the statement makes the measure. A differential test asks
generated sequences of requests and writes of the learner's service and of the reference's. Its
speed is checked in ``test_listing_speed.py``.
"""

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import require, same_as_reference

from .background import scenario as in_background

pytestmark = pytest.mark.anyio
NAME = "listing_router"
STATUSES = ("draft", "sent", "paid", "void")
USERS = (3, 15, 28, 37)  # a member or an admin of every tenant; 37's tenant (Umbrella) has no invoices
NEW_ACME_INVOICE = (
    "INSERT INTO invoices (tenant_id, user_id, number, customer, amount_cents, currency, status, "
    "issued_on, due_on) VALUES (1, 3, 'ACME-2026-0099', 'Fresh & Co', 5, 'EUR', 'void', '2026-08-01', "
    "'2026-08-31')"
)
# An invoice of an earlier year, added last: its id is the largest and its number the smallest of
# Acme's, so that the (tenant_id, number) index's order is no longer the id order.
EARLIER_ACME_INVOICE = (
    "INSERT OR IGNORE INTO invoices (tenant_id, user_id, number, customer, amount_cents, currency, "
    "status, issued_on, due_on) VALUES (1, 3, 'ACME-2019-0001', 'Early & Co', 7, 'EUR', 'paid', "
    "'2019-03-01', '2019-03-31')"
)
# The requests and writes of the scenario, in order, and what each part of it shows.
GRID = [
    {"user": user, "query": None if status is None else f"status={status}"}
    for user in USERS
    for status in (None, *STATUSES)
]
EDGES = [
    {"user": 3, "query": "status="},
    {"user": 1, "query": "status=lost"},
    {"user": 15, "query": "status=PAID"},
    {"user": 37, "query": "status=draft"},
    {"user": None, "query": None},
    {"user": 13, "query": None},
    {"user": None, "query": "status=paid"},
]
FRESH = [
    {"user": 3, "query": "status=void"},
    {"write": ["UPDATE invoices SET status = 'void' WHERE id = 1", []]},
    {"write": [NEW_ACME_INVOICE, []]},
    {"user": 3, "query": "status=void"},
    {"user": 1, "query": None},
]
ORDERED = [{"write": [EARLIER_ACME_INVOICE, []]}, {"user": 3, "query": None}, {"user": 1, "query": "status=paid"}]
STEPS = GRID + EDGES + FRESH + ORDERED

_answers: dict = {}


async def answers(submission) -> list:
    """Each step's answers, [the learner's, the naive listing's], run once per submission."""
    if "steps" not in _answers:
        await require(submission, "make_app", kind="function")
        await require(submission, NAME, kind="function")
        _answers["steps"] = await in_background(
            submission,
            NAME,
            "listing_answers",
            defined("make_app"),
            [defined(NAME), defined("naive_listing_router")],
            defined("new_database"),
            STEPS,
        )
    return _answers["steps"]


def asked(step: dict) -> str:
    who = "without a token" if step["user"] is None else f"as user {step['user']}"
    return f"GET /invoices{'?' + step['query'] if step['query'] is not None else ''} {who}"


def differences(steps: list, seen: list) -> list[str]:
    """The requests whose answer differs from the naive listing's, and how."""
    found = []
    for step, pair in zip(steps, seen, strict=True):
        if pair is None:
            continue
        mine, naive = pair
        for part in ("status", "content_type", "body"):
            if mine[part] != naive[part]:
                shown_mine, shown_naive = (str(answer[part])[:160] for answer in (mine, naive))
                found.append(
                    f"{asked(step)}: your {part.replace('_', '-')} {shown_mine}, the naive listing's {shown_naive}"
                )
                break
    return found


@graded(NAME, points=2, promises=["same-answers"])
async def test_listing_router_answers_as_the_naive_listing(submission):
    """A member or an admin of every tenant, with and without each ?status=, and once an invoice of an earlier year is
    added: status, content-type and JSON as the naive listing's."""
    seen = await answers(submission)
    found = differences(GRID, seen[: len(GRID)])
    expect(
        not found,
        "GET /invoices should answer exactly as naive_listing_router()'s (status, content-type, JSON body: "
        f"the tenant's invoices in id order, filtered by ?status=); {len(found)} of {len(GRID)} requests "
        f"differ, such as {found[0] if found else ''}.",
    )
    found = differences(ORDERED, seen[-len(ORDERED) :])
    expect(
        not found,
        "Once an invoice of an earlier year was added (the newest id, the smallest number), GET /invoices "
        "should still answer as naive_listing_router()'s: the tenant's invoices in id order, whatever order "
        f"the database would find them in; {found[0] if found else ''}.",
    )


@graded(NAME, points=1, promises=["empty-and-refused"], unhappy=True)
async def test_listing_router_answers_empty_lists_and_refusals_as_the_naive_listing(submission):
    """A tenant without invoices, an empty or unknown status: []; no token or an inactive user's: current_caller's
    401."""
    seen = await answers(submission)
    start = len(GRID)
    found = differences(EDGES, seen[start : start + len(EDGES)])
    expect(
        not found,
        "An empty status, a status no invoice has, a tenant without invoices should get [], and a request "
        "without a valid token current_caller's 401, exactly as the naive listing answers them; "
        f"{found[0] if found else ''}.",
    )


@graded(NAME, points=1, promises=["fresh"], unhappy=True)
async def test_listing_router_answers_from_the_database_as_it_is_now(submission):
    """An invoice changed and one added between two requests show in the second answer, as in the naive listing's."""
    seen = await answers(submission)
    start = len(GRID) + len(EDGES)
    found = differences(FRESH, seen[start : start + len(FRESH)])
    expect(
        not found,
        "An invoice changed and one added since the last request should show in the next answer, as they "
        f"are now: read the database at each request, keep no answer between requests; {found[0] if found else ''}.",
    )


CALLS = st.fixed_dictionaries(
    {
        "user": st.sampled_from(USERS),
        "query": st.sampled_from([None, *[f"status={status}" for status in STATUSES], "status="]),
    }
)
WRITES = st.one_of(
    st.tuples(st.sampled_from(STATUSES), st.sampled_from([1, 3, 157, 160, 399])).map(
        lambda change: {"write": ["UPDATE invoices SET status = ? WHERE id = ?", list(change)]}
    ),
    st.just({"write": [NEW_ACME_INVOICE, []]}),
    st.just({"write": [EARLIER_ACME_INVOICE, []]}),
    st.just({"write": ["DELETE FROM invoices WHERE id = 2", []]}),
)
SEQUENCES = st.lists(st.one_of(CALLS, CALLS, WRITES), min_size=1, max_size=5)


def shown_steps(steps: list) -> str:
    return "; ".join(
        f"the database changed: {step['write'][0]} {step['write'][1]}" if "write" in step else asked(step)
        for step in steps
    )


@graded(NAME, points=1.5, promises=["same-answers", "fresh"])
async def test_listing_router_answers_generated_requests_as_the_task_says(submission, reference):
    """On generated sequences of requests (every tenant, each status) and changes to the database, the answers are as
    the task says."""
    await require(submission, "make_app", kind="function")
    await require(submission, NAME, kind="function")

    async def batch(side, sequences):
        return await in_background(
            side, NAME, "listing_sequences", defined("make_app"), defined(NAME), defined("new_database"), sequences
        )

    await same_as_reference(
        submission,
        reference,
        NAME,
        SEQUENCES,
        batch=batch,
        examples=5,
        show=shown_steps,
        promise=["same-answers", "fresh"],
    )
