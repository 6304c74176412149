"""Hidden tests for `use_connection`: give a connection back exactly once, whatever happens.

The probe runs the learner's function on a `coursekit.fakes.SlowPool` (release takes 0.1 s
in five awaits) in one scenario at a time, cancelling the task at chosen moments, and
reports the outcome and the pool's record.
"""

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import probe, require, same_as_reference

pytestmark = pytest.mark.anyio
NAME = "use_connection"


async def scenario(submission, name: str) -> dict:
    await require(submission, NAME, kind="async function")
    return await probe(submission, NAME, "lesson04.cleanup_report", defined(NAME), name)


def ended_with(report: dict) -> str:
    outcome = report["outcome"]
    return f"returned {outcome['value']!r}" if "value" in outcome else f"raised {outcome['error']}"


@graded(NAME, points=1, promises=["returns", "release-once", "propagates"], unhappy=True)
async def test_use_connection_returns_or_raises_and_releases(submission):
    """The job's value is returned and its exception propagates; the connection is released once either way."""
    report = await scenario(submission, "returns")
    expect(
        report["outcome"].get("value") == "done with conn-1",
        f"use_connection should return what the job returns; it {ended_with(report)}.",
        promises=["returns"],
    )
    expect(
        report["release_calls"] == ["conn-1"] and report["released"] == ["conn-1"],
        "After the job, give the connection back with pool.release(connection), exactly once.",
        promises=["release-once"],
    )
    expect(
        report["released_at_return"] == ["conn-1"],
        "use_connection returned before the release had finished: await pool.release(connection) "
        "(the release may only finish in the background when the task is cancelled again while releasing).",
        promises=["release-once"],
    )
    report = await scenario(submission, "raises")
    expect(
        report["outcome"].get("error") == "LookupError",
        f"The job's exception should propagate out of use_connection unchanged; it {ended_with(report)}.",
        promises=["propagates"],
    )
    expect(
        report["released"] == ["conn-1"] and report["release_calls"] == ["conn-1"],
        "When the job raises, the connection must still be released, exactly once (try/finally).",
        promises=["release-once"],
    )


@graded(NAME, points=1.5, promises=["release-once", "propagates", "cancelled-acquiring"], unhappy=True)
async def test_use_connection_releases_when_cancelled(submission):
    """Cancelled during the job: released once, and CancelledError propagates; cancelled while acquiring: nothing to
    release."""
    report = await scenario(submission, "cancelled")
    expect(
        report["released"] == ["conn-1"] and report["release_calls"] == ["conn-1"],
        "When the task is cancelled during the job, the connection must still be released, exactly once. "
        "Is CancelledError an Exception?",
        promises=["release-once"],
    )
    expect(
        report["outcome"].get("error") == "CancelledError",
        f"A cancelled use_connection should end in CancelledError (let it propagate); it {ended_with(report)}.",
        promises=["propagates"],
    )
    expect(
        report["released_at_return"] == ["conn-1"],
        "Cancelled once, use_connection ended before the release had finished: await the release to its end "
        "before the CancelledError goes on (only a second cancellation, during the release, may leave it to "
        "finish in the background).",
        promises=["release-once"],
    )
    report = await scenario(submission, "cancelled_while_acquiring")
    expect(
        report["outcome"].get("error") == "CancelledError" and report["release_calls"] == [],
        "When the task is cancelled while acquiring, there is no connection: release must not be called, "
        "and the CancelledError should propagate.",
        promises=["cancelled-acquiring"],
    )


@graded(NAME, points=1.5, promises=["second-cancel", "release-once"], unhappy=True)
async def test_use_connection_release_survives_a_second_cancel(submission):
    """Cancelled again while releasing, the release still runs to its end, once."""
    report = await scenario(submission, "cancelled_twice")
    expect(
        report["release_calls"] == ["conn-1"],
        f"Cancelled twice, release should be called exactly once (it was called {len(report['release_calls'])} times).",
        promises=["release-once"],
    )
    expect(
        report["released"] == ["conn-1"],
        "When the task is cancelled a second time while releasing, the release was cut short and the connection "
        "leaked: protect the release from cancellation so it runs to its end.",
        promises=["second-cancel"],
    )
    expect(
        report["outcome"].get("error") == "CancelledError",
        f"A cancelled use_connection should end in CancelledError; it {ended_with(report)}.",
        promises=["propagates"],
    )


# Acquire fast or slow; a job that returns or raises after 0.01 s, or one that runs long and is
# cancelled once or twice (0.05 s after the start, then 0.04 s later: during the job or the
# acquire, then during the release). A cancel never lands in a release that no cancel started:
# the statement leaves that case open.
SCENARIOS = st.builds(
    lambda acquire, raises, cancels: {
        "acquire_seconds": acquire,
        "raises": raises,
        "cancels": cancels,
        "job_seconds": 1.0 if cancels else 0.01,
    },
    st.sampled_from([0.0, 0.2]),
    st.booleans(),
    st.sampled_from([[], [0.05], [0.05, 0.04]]),
)


def promised(report: dict, cancelled_twice: bool) -> dict:
    """How it ended, which releases were called and finished; and, unless cancelled a second
    time (which may leave the release to finish in the background), whether the connection was
    back when use_connection ended."""
    outcome = report["outcome"]
    return {
        "ended with": outcome.get("error", outcome.get("value")),
        "release called for": report["release_calls"],
        "released": report["released"],
        "released when it returned": None if cancelled_twice else report["released_at_return"],
    }


@graded(
    NAME,
    points=1,
    promises=["returns", "release-once", "propagates", "second-cancel", "cancelled-acquiring"],
    unhappy=True,
)
async def test_use_connection_lives_generated_scenarios_as_the_task_says(submission, reference):
    """Over generated scenarios (slow acquire, job returns or raises, one or two cancellations), it ends and releases as
    the task says."""
    await require(submission, NAME, kind="async function")

    async def batch(side, scenarios):
        reports = await probe(side, NAME, "lesson04.cleanup_reports", defined(NAME), scenarios)
        return [
            promised(report, len(scenario["cancels"]) > 1) for report, scenario in zip(reports, scenarios, strict=True)
        ]

    await same_as_reference(
        submission,
        reference,
        NAME,
        SCENARIOS,
        batch=batch,
        examples=12,
        promise={
            "ended with": ["returns", "propagates"],
            "release called for": ["release-once", "cancelled-acquiring"],
            "released": ["release-once", "second-cancel"],
            "released when it returned": "release-once",
        },
    )
