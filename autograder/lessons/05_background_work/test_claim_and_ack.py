"""Hidden tests for `claim` and `ack`: the lease on the SQLite queue.

Scenarios are played in the sandbox by ``lesson05.script`` (one connection, explicit
``now``), and the race by ``lesson05.claim_race`` (threads with their own connections).
"""

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.suitekit import answered, names, probe_batch, raised_as_type, require, same_as_reference

from .inputs import JOB_IDS, TIMES, WORKERS, queue_steps, shown_steps

pytestmark = pytest.mark.anyio
NAME = "claim_and_ack"
SETUP = names("create_queue", "connect", "enqueue", "job_row")
LEARNER = names("claim", "ack")


async def play(submission, steps):
    for name in ("claim", "ack"):
        await require(submission, name, kind="function")
    return await submission.probe("lesson05.script", SETUP, LEARNER, steps)


def w2_after_w1(*times):
    """One job claimed by w1 at 0.0 with a 5 s lease, then claims by w2 at each of ``times``."""
    return [
        {"op": "enqueue", "payload": {}, "now": 0.0},
        {"op": "claim", "worker": "w1", "now": 0.0, "lease": 5.0},
        *({"op": "claim", "worker": "w2", "now": at, "lease": 5.0} for at in times),
    ]


def claimed(answer) -> dict | None:
    answer = answered(answer, "claim")
    expect(
        answer is None or isinstance(answer, dict), "`claim` should answer a dict (the job) or None when no job is due."
    )
    return answer


@graded(NAME, points=1.5, promises=["claim-due", "claim-order", "claim-marks", "claim-answer"])
async def test_claim_takes_due_jobs_oldest_first(submission):
    """Due jobs are taken by run_at then id, marked running with the lease; a future job waits."""
    steps = [
        {"op": "enqueue", "kind": "mail", "payload": {"n": 1}, "now": 5.0},
        {"op": "enqueue", "kind": "mail", "payload": {"n": 2}, "now": 1.0, "key": "k2"},
        {"op": "enqueue", "kind": "pdf", "payload": {"n": 3}, "now": 1.0},
        {"op": "enqueue", "kind": "pdf", "payload": {"n": 4}, "now": 100.0},
    ]
    steps += [{"op": "claim", "worker": "w1", "now": 10.0, "lease": 5.0} for _ in range(4)]
    steps += [{"op": "row", "id": 2}]
    answers = await play(submission, steps)
    first, second, third, fourth = (claimed(answer) for answer in answers[4:8])
    expect(
        first is not None and second is not None and third is not None,
        "`claim` should take every job whose run_at is not after `now`.",
        promises=["claim-due"],
    )
    expect(
        [first.get("id"), second.get("id"), third.get("id")] == [2, 3, 1],
        "`claim` should take the job with the smallest run_at first, and among equal run_at the smallest id.",
        promises=["claim-order"],
    )
    expect(
        fourth is None,
        "`claim` should answer None when no job is due yet (run_at after `now`).",
        promises=["claim-due"],
    )
    expect(
        {key: first.get(key) for key in ("kind", "payload", "attempts", "idempotency_key")}
        == {"kind": "mail", "payload": {"n": 2}, "attempts": 1, "idempotency_key": "k2"},
        "`claim` should answer the job as a dict with id, kind, payload (decoded from JSON), attempts "
        "(after this claim) and idempotency_key.",
        promises=["claim-answer"],
    )
    row = answers[8]
    expect(
        row["state"] == "running" and row["worker"] == "w1" and row["lease_until"] == 15.0 and row["attempts"] == 1,
        "A claimed job should be left with state 'running', worker set, lease_until = now + lease_seconds, "
        "and attempts one more than before.",
        promises=["claim-marks"],
    )


@graded(NAME, points=1, promises=["claim-due", "claim-expired", "claim-marks"], unhappy=True)
async def test_claim_takes_back_an_expired_lease(submission):
    """A running job whose lease has ended (lease_until <= now) may be claimed again."""
    answers = await play(submission, [*w2_after_w1(4.0, 5.0), {"op": "row", "id": 1}])
    expect(
        claimed(answers[1]) is not None,
        "`claim` should take a ready job that is due: run_at <= now, a job due exactly now too.",
        promises=["claim-due"],
    )
    expect(
        claimed(answers[2]) is None,
        "A job whose lease has not ended yet must not be claimed by another worker.",
        promises=["claim-expired"],
    )
    again = claimed(answers[3])
    expect(
        again is not None and again.get("id") == 1 and again.get("attempts") == 2,
        "A running job whose lease has ended (lease_until <= now) should be claimed again, counting one more attempt.",
        promises=["claim-expired"],
    )
    expect(
        answers[4]["worker"] == "w2" and answers[4]["lease_until"] == 10.0,
        "Claiming an expired job should give the claim (worker, lease_until) to the new worker.",
        promises=["claim-marks"],
    )


