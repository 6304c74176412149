"""Hidden tests for `backoff` and `fail`: retries with exponential backoff, then dead letters.

`fail` is played on jobs put in the 'running' state directly (not through the learner's
`claim`), so this exercise is graded on its own.
"""

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import answered, names, probe_batch, raised_as_type, require, same_as_reference

from .inputs import JOB_IDS, TIMES, WORKERS, queue_steps, shown_steps

pytestmark = pytest.mark.anyio
NAME = "retry_or_bury"
SETUP = names("create_queue", "connect", "enqueue", "job_row")
LEARNER = names("fail")


def expected_backoff(attempts, base, cap, u):
    ceiling = min(cap, base * 2 ** (attempts - 1))
    return ceiling / 2 + u * ceiling / 2


def running(attempts, worker="w1"):
    return {
        "op": "put",
        "id": 1,
        "set": {"state": "running", "worker": worker, "attempts": attempts, "lease_until": 50.0},
    }


async def play(submission, steps):
    await require(submission, "fail", kind="function")
    return await submission.probe(
        "lesson05.script", SETUP, LEARNER, [{"op": "enqueue", "payload": {}, "now": 0.0}, *steps]
    )


@graded(NAME, points=1.5, promises=["backoff-doubles", "backoff-jitter"])
async def test_backoff_doubles_up_to_the_cap_with_jitter(submission):
    """backoff(attempts, base, cap, u) = d/2 + u*d/2 with d = min(cap, base * 2**(attempts-1)), up to 1000 attempts."""
    await require(submission, "backoff", kind="function")
    cases = [
        (1, 1.0, 60.0, 0.0),
        (1, 1.0, 60.0, 0.999),
        (2, 1.0, 60.0, 0.5),
        (3, 0.5, 60.0, 0.25),
        (6, 1.0, 60.0, 1.0),
        (7, 1.0, 60.0, 0.0),
        (12, 2.0, 30.0, 0.75),
        (4, 0.1, 60.0, 0.5),
        (1000, 1.0, 60.0, 0.5),
    ]
    for attempts, base, cap, u in cases:
        got = answered(await submission.call("backoff", attempts, base, cap, u), "backoff")
        want = expected_backoff(attempts, base, cap, u)
        expect(
            isinstance(got, (int, float)) and abs(got - want) < 1e-9,
            "`backoff` should double with each attempt (base after the first), stop growing at `cap`, and "
            "with u in [0, 1) land between half and all of that: d/2 + u*d/2.",
        )


@graded(NAME, points=1.5, promises=["fail-ready", "fail-error-lease"])
async def test_fail_schedules_a_retry(submission):
    """A failed job with attempts left goes back to 'ready', due at now + backoff, with its error."""
    answers = await play(
        submission,
        [
            running(2),
            {
                "op": "fail",
                "id": 1,
                "worker": "w1",
                "error": "timeout",
                "now": 100.0,
                "u": 0.25,
                "max_attempts": 5,
                "base": 2.0,
                "cap": 60.0,
            },
            {"op": "row", "id": 1},
        ],
    )
    expect(
        answered(answers[2], "fail") == "ready",
        "`fail` on a job with attempts left should answer 'ready'.",
        promises=["fail-ready"],
    )
    row = answers[3]
    expect(row["state"] == "ready", "`fail` should put the job back to 'ready'.", promises=["fail-ready"])
    expect(
        row["last_error"] == "timeout" and row["lease_until"] is None,
        "`fail` should keep the error in last_error and clear lease_until.",
        promises=["fail-error-lease"],
    )
    expect(
        abs(row["run_at"] - (100.0 + expected_backoff(2, 2.0, 60.0, 0.25))) < 1e-9,
        "`fail` should make the job due again at now + backoff(attempts, base, cap, u), with the job's attempts.",
        promises=["fail-ready"],
    )
    expect(
        row["attempts"] == 2, "`fail` should not change attempts (claim counts them).", promises=["fail-error-lease"]
    )


@graded(
    NAME, points=0.5, negative=True, promises=["fail-holder-only"], unhappy=True
)  # a fail that does nothing changes nothing either
async def test_fail_only_by_the_worker_holding_the_job(submission):
    """fail from a worker that does not hold the claim answers None and changes nothing."""
    answers = await play(
        submission,
        [
            running(3),
            {"op": "fail", "id": 1, "worker": "w2", "error": "late", "now": 10.0, "u": 0.5, "max_attempts": 3},
            {"op": "row", "id": 1},
        ],
    )
    expect(
        answered(answers[2], "fail") is None and answers[3]["state"] == "running" and answers[3]["last_error"] is None,
        "`fail` from a worker that does not hold the claim should answer None and change nothing.",
    )


@graded(NAME, points=0.5, promises=["fail-holder-only"], unhappy=True)
async def test_a_second_fail_changes_nothing(submission):
    """A second fail by the same worker, the job already back to 'ready' (or done), answers None and changes nothing."""
    failed = {"op": "fail", "id": 1, "worker": "w1", "error": "timeout", "now": 10.0, "u": 0.0, "max_attempts": 5}
    answers = await play(
        submission,
        [
            running(2),
            failed,
            {"op": "row", "id": 1},
            {**failed, "error": "again", "now": 11.0, "u": 1.0},
            {"op": "row", "id": 1},
            {"op": "put", "id": 1, "set": {"state": "done", "worker": "w1"}},
            {**failed, "error": "after ack"},
            {"op": "row", "id": 1},
        ],
    )
    expect(answered(answers[2], "fail") == "ready", "`fail` on a job with attempts left should answer 'ready'.")
    expect(
        answered(answers[4], "fail") is None and answers[5] == answers[3],
        "A second `fail` by the same worker, once the job is back to 'ready', should answer None and change "
        "nothing: the worker no longer holds it (check the state as well as the worker).",
    )
    expect(
        answered(answers[7], "fail") is None
        and answers[8]["state"] == "done"
        and answers[8]["last_error"] == "timeout",
        "`fail` of a job that is done should answer None and change nothing: only a 'running' job held by "
        "that worker can fail.",
    )


