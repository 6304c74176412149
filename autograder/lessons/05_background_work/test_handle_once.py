"""Hidden tests for `handle_once`: an idempotent job handler (a payment made once per key)."""

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import answered, names, probe_batch, raised_as_type, require, same_as_reference

from .inputs import queue_steps, shown_steps

pytestmark = pytest.mark.anyio
NAME = "handle_once"
SETUP = names("create_queue", "connect", "enqueue", "job_row")
LEARNER = names("handle_once")


def job(job_id, key, amount=1250, invoice=7):
    return {
        "id": job_id,
        "kind": "pay",
        "payload": {"invoice_id": invoice, "amount_cents": amount},
        "attempts": 1,
        "idempotency_key": key,
    }


async def play(submission, steps):
    await require(submission, NAME, kind="function")
    return await submission.probe("lesson05.script", SETUP, LEARNER, steps)


@graded(NAME, points=1.5, promises=["once-per-key", "records-key", "answer"], unhappy=True)
async def test_handle_once_pays_once_per_key(submission):
    """Delivered twice, the job pays once (True, then False); another key pays again."""
    answers = await play(
        submission,
        [
            {"op": "handle", "job": job(1, "pay-1")},
            {"op": "handle", "job": job(1, "pay-1")},
            {"op": "count", "table": "payments"},
            {"op": "handle", "job": job(2, "pay-2", invoice=8)},
            {"op": "count", "table": "payments"},
            {"op": "count", "table": "processed"},
        ],
    )
    expect(
        answered(answers[0], NAME) is True,
        "The first delivery of a job should make the payment and answer True.",
        promises=["answer"],
    )
    expect(
        answered(answers[1], NAME) is False and answers[2] == 1,
        "A second delivery of the same job should pay nothing and answer False.",
        promises=["once-per-key", "answer"],
    )
    expect(
        answered(answers[3], NAME) is True and answers[4] == 2,
        "A job with another idempotency key should pay.",
        promises=["once-per-key", "answer"],
    )
    expect(
        answers[5] == 2,
        "Each key handled should be recorded once in the table processed (idempotency_key, "
        f"job_id): after two keys it holds {answers[5]} row(s).",
        promises=["records-key"],
    )


@graded(NAME, points=1, promises=["once-per-key"], unhappy=True)
async def test_handle_once_goes_by_the_key_not_the_job_id(submission):
    """Two jobs (two ids) with one idempotency key pay once: the key names the effect."""
    answers = await play(
        submission,
        [
            {"op": "handle", "job": job(1, "pay-9")},
            {"op": "handle", "job": job(2, "pay-9")},
            {"op": "count", "table": "payments"},
        ],
    )
    expect(
        answered(answers[0], NAME) is True and answered(answers[1], NAME) is False and answers[2] == 1,
        "Two jobs carrying the same idempotency_key are the same payment: use the key, not the job's id.",
    )


@graded(NAME, points=1, promises=["failed-payment"], unhappy=True)
async def test_handle_once_forgets_a_failed_attempt(submission):
    """A delivery whose payment fails leaves no trace, so the retry pays."""
    # Both on one connection, left as handle_once leaves it: a retry runs where the failure ran.
    answers = await play(
        submission,
        [
            {"op": "handle", "job": job(1, "pay-3", amount=-5), "leave_open": True},
            {"op": "handle", "job": job(1, "pay-3", amount=500), "leave_open": True},
            {"op": "count", "table": "payments"},
        ],
    )
    expect(
        isinstance(answers[0], dict) and "raised" in answers[0],
        "A delivery whose payment is refused by the database should raise (the worker then retries it).",
    )
    retried = answers[1].get("raised", "") if isinstance(answers[1], dict) else ""
    expect(
        "transaction" not in retried,
        f"After a delivery whose payment failed, the retry on the same connection raised {retried!r}: the failed "
        "delivery left its transaction open. Roll it back before the exception goes on (ROLLBACK in an except "
        "that re-raises), so the connection is as it was.",
    )
    expect(
        answered(answers[1], NAME) is True and answers[2] == 1,
        "After a delivery that failed, the retry must still pay: record the key in the same transaction as "
        "the payment, so a failure leaves neither.",
    )


@graded(NAME, points=1.5, promises=["concurrent"], unhappy=True)
async def test_handle_once_with_deliveries_at_the_same_time(submission):
    """Three deliveries of one job at the same moment pay exactly once."""
    await require(submission, NAME, kind="function")
    race = await submission.probe("lesson05.handle_race", SETUP, defined(NAME))
    if race["errors"]:
        answered({"raised": race["errors"][0]}, NAME)
    expect(
        len(race["payments"]) == 1 and race["answers"].count(True) == 1,
        f"Three deliveries of one job at the same moment made {len(race['payments'])} payment(s): check for the key "
        "and record it in one transaction with the payment (BEGIN IMMEDIATE), not in separate steps.",
    )


# Deliveries of payment jobs, some of them again, some refused by the database (an amount of
# 0 or less breaks a CHECK): the connection is left as the learner's code leaves it, so a
# retry shows whether a failed delivery left anything behind.
DELIVERIES = st.builds(
    lambda job_id, key, amount: {"job": job(job_id, key, amount), "leave_open": True},
    st.integers(1, 3),
    st.sampled_from(["k1", "k2", "k3"]),
    st.sampled_from([1250, 99, 0, -5]),
)
SCRIPTS = queue_steps(
    {"handle": DELIVERIES, "count": st.fixed_dictionaries({"table": st.sampled_from(["payments", "processed"])})}
)


@graded(NAME, points=1, promises=["once-per-key", "records-key", "answer", "failed-payment"], unhappy=True)
async def test_generated_deliveries_pay_once_per_key(submission, reference):
    """On generated deliveries (keys delivered again, payments the database refuses, retries), each answer and count is
    as the task says."""
    await require(submission, NAME, kind="function")

    await same_as_reference(
        submission,
        reference,
        NAME,
        SCRIPTS,
        examples=15,
        batch=probe_batch("lesson05.scripts", SETUP, LEARNER, each=raised_as_type),
        show=shown_steps,
        promise=["once-per-key", "records-key", "answer", "failed-payment"],
    )
