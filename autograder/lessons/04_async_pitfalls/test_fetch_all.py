"""Hidden tests for `fetch_all`: bounded concurrency, first error cancels the rest, one deadline.

The probe builds the calls with `coursekit.fakes.FakeService`, which records when each call
starts, ends, fails or is cancelled, and how many ran at once. Margins on time are wide:
the fakes sleep tens of milliseconds, the checks allow hundreds.
"""

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import probe, require, same_as_reference

pytestmark = pytest.mark.anyio
NAME = "fetch_all"


async def run(submission, calls, limit, timeout) -> dict:
    await require(submission, NAME, kind="async function")
    return await probe(submission, NAME, "lesson04.fetch_report", defined(NAME), calls, limit, timeout)


def raised(report: dict) -> str:
    outcome = report["outcome"]
    if "value" in outcome:
        return f"it returned {outcome['value']!r}"
    if outcome["error"] == "NotImplementedError":
        return "it raised NotImplementedError: the exercise is not solved yet"
    return f"it raised {outcome['error']}" + (" (an exception group)" if outcome["group"] else "")


@graded(NAME, points=1.5, promises=["bounded-in-order"], unhappy=True)
async def test_fetch_all_returns_results_in_order_within_the_limit(submission):
    """Results come back in the order of the calls; at most `limit` run at once, and that many do."""
    for sizes, limit in [
        ([0.03, 0.01, 0.02], 5),
        ([0.04, 0.01, 0.03, 0.01, 0.02, 0.01], 2),
        ([0.01] * 5, 1),
        ([0.02] * 12, 4),
        ([], 3),
    ]:
        calls = [{"seconds": seconds, "value": f"r{index}"} for index, seconds in enumerate(sizes)]
        report = await run(submission, calls, limit, 5)
        expect(
            report["outcome"].get("value") == [f"r{index}" for index in range(len(sizes))],
            f"fetch_all should return the calls' results as a list in the order of `calls`; {raised(report)}.",
        )
        expect(
            report["peak"] <= limit, f"With limit={limit}, at most {limit} calls may run at once; {report['peak']} did."
        )
        expect(
            report["peak"] == min(limit, len(sizes)),
            f"With limit={limit} and {len(sizes)} calls, {min(limit, len(sizes))} should run at once "
            f"(only {report['peak']} did): run the calls concurrently.",
        )


@graded(NAME, points=1.5, promises=["first-error", "nothing-left"], unhappy=True)
async def test_fetch_all_first_error_cancels_the_rest(submission):
    """When a call raises, the others are cancelled (none runs to its end, later ones never start) and that exception
    comes out."""
    # the calls cancelled take 0.1 s to close (a connection torn down): fetch_all waits for that too
    calls = [
        {"seconds": 0.3, "value": 0, "cleanup": 0.1},
        {"seconds": 0.05, "error": "LookupError"},
        {"seconds": 0.3, "value": 2, "cleanup": 0.1},
    ]
    calls += [{"seconds": 0.1, "value": index} for index in range(3, 9)]
    report = await run(submission, calls, 3, 5)
    outcome = report["outcome"]
    expect(
        outcome.get("error") == "LookupError" and not outcome.get("group"),
        f"When a call raises LookupError, fetch_all should raise that LookupError itself, not wrapped in an "
        f"exception group; {raised(report)}.",
        promises=["first-error"],
    )
    ended = [index for what, index in report["events"] if what == "end"]
    expect(
        not ended,
        "After a call failed, the other calls should be cancelled; some ran to their end.",
        promises=["first-error"],
    )
    started = {index for what, index in report["events"] if what == "start"}
    expect(
        not started & set(range(5, 9)),
        "After a call failed, calls still waiting for a place should never start.",
        promises=["first-error"],
    )
    expect(
        report["running_at_return"] == 0,
        promises=["nothing-left"],
        feedback="fetch_all raised while some calls it had cancelled were still ending: wait until every call it "
        "started has ended (a cancelled call may take a while to close).",
    )


@graded(NAME, points=1, promises=["one-deadline", "nothing-left"], unhappy=True)
async def test_fetch_all_gives_up_at_the_timeout(submission):
    """Past `timeout` seconds, everything is cancelled and TimeoutError is raised, at once."""
    calls = [{"seconds": 0.6, "value": index, "cleanup": 0.05} for index in range(4)] + [{"seconds": 0.01, "value": 4}]
    report = await run(submission, calls, 2, 0.2)
    expect(
        report["outcome"].get("error") == "TimeoutError" and not report["outcome"].get("group"),
        f"When the calls take longer than `timeout`, fetch_all should raise TimeoutError; {raised(report)}.",
        promises=["one-deadline"],
    )
    expect(
        0.15 <= report["elapsed"] < 0.8,
        f"With timeout=0.2, fetch_all should give up after about 0.2 s (it took {report['elapsed']:.2f} s).",
        promises=["one-deadline"],
    )
    ended = [index for what, index in report["events"] if what == "end"]
    expect(
        report["running_at_return"] == 0 and not ended,
        "At the timeout, cancel every call still running (none should run to its end), and return only once "
        "they have all ended.",
        promises=["one-deadline", "nothing-left"],
    )


