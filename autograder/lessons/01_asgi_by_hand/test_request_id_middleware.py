"""Hidden tests for `request_id_middleware`: wrapping send to add headers, and nothing else."""

import json
import re

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.strategies import body_pieces, http_requests, messages, outcome, paths, scope_of, wrapped_drives
from autograder.submission import fixture
from autograder.suitekit import client, completed, other_scopes, require, same_as_reference
from coursekit import drive, http_scope, lifespan_scope, websocket_scope

pytestmark = pytest.mark.anyio
NAME = "request_id_middleware"
HEX32 = re.compile(r"[0-9a-f]{32}")


async def wrapped(submission, app_name: str):
    await require(submission, NAME, kind="function")
    return submission.asgi(await submission.make(NAME, fixture(app_name)), label=f"{NAME}(app)")


@graded(NAME, points=2, promises=["request-id"], unhappy=True)
async def test_adds_a_fresh_request_id(submission):
    """Each response gets an x-request-id of 32 lowercase hex characters, new every time."""
    app = await wrapped(submission, "hello_app")
    async with client(app) as http:
        ids = [(await http.get("/")).headers.get("x-request-id") for _ in range(3)]
    expect(all(value is not None for value in ids), "Add an x-request-id header to http.response.start.")
    expect(
        all(HEX32.fullmatch(value) for value in ids),
        "The request id should be 32 lowercase hex characters (uuid4().hex).",
    )
    expect(len(set(ids)) == 3, "Make a new id for every request, not one per middleware.")


@graded(NAME, points=1, promises=["request-id"])
async def test_reuses_the_incoming_request_id(submission):
    """An x-request-id sent by the client is passed back unchanged."""
    app = await wrapped(submission, "hello_app")
    async with client(app) as http:
        response = await http.get("/", headers={"x-request-id": "from-the-load-balancer-42"})
    expect(
        response.headers.get("x-request-id") == "from-the-load-balancer-42",
        "When the request already has an x-request-id header, answer with that value.",
    )


@graded(NAME, points=1, promises=["server-timing"])
async def test_server_timing(submission):
    """server-timing says app;dur=<milliseconds>."""
    app = await wrapped(submission, "hello_app")
    async with client(app) as http:
        value = (await http.get("/")).headers.get("server-timing", "")
    match = re.fullmatch(r"app;dur=(\d+(\.\d+)?)", value)
    expect(match is not None, "Add server-timing: app;dur=<milliseconds>, a plain number such as 0.42.")
    expect(float(match.group(1)) < 5000, "The duration should be in milliseconds since the call began.")
    app = await wrapped(submission, "lesson01.slow_hello_app")  # starts its response 50 ms after the call
    async with client(app) as http:
        value = (await http.get("/")).headers.get("server-timing", "")
    match = re.fullmatch(r"app;dur=(\d+(\.\d+)?)", value)
    expect(
        match is not None and 45 <= float(match.group(1)) < 5000,
        "The duration is the time from the call to http.response.start, in milliseconds (not seconds): "
        "start the clock when your wrapper is called and read it at the start message.",
    )


def duration(response) -> float | None:
    """The milliseconds in a response's server-timing: app;dur=<ms> (None if it has none)."""
    match = re.fullmatch(r"app;dur=(\d+(\.\d+)?)", response.headers.get("server-timing", ""))
    return float(match.group(1)) if match else None


@graded(NAME, points=1, promises=["server-timing"], unhappy=True)
async def test_server_timing_is_timed_for_each_call(submission):
    """Through one wrapper, a fast request after a slow one reports a shorter duration."""
    app = await wrapped(submission, "lesson01.slow_path_app")  # /slow starts its response 200 ms after the call
    async with client(app) as http:
        slow, fast = await http.get("/slow"), await http.get("/")
    expect(
        duration(slow) is not None and duration(fast) is not None,
        "Add server-timing: app;dur=<milliseconds> to every response.",
    )
    expect(
        duration(fast) < duration(slow),
        "A request answered at once reported a longer duration than a slow one before it: the clock must start "
        "when your wrapper is called for this request (inside the function that handles a call), not once "
        "when the middleware is made or first used.",
    )


@graded(NAME, points=1, promises=["keeps-the-response"])
async def test_keeps_the_wrapped_response(submission):
    """Status, headers and every body chunk of the wrapped app pass through unchanged."""
    app = await wrapped(submission, "lesson01.chunked_app")
    incoming = [{"type": "http.request", "body": b"in", "more_body": False}]
    trace = await drive(app, http_scope("POST", "/"), incoming)
    completed(trace)
    bodies = [(m.get("body"), bool(m.get("more_body"))) for m in trace.sent if m.get("type") == "http.response.body"]
    expect(trace.status == 201, "Keep the wrapped app's status.")
    expect(
        ("x-app", "chunked") in trace.header_list and ("content-type", "text/plain") in trace.header_list,
        "Keep the wrapped app's own headers: add yours to the list, don't replace it.",
    )
    expect(
        bodies == [(b"one,", True), (b"two,", True), (b"three", True), (b":in", False)],
        "Pass http.response.body messages on untouched, each one, in order.",
    )
    names = [name for name, _ in trace.header_list]
    expect(
        names.count("x-request-id") == 1, "Add x-request-id once, on http.response.start only.", promises=["request-id"]
    )


def described(scope: dict) -> dict:
    """A scope as ``lesson01.scope_reporting_app`` reports it: its keys and its headers."""
    return {
        "keys": sorted(scope),
        "headers": [[name.decode("latin-1"), value.decode("latin-1")] for name, value in scope.get("headers", [])],
    }


