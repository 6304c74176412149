"""Hidden tests for `make_lifespan_app`: a resource opened at startup and closed at shutdown."""

import json

import pytest
from hypothesis import strategies as st

from autograder.expect import Mistake, expect, graded
from autograder.strategies import exchange, http_requests, outcome, paths
from autograder.suitekit import Conversation, client, completed, require, same_as_reference
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
    expect(
        reply is not None and reply.get("type") == "lifespan.startup.complete",
        "Answer lifespan.startup with lifespan.startup.complete once the resource is open.",
    )
    return talk


async def stop(talk: Conversation) -> None:
    talk.push({"type": "lifespan.shutdown"})
    reply = await talk.pull("lifespan.shutdown.complete")
    expect(
        reply is not None and reply.get("type") == "lifespan.shutdown.complete",
        "Answer lifespan.shutdown with lifespan.shutdown.complete after closing the resource.",
    )
    expect(await talk.finished(), "After lifespan.shutdown.complete the lifespan call should return.")


@graded(NAME, points=2, promises=["startup", "ready", "shutdown"])
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
    expect(
        all(response.status_code == 200 for response in answers),
        "While the resource is open, GET / answers 200.",
        promises=["ready"],
    )
    expect(
        [response.json() for response in answers] == [{"status": "ready", "served": n} for n in (1, 2, 3)],
        'Answer {"status": "ready", "served": n}, n counting the requests served since startup.',
        promises=["ready"],
    )


@graded(NAME, points=1, promises=["ready"], unhappy=True)
async def test_counts_again_after_a_restart(submission):
    """Started again after a shutdown, the same app counts from 1 again."""
    app = await new_app(submission)
    served = []
    for _ in range(2):
        talk = await start(app)
        try:
            async with client(app) as http:
                served.append([(await http.get("/")).json().get("served") for _ in range(2)])
            await stop(talk)
        finally:
            await talk.close()
    expect(
        served == [[1, 2], [1, 2]],
        f"Started twice, your app counted {served}: n counts the requests served since the last startup, so a "
        "new startup starts the count again at 1.",
    )


@graded(NAME, points=1, promises=["not-ready"], unhappy=True)
async def test_not_ready_before_startup(submission):
    """Before startup, a request answers 503 {"detail": "not ready"}."""
    app = await new_app(submission)
    async with client(app) as http:
        response = await http.get("/")
    expect(response.status_code == 503, f"Before lifespan.startup, answer 503 (you answered {response.status_code}).")
    expect(response.json() == {"detail": "not ready"}, 'Answer {"detail": "not ready"} with the 503.')


@graded(NAME, points=1, promises=["not-ready", "shutdown"], unhappy=True)
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
    expect(
        response.status_code == 503,
        "After lifespan.shutdown the resource is closed: answer 503.",
        promises=["not-ready"],
    )


@graded(NAME, points=1, promises=["failed-startup", "not-ready"], unhappy=True)
async def test_failed_startup_is_reported(submission):
    """make_lifespan_app(fail_startup=True) reports lifespan.startup.failed with a message, and is not ready after."""
    app = await new_app(submission, fail_startup=True)
    trace = await drive(app, lifespan_scope(), [{"type": "lifespan.startup"}], timeout=5)
    kinds = [message.get("type") for message in trace.sent]
    expect(
        kinds[:1] == ["lifespan.startup.failed"],
        f"When startup fails, send lifespan.startup.failed (you sent {kinds}), not complete, and don't raise.",
        promises=["failed-startup"],
    )
    message = trace.sent[0].get("message")
    expect(
        isinstance(message, str) and message.strip() != "",
        "lifespan.startup.failed needs a non-empty message.",
        promises=["failed-startup"],
    )
    if trace.timed_out:
        raise Mistake(
            "After lifespan.startup.failed, return: no lifespan.shutdown comes after a failed startup, so "
            "a loop that waits for one never ends.",
            out_of_time=True,
            promises=["failed-startup"],
        )
    completed(trace)
    async with client(app) as http:
        response = await http.get("/")
    expect(
        response.status_code == 503,
        f"After a failed startup your app answered {response.status_code}: the resource was never opened, so "
        "answer 503 as before startup. Look at fail_startup before opening anything.",
        promises=["not-ready"],
    )