@graded(NAME, points=1, promises=["one-deadline"], unhappy=True)
async def test_fetch_all_has_one_deadline_for_all_the_calls(submission):
    """`timeout` bounds the whole of fetch_all: calls one at a time, each shorter than it, together longer, end in
    TimeoutError."""
    calls = [{"seconds": 0.2, "value": index} for index in range(6)]  # 1.2 s one after another
    report = await run(submission, calls, 1, 0.5)
    expect(
        report["outcome"].get("error") == "TimeoutError" and not report["outcome"].get("group"),
        "`timeout` is one deadline for everything fetch_all does, not a limit per call: calls that each take "
        f"less than `timeout` but together take longer should end in TimeoutError; {raised(report)}.",
    )


# Lists of calls of varied size and order: each returns a value after 10 or 20 ms, or, among the
# first `limit` (so they start at once), lasts 0.5 s; at most one of those first ones raises after
# 50 ms instead; a limit from 1 to past the list's length; a timeout far beyond the calls. Only
# what no busy machine can reorder is observed: what fetch_all returned or raised, how many calls
# ran at once (the first `limit` start before any ends), how many had started when the first
# 0.5 s call ended (the short ones all take 0.14 s at most, one after the other: started as places
# free up, they all have), whether a 0.5 s call ran to its end after the failure (0.45 s later
# at the earliest), and what was left running when fetch_all ended.
LONG, FAILING = 0.5, 0.05


def case(limit: int, shorts: list, longs: set, failing: int | None, error: str) -> dict:
    calls = [
        {"seconds": LONG if index in longs else seconds, "value": value}
        for index, (seconds, value) in enumerate(shorts)
    ]
    if failing is not None and calls:
        calls[failing % min(limit, len(calls))] = {"seconds": FAILING, "error": error}
    return {"calls": calls, "limit": limit, "timeout": 5}


SHORT_CALLS = st.lists(
    st.tuples(st.sampled_from([0.01, 0.02]), st.integers(0, 9) | st.text("abc", max_size=2)), min_size=1, max_size=7
)
CASES = st.integers(1, 8).flatmap(
    lambda limit: st.builds(
        case,
        st.just(limit),
        SHORT_CALLS,
        st.sets(st.sampled_from(range(min(limit, 3))), max_size=2),
        st.sampled_from([None, 0, 1, 2, 3]),
        st.sampled_from(["KeyError", "ValueError", "LookupError"]),
    )
)


def promised(case: dict, report: dict) -> dict:
    events = report["events"]
    failed_at = next((index for index, (what, _) in enumerate(events) if what == "fail"), len(events))
    long_ended = any(what == "end" and case["calls"][index]["seconds"] == LONG for what, index in events[failed_at:])
    first_long_end = next(
        (at for at, (what, index) in enumerate(events) if what == "end" and case["calls"][index]["seconds"] == LONG),
        None,
    )
    return {
        "outcome": {key: report["outcome"][key] for key in ("value", "error", "group") if key in report["outcome"]},
        "calls at once": report["peak"],
        "calls started when the first 0.5 s call ended": None
        if first_long_end is None
        else sum(what == "start" for what, _ in events[:first_long_end]),
        "a 0.5 s call ran to its end after one failed": long_ended,
        "calls still running when it ended": report["running_at_return"],
        "calls that ended after it ended": [index for what, index in report["events_after_return"] if what == "end"],
    }


@graded(NAME, points=1, promises=["bounded-in-order", "first-error", "nothing-left"], unhappy=True)
async def test_fetch_all_handles_generated_call_lists_as_the_task_says(submission, reference):
    """On generated lists of calls (any size and order of durations, a failing call or none, limits from 1 up), the
    results, errors and cancellations are as the task says."""
    await require(submission, NAME, kind="async function")

    async def batch(side, cases):
        reports = await probe(side, NAME, "lesson04.fetch_reports", defined(NAME), cases)
        return [promised(each, report) for each, report in zip(cases, reports, strict=True)]

    await same_as_reference(
        submission,
        reference,
        NAME,
        CASES,
        batch=batch,
        examples=25,
        promise={
            "outcome": ["bounded-in-order", "first-error"],
            "calls at once": "bounded-in-order",
            "calls started when the first 0.5 s call ended": "bounded-in-order",
            "a 0.5 s call ran to its end after one failed": "first-error",
            "calls still running when it ended": "nothing-left",
            "calls that ended after it ended": "first-error",
        },
    )