@graded(NAME, points=1, promises=["other-scopes"])
async def test_other_scopes_pass_through(submission):
    """Lifespan and WebSocket calls reach the wrapped app untouched: their scopes and their messages."""
    lifespan, accept = await other_scopes(await wrapped(submission, "scope_types_app"))
    expect(
        lifespan == ["lifespan.startup.complete", "lifespan.shutdown.complete"],
        "Pass lifespan calls straight to the wrapped app.",
    )
    expect(
        accept == {"type": "websocket.accept", "headers": [[b"x-app", b"ws"]]},
        "Pass websocket calls straight to the wrapped app, without adding headers to them.",
    )
    app = await wrapped(submission, "lesson01.scope_reporting_app")
    lifespan = await drive(app, lifespan_scope(), [{"type": "lifespan.startup"}])
    completed(lifespan)
    connect = await drive(
        app, websocket_scope("/ws", headers={"x-request-id": "from-the-client"}), [{"type": "websocket.connect"}]
    )
    completed(connect)
    seen = [
        lifespan.sent[0].get("message") if lifespan.sent else None,
        dict(connect.sent[0].get("headers", [])).get(b"x-scope", b"").decode("latin-1") if connect.sent else None,
    ]
    wanted = [
        described(lifespan_scope()),
        described(websocket_scope("/ws", headers={"x-request-id": "from-the-client"})),
    ]
    expect(
        [json.loads(each) if each else None for each in seen] == wanted,
        "Pass lifespan and websocket scopes to the wrapped app untouched: the same scope, with no key added, "
        "removed or changed (do the HTTP work only after checking scope['type']).",
    )


ADDED = ("x-request-id", "server-timing")
APP_HEADERS = st.lists(
    st.tuples(
        st.sampled_from(["set-cookie", "x-app", "content-type", "vary", "x-request-ids"]),
        st.sampled_from(["a=1", "b=2", "text/plain", "x", ""]),
    ).map(list),
    max_size=4,
)
SCRIPTS = st.fixed_dictionaries(
    {
        "status": st.sampled_from([200, 201, 204, 404, 500]),
        "headers": APP_HEADERS,
        "parts": st.lists(st.binary(max_size=4), min_size=1, max_size=3),
        "request": http_requests(
            path=paths(),
            pieces=body_pieces(3),
            headers=st.lists(
                st.tuples(
                    st.sampled_from(["x-request-id", "x-other"]),
                    st.sampled_from(["abc", "from-the-lb-7", "", "0" * 32]),
                ).map(list),
                max_size=2,
            ),
        ),
    }
)


def promised(seen: dict, incoming: list) -> dict:
    """What the statement fixes: the wrapped app's status, every one of its headers (repeats
    too), its body messages untouched; one x-request-id, the incoming one when there is one
    (else 32 lowercase hex), and one server-timing of the form app;dur=<number>."""
    own = sorted(pair for pair in seen["headers"] if pair[0] not in ADDED)
    ids = [value for name, value in seen["headers"] if name == "x-request-id"]
    timings = [value for name, value in seen["headers"] if name == "server-timing"]
    given = next((value for name, value in incoming if name == "x-request-id"), None)
    fresh = len(ids) == 1 and HEX32.fullmatch(ids[0]) is not None
    return {
        "status": seen["status"],
        "raised": seen["raised"],
        "messages": seen["types"],
        "app's headers": own,
        "body": seen["body"],
        "x-request-id": ids if given is not None else ("one fresh id" if fresh else ids),
        "server-timing": "well formed"
        if len(timings) == 1 and re.fullmatch(r"app;dur=\d+(\.\d+)?", timings[0])
        else timings,
    }


# Which promise each part of an observation (``promised``) holds to.
PROMISED_BY = {
    "status": "keeps-the-response",
    "messages": "keeps-the-response",
    "app's headers": "keeps-the-response",
    "body": "keeps-the-response",
    "x-request-id": "request-id",
    "server-timing": "server-timing",
}


@graded(NAME, points=2, promises=["request-id", "server-timing", "keeps-the-response"])
async def test_request_id_middleware_keeps_generated_responses(submission, reference):
    """Around generated apps (repeated headers, several body parts) and requests, only the two headers are added."""
    await require(submission, NAME, kind="function")

    async def batch(side, scripts):
        calls = [
            (
                ("lesson01.scripted_app", [script["status"], script["headers"], script["parts"]]),
                scope_of(script["request"]),
                messages(script["request"]),
            )
            for script in scripts
        ]
        traces = await wrapped_drives(side, NAME, calls, submission.limits.call_seconds / 2)
        seen = []
        for trace, script in zip(traces, scripts, strict=True):
            observed = outcome(trace)
            observed["types"] = [(m.get("type"), m.get("body"), bool(m.get("more_body"))) for m in trace.sent]
            seen.append(promised(observed, [[name.lower(), value] for name, value in script["request"]["headers"]]))
        return seen

    await same_as_reference(submission, reference, NAME, SCRIPTS, batch=batch, promise=PROMISED_BY)


@graded(NAME, points=1, promises=["keeps-the-response"])
async def test_leaves_the_wrapped_apps_message_alone(submission):
    """The wrapped app's own start message and header list are not edited in place."""
    app = await wrapped(submission, "lesson01.reusing_app")
    async with client(app) as http:
        response = await http.get("/")
    expect(
        response.content == b"unchanged",
        'Build a new start message with a new header list, e.g. {**message, "headers": [*message["headers"], ...]}: '
        "your middleware changed the wrapped app's own message or list in place.",
    )
