"""Hidden tests for `lifespan_client`: an httpx client on an app whose lifespan runs around it.

``lesson07.lifespan_report`` uses the learner's context manager on an app whose lifespan
records startup and shutdown and yields state, sends the requests a test describes, and
reports what the client was, the answers, and the lifespan's events before and after.
"""

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import require, same_as_reference, without_errors

pytestmark = pytest.mark.anyio
NAME = "lifespan_client"


async def played(side, requests):
    return await side.probe("lesson07.lifespan_report", defined(NAME), requests)


async def report(submission, requests):
    await require(submission, NAME, kind="function")
    return without_errors(await played(submission, requests), NAME)


@graded(NAME, points=2)
async def test_runs_the_lifespan_around_the_block(submission):
    """Startup runs before the block, shutdown after it."""
    seen = await report(submission, [["GET", "/items/1"]])
    expect(seen["events_in_block"] == ["startup"],
           "The app's lifespan startup should have run (once) before the block begins: use LifespanManager.")
    expect(seen["events_after"] == ["startup", "shutdown"],
           "The app's lifespan shutdown should run when the block ends, not before.")


@graded(NAME, points=1)
async def test_gives_an_async_client_on_http_test(submission):
    """The block gets an httpx.AsyncClient whose base_url is http://test."""
    seen = await report(submission, [])
    expect(seen["client"] == "AsyncClient", f"The block should get an httpx.AsyncClient, not a {seen['client']}.")
    expect(seen["base_url"] == "http://test", f"The client's base_url should be http://test, not {seen['base_url']}.")


@graded(NAME, points=1)
async def test_the_lifespan_state_reaches_requests(submission):
    """What the lifespan yields is in request.state."""
    seen = await report(submission, [["GET", "/hello"]])
    expect(seen["responses"] == [{"status": 200, "body": {"greeting": "hello", "events": ["startup"]}}],
           "A request should see the state the lifespan yields (request.state): send requests to the app "
           "LifespanManager gives you (manager.app), not to the bare app.")


REQUESTS = st.lists(st.tuples(st.sampled_from(["GET", "POST", "DELETE"]),
                              st.one_of(st.just("/hello"), st.just("/missing"),
                                        st.integers(-5, 10**6).map(lambda number: f"/items/{number}"),
                                        st.sampled_from(["/items/x", "/items/", "/hello/"]))).map(list),
                    max_size=4)


@graded(NAME, points=2)
async def test_generated_requests(submission, reference):
    """On generated requests, the answers and the lifespan's events are as the task says."""
    await require(submission, NAME, kind="function")
    await same_as_reference(submission, reference, NAME, REQUESTS, played, examples=12,
                            promise="startup runs before the block and shutdown after it; the client sends "
                                    "every request in-process to the app (with the lifespan's state), "
                                    "with base_url http://test.")
