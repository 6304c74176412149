"""Hidden tests for `lifespan_client`: an httpx client on an app whose lifespan runs around it.

``lesson07.lifespan_report`` uses the learner's context manager on an app whose lifespan
records startup, shutdown and the clean-up in its ``finally``, and yields state; it sends the
requests a test describes (and maybe raises inside the block), and reports what the client was,
the answers, the lifespan's events in and after the block, and whether the client was closed.
"""

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import require, same_as_reference, without_errors

pytestmark = pytest.mark.anyio
NAME = "lifespan_client"


async def played(side, requests, raise_inside=False):
    return await side.probe("lesson07.lifespan_report", defined(NAME), requests, raise_inside)


async def report(submission, requests, raise_inside=False):
    await require(submission, NAME, kind="function")
    return without_errors(
        await played(submission, requests, raise_inside), NAME, allowed=("LookupError",) if raise_inside else ()
    )


@graded(NAME, points=2, promises=["startup-before", "shutdown-after"])
async def test_runs_the_lifespan_around_the_block(submission):
    """Startup runs before the block, shutdown after it."""
    seen = await report(submission, [["GET", "/items/1"]])
    expect(
        seen["events_in_block"][:1] == ["startup"] and seen["events_in_block"].count("startup") == 1,
        "The app's lifespan startup should have run (once) before the block begins: use LifespanManager.",
        promises=["startup-before"],
    )
    expect(
        seen["events_in_block"] == ["startup"],
        "The app's lifespan had already shut down when the block began: leave LifespanManager after the block "
        "(keep it entered around the yield), not before.",
        promises=["shutdown-after"],
    )
    expect(
        seen["events_after"] == ["startup", "shutdown", "cleanup"],
        "The app's lifespan shutdown should run when the block ends.",
        promises=["shutdown-after"],
    )


@graded(NAME, points=1, promises=["async-client"])
async def test_gives_an_async_client_on_http_test(submission):
    """The block gets an httpx.AsyncClient whose base_url is http://test."""
    seen = await report(submission, [])
    expect(seen["client"] == "AsyncClient", f"The block should get an httpx.AsyncClient, not a {seen['client']}.")
    expect(seen["base_url"] == "http://test", f"The client's base_url should be http://test, not {seen['base_url']}.")


@graded(NAME, points=1, promises=["state-reaches-requests"])
async def test_the_lifespan_state_reaches_requests(submission):
    """What the lifespan yields is in request.state."""
    seen = await report(submission, [["GET", "/hello"]])
    expect(
        seen["responses"] == [{"status": 200, "body": {"greeting": "hello", "events": ["startup"]}}],
        "A request should see the state the lifespan yields (request.state): send requests to the app "
        "LifespanManager gives you (manager.app), not to the bare app.",
    )


@graded(NAME, points=1, promises=["client-closed"])
async def test_closes_the_client(submission):
    """The client is closed once the block has ended."""
    seen = await report(submission, [["GET", "/hello"]])
    expect(
        seen["client_closed"] is True,
        "After the block the client should be closed: enter it as a context manager too (on the stack), "
        "so that leaving the block closes it.",
    )


@graded(NAME, points=1, promises=["stopped-when-raised", "client-closed"], unhappy=True)
async def test_stops_the_lifespan_when_the_block_raises(submission):
    """When the block raises, the exception comes out, the lifespan is stopped and the client closed."""
    seen = await report(submission, [["GET", "/hello"]], raise_inside=True)
    expect(
        seen.get("error") == {"raised": "LookupError"},
        "An exception raised inside the block should come out of it unchanged, not be swallowed or replaced.",
        promises=["stopped-when-raised"],
    )
    expect(
        "cleanup" in seen["events_after"],
        "When the block raises, the lifespan was still running after it (the clean-up in its finally never "
        "ran): leave LifespanManager whatever way the block ends (async with, or the exit stack, does).",
        promises=["stopped-when-raised"],
    )
    expect(
        seen["client_closed"] is True,
        "When the block raises, the client should be closed all the same.",
        promises=["client-closed"],
    )


REQUESTS = st.lists(
    st.tuples(
        st.sampled_from(["GET", "POST", "DELETE"]),
        st.one_of(
            st.just("/hello"),
            st.just("/missing"),
            st.integers(-5, 10**6).map(lambda number: f"/items/{number}"),
            st.sampled_from(["/items/x", "/items/", "/hello/"]),
        ),
    ).map(list),
    max_size=4,
)


@graded(
    NAME,
    points=2,
    promises=["startup-before", "async-client", "state-reaches-requests", "shutdown-after", "client-closed"],
)
async def test_generated_requests(submission, reference):
    """On generated requests, the answers and the lifespan's events are as the task says."""
    await require(submission, NAME, kind="function")
    await same_as_reference(
        submission,
        reference,
        NAME,
        REQUESTS,
        played,
        examples=12,
        promise={
            "client": "async-client",
            "base_url": "async-client",
            "responses": ["async-client", "state-reaches-requests"],
            "events_in_block": "startup-before",
            "events_after": "shutdown-after",
            "client_closed": "client-closed",
        },
    )