@graded(NAME, points=1, promises=["own-resource"], unhappy=True)
async def test_each_app_has_its_own_resource(submission):
    """Two apps from the factory do not share their resource or their count, even running at once."""
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
    expect(
        response.status_code == 503,
        "Each call to make_lifespan_app() should build a new app with its own resource and count: "
        "keep them inside the factory, not in globals.",
    )
    first, second = await new_app(submission), await new_app(submission)
    talks = [await start(first), await start(second)]
    try:
        async with client(first) as one, client(second) as other:
            served = [(await http.get("/")).json().get("served") for http in (one, other, one, one, other)]
        for talk in talks:
            await stop(talk)
    finally:
        for talk in talks:
            await talk.close()
    expect(
        served == [1, 1, 2, 3, 2],
        f"Two apps running at once, asked in turn (first, second, first, first, second), counted {served}: each "
        "app counts its own requests. Keep the count inside the factory, not in globals.",
    )


ANY_REQUEST = http_requests(path=paths(["", "health"]))
GET_ROOT = st.just({"method": "GET", "path": "/", "headers": [], "body": [b""], "disconnect": False})
# A life: requests before startup, the startup (or not; failed or not), GET / while open, the
# shutdown (or not), requests after it (or after a failed startup), and a second life of the
# same app (or not). Only GET / is specified while the resource is open.
LIVES = st.fixed_dictionaries(
    {
        "fail_startup": st.booleans(),
        "before": st.lists(ANY_REQUEST, max_size=2),
        "startup": st.booleans(),
        "during": st.lists(GET_ROOT, max_size=3),
        "shutdown": st.booleans(),
        "after": st.lists(ANY_REQUEST, max_size=2),
        "restart": st.booleans(),
    }
)


async def answered(app, request, seconds) -> list:
    seen = outcome(await exchange(app, request, seconds))
    try:
        payload = json.loads(seen["body"].decode("utf-8"))
    except ValueError:
        payload = seen["body"]
    return [seen["status"], payload, seen["raised"]]


async def lifespan_step(talk: Conversation, message: str) -> list:
    talk.push({"type": message})
    reply = await talk.pull(f"the answer to {message}") or {}
    detail = reply.get("message")
    return [
        reply.get("type"),
        isinstance(detail, str) and detail.strip() != "" if "failed" in str(reply.get("type")) else None,
    ]


async def opened(app, life: dict, seconds: float) -> dict:
    """One life of a started app: its startup, GET / while open, its shutdown (if the life
    has one) and the requests after."""
    seen = {}
    talk = Conversation(app, lifespan_scope())
    try:
        seen["startup"] = await lifespan_step(talk, "lifespan.startup")
        seen["while open"] = [await answered(app, request, seconds) for request in life["during"]]
        if life["shutdown"]:
            seen["shutdown"] = [await lifespan_step(talk, "lifespan.shutdown"), await talk.finished()]
            seen["after shutdown"] = [await answered(app, request, seconds) for request in life["after"]]
    finally:
        await talk.close()
    return seen


async def live(side, life: dict, seconds: float) -> dict:
    """What a side does over one generated life, by the phase each answer belongs to."""
    app = side.asgi(await side.make(NAME, fail_startup=life["fail_startup"]), label=f"{NAME}()")
    seen = {"before startup": [await answered(app, request, seconds) for request in life["before"]]}
    if not life["startup"]:
        return seen
    if life["fail_startup"]:
        talk = Conversation(app, lifespan_scope())
        try:
            seen["failed startup"] = [await lifespan_step(talk, "lifespan.startup"), await talk.finished()]
        finally:
            await talk.close()
        seen["after a failed startup"] = [await answered(app, request, seconds) for request in life["after"]]
        return seen
    seen.update(await opened(app, life, seconds))
    if life["shutdown"] and life["restart"]:
        seen["a second life"] = await opened(app, life, seconds)
    return seen


# The phases of a life (``live``), each by the promise its answers hold to.
PROMISED_BY = {
    "before startup": "not-ready",
    "failed startup": "failed-startup",
    "after a failed startup": "not-ready",
    "startup": "startup",
    "while open": "ready",
    "shutdown": "shutdown",
    "after shutdown": "not-ready",
    "a second life": "ready",
}


@graded(NAME, points=2, promises=sorted(set(PROMISED_BY.values())), unhappy=True)
async def test_lifespan_app_lives_generated_lives_as_the_task_says(submission, reference):
    """Over generated lives (requests before, during and after, startups that fail, a second life), each answer is as
    the task says."""
    await require(submission, NAME, kind="function")

    async def run(side, life):
        return await live(side, life, submission.limits.call_seconds)

    await same_as_reference(submission, reference, NAME, LIVES, run, examples=20, promise=PROMISED_BY)
