"""Hidden tests for `make_sse_app`: server-sent events with ids, resume, heartbeat and cleanup.

A probe (``lesson08.sse_sessions``) gives each scenario a `Feed` of its own (the lesson's setup
class), listens to GET /events with a client that plays uvicorn's part and leaves after a set
time, publishes while it listens, and counts the feed's subscriptions during and after. The
stream is read as a browser reads it (``coursekit.streams.sse_blocks``): blocks of fields, so
the order of fields in a block and the text of comments are left open, as the statement does.
"""

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import probe, require, same_as_reference, without_errors

pytestmark = pytest.mark.anyio
NAME = "sse_feed"
FACTORY = "make_sse_app"
QUIET = 30.0  # a heartbeat that never comes within a scenario


async def sessions(side, cases: list[dict]) -> list[dict]:
    await require(side, FACTORY, kind="function")
    return without_errors(
        await probe(side, NAME, "lesson08.sse_sessions", defined(FACTORY), defined("Feed"), cases), FACTORY
    )


def header(seen: dict, name: str) -> str:
    return next((value for key, value in seen["headers"] if key == name), "") or ""


def events(seen: dict) -> list[tuple]:
    return [(block.get("id"), block["data"]) for block in seen["blocks"] if "data" in block]


def comments(seen: dict) -> int:
    return sum(set(block) == {"comments"} for block in seen["blocks"])


def answered(seen: dict) -> str:
    return f"it answered {seen['status']}" + (f" and raised {seen['app_error']}" if seen["app_error"] else "")


@graded(NAME, points=1, promises=["headers", "retry-first"])
async def test_event_stream_headers_and_retry_first(submission):
    """200, a text/event-stream Content-Type, Cache-Control: no-cache, and `retry:` alone in the first block."""
    (seen,) = await sessions(submission, [{"before": ["a"], "retry_ms": 4321, "heartbeat": QUIET, "leave_after": 0.2}])
    expect(seen["status"] == 200, f"GET /events should answer 200; {answered(seen)}.")
    expect(
        header(seen, "content-type").startswith("text/event-stream"),
        f"The Content-Type should be text/event-stream (yours: {header(seen, 'content-type')!r}).",
    )
    expect(
        header(seen, "cache-control").replace(" ", "").lower() == "no-cache",
        f"The answer should carry Cache-Control: no-cache (yours: {header(seen, 'cache-control')!r}).",
    )
    expect(
        seen["blocks"][:1] == [{"retry": "4321"}],
        "The first block of the stream should be `retry: <retry_ms>` alone (the reconnection delay, in ms); yours "
        f"was {seen['blocks'][:1]}.",
    )


@graded(NAME, points=1.5, promises=["resume"], unhappy=True)
async def test_resumes_after_last_event_id(submission):
    """Events after Last-Event-ID, in order, with ids and their text; a missing or odd header means from the start."""
    texts = ["one", "two\nlines", "three", "four"]
    headers = ["1", None, "banana", "", "0", "99", "-1", "1.5", "+2", "2_0"]
    cases = [{"before": texts, "last_event_id": value, "heartbeat": QUIET, "leave_after": 0.25} for value in headers]
    seen = await sessions(submission, cases)
    everything = [(str(number), text) for number, text in enumerate(texts, 1)]
    expect(
        events(seen[0]) == everything[1:],
        "With Last-Event-ID: 1, a browser should read events 2 to 4 only, each with `id: <its id>` and its text "
        f"as it is (one `data:` line per line, no JSON quotes); it read {events(seen[0])}.",
    )
    for value, one in zip(headers[1:], seen[1:], strict=True):
        want = [] if value == "99" else everything
        expect(
            events(one) == want,
            f"With Last-Event-ID {'absent' if value is None else repr(value)}, the stream "
            f"should send {'no stored event' if want == [] else 'every event from the start'}: "
            "only digits 0-9 make an id to resume after; it sent "
            f"{events(one)}" + (f" ({answered(one)})" if one["status"] != 200 else ""),
        )


@graded(NAME, points=1, promises=["live"])
async def test_sends_events_as_they_are_published(submission):
    """Events published while the client listens arrive, in order, with their ids, each once."""
    script = [["wait", 0.1], ["publish", "x"], ["wait", 0.1], ["publish", "y\nz"], ["publish", "w"], ["wait", 0.15]]
    # (and on a slow line: the stored events take a while to send, and one is published meanwhile)
    stored = [f"s{n}" for n in range(6)]
    seen, slow = await sessions(
        submission,
        [
            {"before": ["old"], "last_event_id": "1", "heartbeat": QUIET, "script": script, "leave_after": 0.35},
            {
                "before": stored,
                "heartbeat": QUIET,
                "chunk_delay": 0.04,
                "leave_after": 0.7,
                "script": [["wait", 0.1], ["publish", "late"], ["wait", 0.4]],
            },
        ],
    )
    expect(
        events(seen) == [("2", "x"), ("3", "y\nz"), ("4", "w")],
        "Each event published while a client listens should reach it as it is published, in order, with "
        f"`id: <its id>` and its text, each once; it read {events(seen)}.",
    )
    expect(
        events(slow) == [(str(n), text) for n, text in enumerate([*stored, "late"], 1)],
        "On a slow line, an event was published while the stored ones were still being sent, and the client read "
        f"{events(slow)}: every event published while the client listens should reach it, each once, even while "
        "the stream is still sending the ones stored before it.",
    )


