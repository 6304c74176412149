"""Hidden tests for `make_lifespan_app`: a resource opened at startup and closed at shutdown."""

import pytest

from autograder.expect import expect, graded
from autograder.suitekit import Conversation, client, completed, require
from coursekit import drive, lifespan_scope

pytestmark = pytest.mark.anyio
NAME = "make_lifespan_app"


async def new_app(submission, **kwargs):
    await require(submission, NAME, kind="function")
    return submission.asgi(await submission.make(NAME, **kwargs), label=f"{NAME}()")


async def start(app) -> Conversation:
    talk = Conversation(app, lifespan_scope())
    talk.push({"type": "lifespan.startup"})
    reply = await talk.pull("lifespan.startup.complete")
    expect(reply is not None and reply.get("type") == "lifespan.startup.complete",
           "Answer lifespan.startup with lifespan.startup.complete once the resource is open.")
    return talk


async def stop(talk: Conversation) -> None:
    talk.push({"type": "lifespan.shutdown"})
    reply = await talk.pull("lifespan.shutdown.complete")
    expect(reply is not None and reply.get("type") == "lifespan.shutdown.complete",
           "Answer lifespan.shutdown with lifespan.shutdown.complete after closing the resource.")
    expect(await talk.finished(), "After lifespan.shutdown.complete the lifespan call should return.")


@graded(NAME, points=2)
async def test_serves_after_startup_and_counts(submission):
    """After startup, GET / answers {"status": "ready", "served": n} counting requests."""
    app = await new_app(submission)
    talk = await start(app)
    try:
        async with client(app) as http:
            answers = [await http.get("/") for _ in range(3)]
        await stop(talk)
    finally:
        await talk.close()
    expect(all(response.status_code == 200 for response in answers), "While the resource is open, GET / answers 200.")
    expect([response.json() for response in answers] == [{"status": "ready", "served": n} for n in (1, 2, 3)],
           'Answer {"status": "ready", "served": n}, n counting the requests served since startup.')


@graded(NAME, points=1)
async def test_not_ready_before_startup(submission):
    """Before startup, a request answers 503 {"detail": "not ready"}."""
    app = await new_app(submission)
    async with client(app) as http:
        response = await http.get("/")
    expect(response.status_code == 503, f"Before lifespan.startup, answer 503 (you answered {response.status_code}).")
    expect(response.json() == {"detail": "not ready"}, 'Answer {"detail": "not ready"} with the 503.')


@graded(NAME, points=1)
async def test_not_ready_after_shutdown(submission):
    """After shutdown the resource is closed and requests answer 503."""
    app = await new_app(submission)
    talk = await start(app)
    try:
        await stop(talk)
    finally:
        await talk.close()
    async with client(app) as http:
        response = await http.get("/")
    expect(response.status_code == 503, "After lifespan.shutdown the resource is closed: answer 503.")


@graded(NAME, points=1)
async def test_failed_startup_is_reported(submission):
    """make_lifespan_app(fail_startup=True) reports lifespan.startup.failed with a message."""
    app = await new_app(submission, fail_startup=True)
    trace = await drive(app, lifespan_scope(), [{"type": "lifespan.startup"}], timeout=5)
    kinds = [message.get("type") for message in trace.sent]
    expect(kinds[:1] == ["lifespan.startup.failed"],
           f"When startup fails, send lifespan.startup.failed (you sent {kinds}), not complete, and don't raise.")
    message = trace.sent[0].get("message")
    expect(isinstance(message, str) and message.strip() != "", "lifespan.startup.failed needs a non-empty message.")
    completed(trace)  # and then return: no shutdown will come after a failed startup


@graded(NAME, points=1)
async def test_each_app_has_its_own_resource(submission):
    """Two apps from the factory do not share their resource or their count."""
    first, second = await new_app(submission), await new_app(submission)
    talk = await start(first)
    try:
        async with client(first) as http:
            await http.get("/")
        async with client(second) as http:
            response = await http.get("/")
        await stop(talk)
    finally:
        await talk.close()
    expect(response.status_code == 503,
           "Each call to make_lifespan_app() should build a new app with its own resource and count: "
           "keep them inside the factory, not in globals.")