@graded(
    NAME, points=0.5, negative=True, promises=["fail-one-step"], unhappy=True
)  # a fail that does nothing lets the other worker have the job
async def test_fail_and_a_takeover_at_the_same_moment(submission):
    """fail by a worker whose lease ran out, while another worker takes the job over: one of them wins, never both."""
    await require(submission, "fail", kind="function")
    for attempts, max_attempts, outcome in ((2, 5, "ready"), (3, 3, "dead")):
        report = await submission.probe("lesson05.fail_during_takeover", SETUP, defined("fail"), attempts, max_attempts)
        answer, row = answered(report["answer"], "fail"), report["row"]
        if report["took_over"]:
            expect(
                answer is None
                and row["state"] == "running"
                and row["worker"] == "w2"
                and row["attempts"] == attempts + 1,
                "Another worker took the job over (its lease had run out) while your `fail` ran, and your `fail` "
                f"still answered {answer!r} and changed the job: it undid the other worker's claim. Read the job "
                "and write the outcome as one step (BEGIN IMMEDIATE before the read, COMMIT after the write), or "
                "write with an UPDATE whose WHERE checks the job is still running for this worker.",
            )
        else:
            expect(
                answer == outcome and row["state"] == outcome and row["worker"] == "w1",
                f"`fail` on a job running for this worker should answer {outcome!r} and leave the job "
                f"{outcome!r}, saved for every connection to see (is its transaction committed?); it answered "
                f"{answer!r} and the job is {row['state']!r}.",
            )


@graded(NAME, points=0.5, promises=["fail-dead", "fail-error-lease"], unhappy=True)
async def test_fail_buries_after_the_last_attempt(submission):
    """With attempts >= max_attempts, fail by the holder sends the job to 'dead'."""
    answers = await play(
        submission,
        [
            running(3),
            {"op": "fail", "id": 1, "worker": "w1", "error": "boom", "now": 10.0, "u": 0.5, "max_attempts": 3},
            {"op": "row", "id": 1},
        ],
    )
    expect(
        answered(answers[2], "fail") == "dead",
        "`fail` on a job whose attempts reached max_attempts should answer 'dead' (no retry left).",
        promises=["fail-dead"],
    )
    row = answers[3]
    expect(row["state"] == "dead", "A buried job should have state 'dead'.", promises=["fail-dead"])
    expect(
        row["last_error"] == "boom" and row["lease_until"] is None,
        "A buried job should have the error that buried it in last_error, and no lease.",
        promises=["fail-error-lease"],
    )


PUT = st.fixed_dictionaries(
    {
        "id": JOB_IDS,
        "set": st.fixed_dictionaries(
            {
                "state": st.sampled_from(["running", "ready", "done"]),
                "worker": WORKERS,
                "attempts": st.integers(1, 6),
                "lease_until": st.just(50.0),
            }
        ),
    }
)
FAIL = st.fixed_dictionaries(
    {
        "id": JOB_IDS,
        "worker": WORKERS,
        "error": st.sampled_from(["boom", "timeout"]),
        "now": TIMES,
        "u": st.sampled_from([0.0, 0.25, 1.0]),
        "max_attempts": st.sampled_from([1, 3, 5]),
        "base": st.sampled_from([0.5, 1.0, 2.0]),
        "cap": st.sampled_from([1.0, 4.0, 60.0]),
    }
)


def held_and_failed(put: dict, fail: dict) -> list[dict]:
    """A job set running for a worker, failed by that very worker, and its row read: a fail that
    must act, so a `fail` that does nothing cannot match the reference on any script."""
    put = {"op": "put", **put, "set": {**put["set"], "state": "running"}}
    return [
        put,
        {"op": "fail", **fail, "id": put["id"], "worker": put["set"]["worker"]},
        {"op": "row", "id": put["id"]},
    ]


# Generated scripts, each ending with a fail that acts (the first drawn are the simplest, and
# often hold no fail that changes anything: both sides answering None alike proves nothing).
SCRIPTS = st.builds(
    lambda steps, last: steps + last,
    queue_steps({"put": PUT, "fail": FAIL, "row": st.fixed_dictionaries({"id": JOB_IDS})}),
    st.builds(held_and_failed, PUT, FAIL),
)


@graded(
    NAME,
    points=1,
    promises=["backoff-doubles", "backoff-jitter", "fail-holder-only", "fail-dead", "fail-ready", "fail-error-lease"],
    unhappy=True,
)
async def test_generated_failures_retry_or_bury_as_the_task_says(submission, reference):
    """On generated scripts (jobs running for one worker or another, any attempts, bases, caps and u), every fail and
    row is as the task says."""
    await require(submission, "fail", kind="function")

    await same_as_reference(
        submission,
        reference,
        NAME,
        SCRIPTS,
        examples=15,
        batch=probe_batch("lesson05.scripts", SETUP, LEARNER, each=raised_as_type),
        show=shown_steps,
        promise=[
            "backoff-doubles",
            "backoff-jitter",
            "fail-holder-only",
            "fail-dead",
            "fail-ready",
            "fail-error-lease",
        ],
    )