@graded(NAME, points=1, promises=["ack-done", "ack-holder-only"], unhappy=True)
async def test_ack_only_by_the_holder(submission):
    """ack answers True and marks the job done only for the worker that holds the claim."""
    steps = [
        *w2_after_w1(6.0),
        {"op": "ack", "id": 1, "worker": "w1", "result": {"pages": 1}},
        {"op": "row", "id": 1},
        {"op": "ack", "id": 1, "worker": "w2", "result": {"pages": 2}},
        {"op": "row", "id": 1},
        {"op": "ack", "id": 1, "worker": "w2", "result": {"pages": 3}},
        {"op": "row", "id": 1},
    ]
    answers = await play(submission, steps)
    for answer in answers[1:3]:
        claimed(answer)
    stale = answered(answers[3], "ack")
    expect(
        stale is False and answers[4]["state"] == "running",
        "`ack` from a worker whose lease ended and whose job another worker took must answer False and change nothing.",
        promises=["ack-holder-only"],
    )
    expect(
        answered(answers[5], "ack") is True,
        "`ack` from the worker holding the claim should answer True.",
        promises=["ack-done"],
    )
    expect(
        answers[6]["state"] == "done" and answers[6]["result"] == {"pages": 2},
        "After `ack`, the job should be 'done' with `result` stored as JSON.",
        promises=["ack-done"],
    )
    expect(
        answers[6]["lease_until"] is None,
        "After `ack`, the job's lease_until should be cleared (NULL): a done job has no lease.",
        promises=["ack-done"],
    )
    expect(
        answered(answers[7], "ack") is False and answers[8]["result"] == {"pages": 2},
        "`ack` of a job that is already done should answer False and leave its result as it was.",
        promises=["ack-holder-only"],
    )


@graded(NAME, points=1.5, promises=["claim-once"], unhappy=True)
async def test_claim_is_safe_with_concurrent_workers(submission):
    """Four workers claim at once from one queue: every job is taken by exactly one of them."""
    await require(submission, "claim", kind="function")
    race = await submission.probe("lesson05.claim_race", SETUP, {"$name": "claim"})
    if race["errors"]:
        answered({"raised": race["errors"][0]}, "claim")
    expect(
        race["finished"],
        "Workers claiming at the same time did not finish within 3 s: does `claim` leave a "
        "transaction (and its lock) open, for instance a RETURNING statement not fetched to the end?",
    )
    taken = [job for _, job in race["claims"]]
    expect(
        len(taken) == len(set(taken)),
        "With several workers claiming at once, a job was claimed by two workers: take the job in one atomic "
        "step (one UPDATE ... RETURNING, or a BEGIN IMMEDIATE transaction around the read and the write).",
    )
    expect(
        sorted(taken) == list(range(1, race["jobs"] + 1)),
        "With several workers claiming at once, every due job should be claimed once and only once.",
    )


SCRIPTS = queue_steps(
    {
        "claim": st.fixed_dictionaries({"worker": WORKERS, "now": TIMES, "lease": st.sampled_from([1.0, 5.0])}),
        "ack": st.fixed_dictionaries({"id": JOB_IDS, "worker": WORKERS, "result": st.none() | st.just({"pages": 3})}),
        "row": st.fixed_dictionaries({"id": JOB_IDS}),
    }
)


@graded(
    NAME,
    points=1,
    promises=[
        "claim-due",
        "claim-expired",
        "claim-order",
        "claim-marks",
        "claim-answer",
        "ack-done",
        "ack-holder-only",
    ],
    unhappy=True,
)
async def test_generated_scripts_claim_and_ack_as_the_task_says(submission, reference):
    """On generated scripts (jobs due now or later, claims by two workers as leases run out, acks by the holder or not),
    every answer and row is as the task says."""
    for name in ("claim", "ack"):
        await require(submission, name, kind="function")

    await same_as_reference(
        submission,
        reference,
        NAME,
        SCRIPTS,
        examples=15,
        batch=probe_batch("lesson05.scripts", SETUP, LEARNER, each=raised_as_type),
        show=shown_steps,
        promise=[
            "claim-due",
            "claim-expired",
            "claim-order",
            "claim-marks",
            "claim-answer",
            "ack-done",
            "ack-holder-only",
        ],
    )