@graded(NAME, points=1, promises=["heartbeat"], unhappy=True)
async def test_heartbeat_only_when_idle(submission):
    """A comment block every `heartbeat` seconds of silence; none while events come more often."""
    idle = {"before": [], "heartbeat": 0.2, "leave_after": 0.9}
    busy = {
        "before": [],
        "heartbeat": 0.3,
        "leave_after": 0.7,
        "script": [item for n in range(6) for item in (["wait", 0.1], ["publish", f"b{n}"])],
    }
    quiet, chatty = await sessions(submission, [idle, busy])
    expect(
        2 <= comments(quiet) <= 7,
        f"In about 0.9 s with nothing to send and heartbeat=0.2, the stream sent {comments(quiet)} comment blocks: "
        "send a comment (`: ...` and a blank line) whenever `heartbeat` seconds pass with nothing sent.",
    )
    expect(
        comments(chatty) == 0 and len(events(chatty)) == 6,
        f"Events came every 0.1 s with heartbeat=0.3, and the stream sent {comments(chatty)} comments "
        f"({len(events(chatty))} of 6 events): a heartbeat is for silence only, counted from the last thing sent.",
    )


@graded(NAME, points=1.5, promises=["unsubscribes"], unhappy=True)
async def test_unsubscribes_when_the_client_leaves(submission):
    """The subscription is gone within 0.5 s of the client leaving (idle, between events, or after it stopped
    reading while events kept coming), and the stream ends; the garbage collector is held meanwhile (the probe's)."""
    idle = {"before": ["a"], "heartbeat": QUIET, "script": [["wait", 0.15], ["count", None]], "leave_after": 0.3}
    flowing = {
        "before": [],
        "heartbeat": 0.1,
        "leave_after": 0.35,
        "script": [["wait", 0.1], ["publish", "p"], ["count", None], ["wait", 0.1], ["publish", "q"]],
    }
    stalled = {
        "before": [],
        "heartbeat": QUIET,
        "stall_after_chunks": 1,
        "leave_after": 0.45,
        "script": [["wait", 0.1]]
        + [step for n in range(8) for step in (["publish", f"s{n}"], ["wait", 0.01])]
        + [["count", None]],
    }
    seen = await sessions(submission, [idle, flowing, stalled])
    for one in seen:
        expect(
            one["listening"] == [1],
            f"While a client listens, its stream should hold one subscription of the feed "
            f"(feed.subscribe); there were {one['listening']}.",
        )
        expect(
            one["returned_after_leaving"] is not None and one["returned_after_leaving"] < 0.5,
            "The client left and the stream did not end within half a second.",
        )
    for one in seen[:2]:
        expect(
            one["subscribed_after"] == 0,
            "The client left and its subscription was still in the feed half a second later: unsubscribe when the "
            "stream ends, whatever ends it (in a finally around it, or in a dependency with yield); Starlette "
            "cancels the stream at its await when the client leaves.",
        )
    expect(
        seen[2]["subscribed_after"] == 0,
        "A client stopped reading while events kept coming, then left, and its subscription was still in the feed "
        "half a second later (the garbage collector held). A generator that FastAPI iterates for you (a path "
        "operation that yields, as with response_class=EventSourceResponse) is left at its yield when such a "
        "client leaves, and its finally waits for the garbage collector: unsubscribe where the end of the request "
        "always runs (a dependency with yield), or in the finally of an async generator that you give to a "
        "StreamingResponse yourself.",
    )


# Scenarios: 0 to 4 events stored first (texts with line breaks too), a Last-Event-ID header
# among numbers, odd values and none, then 0 to 3 events published while the client listens.
TEXTS = st.text(st.sampled_from(["a", "b", " ", "\n", "é", ":"]), min_size=1, max_size=5)
SCENARIOS = st.builds(
    lambda before, last, later, retry: {
        "before": before,
        "last_event_id": last,
        "retry_ms": retry,
        "heartbeat": QUIET,
        "leave_after": 0.35,
        "script": [["wait", 0.1]] + [step for text in later for step in (["publish", text], ["wait", 0.03])],
    },
    st.lists(TEXTS, max_size=4),
    st.sampled_from([None, "0", "1", "2", "3", "9", "x", "", " 1", "01"]),
    st.lists(TEXTS, max_size=3),
    st.sampled_from([0, 1500, 3000]),
)


def shown_scenario(case: dict) -> str:
    later = [step[1] for step in case["script"] if step[0] == "publish"]
    return (
        f"make_sse_app(feed, retry_ms={case['retry_ms']}) with {case['before']!r} in the feed, Last-Event-ID "
        f"{'absent' if case['last_event_id'] is None else repr(case['last_event_id'])}, then {later!r} published"
    )


def promised(seen: dict) -> dict:
    # Comments are heartbeats (none come here); `event: message` is what a browser assumes anyway.
    blocks = [
        {key: value for key, value in block.items() if key != "comments" and (key, value) != ("event", "message")}
        for block in seen["blocks"]
    ]
    return {
        "status": seen["status"],
        "event-stream": header(seen, "content-type").startswith("text/event-stream"),
        "blocks": [block for block in blocks if block],
    }


@graded(NAME, points=1, promises=["retry-first", "resume", "live"])
async def test_generated_feeds_as_the_task_says(submission, reference):
    """On generated feeds, Last-Event-ID headers and publications, the blocks sent are as the task says."""
    await require(submission, FACTORY, kind="function")

    async def batch(side, cases):
        return [promised(seen) for seen in await sessions(side, cases)]

    await same_as_reference(
        submission,
        reference,
        NAME,
        SCENARIOS,
        batch=batch,
        examples=10,
        show=shown_scenario,
        promise="the stream starts with `retry: <retry_ms>` alone, then every stored event after "
        "Last-Event-ID (digits only; else from the start), then each event as it is "
        "published, each with `id:` and its text as data lines.",
    )
