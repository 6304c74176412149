"""Hidden tests for step 6, `request_log`: one JSON line per request, with the caller it was made by.

A probe (``lesson10.request_logs``) puts the learner's middleware around an app of its own whose
requests are authenticated as ``current_caller`` does it (a ``Caller`` kept on
``request.state.caller``), runs its lifespan with asgi_lifespan's LifespanManager (every request
then gets one shared ``state`` dict, the trap the step warns of) and sends it requests one after
the other: answered, refused, streamed with work after the response, failing before, during and
after the response, answering nothing; then a lifespan and a WebSocket. It reports the lines each
request wrote, its answer and what it raised. A differential test sends generated sequences to
the learner's middleware and the reference's.
"""

import re

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import require, same_as_reference

from .background import scenario as in_background

pytestmark = pytest.mark.anyio
NAME = "request_log"
HEX32 = re.compile(r"^[0-9a-f]{32}$")
REQUESTS = [
    {"path": "/who", "query": "user=3&page=2", "headers": [["X-Request-ID", "req-42"]]},  # 0
    {"path": "/refused"},  # 1: right after an authenticated request, under one shared state
    {"path": "/health"},  # 2
    {"path": "/who", "query": "user=15"},  # 3
    {"path": "/status", "query": "code=418", "method": "POST"},  # 4
    {"path": "/stream", "query": "user=28"},  # 5
    {"path": "/boom", "query": "user=37"},  # 6
    {"path": "/late"},  # 7
    {"path": "/empty"},  # 8
    {"path": "/done-then-raise", "query": "user=1"},  # 9
    {"path": "/who", "query": "user=3"},  # 10
    {"path": "/health", "headers": [["x-request-id", "req-43"]]},  # 11
]

_reports: dict = {}


async def logs(submission) -> dict:
    if "report" not in _reports:
        await require(submission, NAME, kind=("function", "class"))  # a middleware class is a factory too
        _reports["report"] = await in_background(
            submission, NAME, "request_logs", defined(NAME), defined("Caller"), REQUESTS
        )
    return _reports["report"]


def only_line(seen: dict, what: str) -> dict:
    expect(
        len(seen["lines"]) == 1,
        f"{what} should write exactly one line; it wrote {len(seen['lines'])}.",
        promises=["one-line"],
    )
    return seen["lines"][0]


def header(seen: dict, name: str) -> str | None:
    return next((value for key, value in seen["headers"] if key == name), None)


@graded(NAME, points=1.5, promises=["one-line", "fields"])
async def test_request_log_writes_one_line_with_method_path_status_latency(submission):
    """GET /who?user=3&page=2 and POST /status?code=418: one JSON line each, method, path without query, the status
    sent, latency in ms."""
    report = await logs(submission)
    for index, method, path, status in ((0, "GET", "/who", 200), (4, "POST", "/status", 418)):
        seen = report["requests"][index]
        line = only_line(seen, f"A {method} request")
        expect(
            (line.get("method"), line.get("path"), line.get("status")) == (method, path, status),
            f"The line should have method {method}, path {path} (no query string) and status {status} (the app's, an "
            f"int); it has {line.get('method')!r}, {line.get('path')!r}, {line.get('status')!r}.",
            promises=["fields"],
        )
        latency = line.get("latency_ms")
        expect(
            isinstance(latency, int | float) and not isinstance(latency, bool) and 0 <= latency <= seen["elapsed_ms"],
            f"latency_ms should be the milliseconds from your middleware's call to the line (a number, at most the "
            f"{seen['elapsed_ms']:.0f} ms the request took); it is {latency!r}.",
            promises=["fields"],
        )


@graded(NAME, points=1.5, promises=["one-line", "fields"])
async def test_request_log_writes_a_streamed_response_once_it_is_complete(submission):
    """A streamed response (3 chunks, pauses between) and work after it: one line after the last chunk, before that
    work; latency covers the stream."""
    seen = (await logs(submission))["requests"][5]
    line = only_line(seen, "A streamed response")
    latency = line.get("latency_ms")
    expect(
        isinstance(latency, int | float) and seen["stream_ms"] <= latency <= seen["elapsed_ms"],
        f"The stream alone took {seen['stream_ms']:.0f} ms, and latency_ms says {latency!r}: write the line when the "
        "last body message (more_body false) has gone, and count milliseconds (seconds x 1000).",
        promises=["fields"],
    )
    expect(
        seen["lines_at_background"] == 1,
        "Write the line as soon as the response is complete, not when the app returns: the work an app does after its "
        "response (a background task) is not the request's.",
        promises=["one-line"],
    )


@graded(NAME, points=1.5, promises=["request-id"])
async def test_request_log_request_id_from_the_header_or_fresh(submission):
    """X-Request-ID is logged and sent back; without it, a fresh uuid4().hex per request, sent back; the app's own
    headers stay."""
    report = await logs(submission)
    given = report["requests"][0]
    expect(
        only_line(given, "A request").get("request_id") == "req-42" and header(given, "x-request-id") == "req-42",
        "A request with an X-Request-ID header should be logged with that request_id, and answered with it in "
        "x-request-id.",
    )
    expect(
        header(given, "x-app") == "kept" and header(given, "content-type") == "application/json",
        "The response lost the app's own headers: add x-request-id to them, keep the others.",
    )
    fresh = [report["requests"][index] for index in (1, 2, 3)]
    ids = [only_line(seen, "A request").get("request_id") for seen in fresh]
    expect(
        all(isinstance(value, str) and HEX32.match(value) for value in ids) and len(set(ids)) == 3,
        f"Without X-Request-ID, make a new uuid.uuid4().hex per request (32 hex digits); the lines said {ids}.",
    )
    expect(
        [header(seen, "x-request-id") for seen in fresh] == ids,
        "The response should carry its request id back in an x-request-id header.",
    )


@graded(NAME, points=2, promises=["caller"], unhappy=True)
async def test_request_log_names_the_caller_of_this_request_only(submission):
    """tenant_id and user_id of the Caller on request.state.caller; null when none, even right after an authenticated
    request (one shared state)."""
    report = await logs(submission)
    expect(
        '"service": "probe"' in report["requests"][0]["body"],
        "The app no longer found in its request's state what its lifespan put there: give each request a copy of "
        "scope['state'] (dict(scope['state'])), not an empty one.",
    )
    expected = {
        0: (1, 3),
        1: (None, None),
        2: (None, None),
        3: (2, 15),
        5: (3, 28),
        6: (4, 37),
        7: (None, None),
        8: (None, None),
        9: (1, 1),
        10: (1, 3),
        11: (None, None),
    }
    for index, (tenant, user) in expected.items():
        line = only_line(report["requests"][index], "Each request")
        found = (line.get("tenant_id", "(missing)"), line.get("user_id", "(missing)"))
        if tenant is not None:
            expect(
                found == (tenant, user),
                f"A request authenticated as user {user} of tenant {tenant} was logged with tenant_id, user_id "
                f"{found}: read them from the Caller that current_caller kept on request.state.caller (scope "
                "['state']['caller']) once the app has run.",
            )
        else:
            expect(
                found == (None, None),
                f"A request that was not authenticated (refused, or a route without a token) was logged with "
                f"tenant_id, user_id {found}, not null. Under one shared state (as LifespanManager hands every "
                "request), an earlier request's caller is still there: give each request its own copy of "
                "scope['state'] before calling the app.",
            )


@graded(NAME, points=1.5, promises=["app-errors", "one-line", "fields"], unhappy=True)
async def test_request_log_lets_the_apps_errors_go_on_once_logged(submission):
    """Raising before answering: status 500, re-raised; after the first chunk: status 200, re-raised; no answer: 500;
    after a complete response: one line, re-raised."""
    report = await logs(submission)
    boom, late, empty, done = (report["requests"][index] for index in (6, 7, 8, 9))
    expect(
        (boom["raised"], late["raised"], done["raised"]) == ("RuntimeError", "ValueError", "RuntimeError"),
        "An exception from the app should go on through the middleware, unchanged, once its line is written; got "
        f"{boom['raised']}, {late['raised']}, {done['raised']} for RuntimeError, ValueError, RuntimeError.",
        promises=["app-errors"],
    )
    expect(
        empty["raised"] is None,
        f"An app that answered nothing raised nothing, yet the middleware raised {empty['raised']}.",
        promises=["app-errors"],
    )
    for seen, label, status in (
        (boom, "an app that raised before answering", 500),
        (late, "an app that raised after its first chunk", 200),
        (empty, "an app that returned without answering", 500),
        (done, "an app that raised after a complete response", 200),
    ):
        line = only_line(seen, f"A request to {label}")
        expect(
            line.get("status") == status,
            f"A request to {label} should be logged with status {status} (the status sent, 500 when none was); it "
            f"was logged with {line.get('status')!r}.",
            promises=["fields"],
        )


@graded(NAME, points=0.5, negative=True, promises=["other-scopes"])
async def test_request_log_passes_other_scopes_untouched(submission):
    """A lifespan and a WebSocket connect reach the app and write nothing."""
    other = (await logs(submission))["other_scopes"]
    expect(
        other["lines"] == 0,
        f"A lifespan and a WebSocket connect wrote {other['lines']} line(s): log HTTP requests only.",
    )
    expect(
        other["lifespan"] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
        and other["websocket"] == ["websocket.accept", "websocket.close"],
        "Lifespan and WebSocket scopes should go to the app untouched (its answers were "
        f"{other['lifespan']} and {other['websocket']}).",
    )


SEQUENCES = st.lists(
    st.fixed_dictionaries(
        {
            "path": st.sampled_from(
                ["/who", "/who", "/refused", "/health", "/status", "/boom", "/empty", "/done-then-raise"]
            ),
            "query": st.sampled_from(["", "user=3", "user=15", "user=28", "code=201", "user=36&x=1"]),
            "method": st.sampled_from(["GET", "POST", "DELETE"]),
            "headers": st.sampled_from([[], [["x-request-id", "abc"]], [["X-Request-ID", "r-2"], ["accept", "*/*"]]]),
        }
    ),
    min_size=1,
    max_size=4,
)


def observed(seen: dict, request: dict) -> dict:
    """What the statement fixes of one request: its lines without latency (a fresh request id
    as "fresh"), the status sent, the id sent back, what was raised."""

    def plain(value):
        return "fresh" if isinstance(value, str) and HEX32.match(value) else value

    lines = [
        {
            key: plain(line.get(key)) if key == "request_id" else line.get(key)
            for key in ("method", "path", "status", "request_id", "tenant_id", "user_id")
        }
        for line in seen["lines"]
    ]
    return {
        "lines": lines,
        "status": seen["status"],
        "echo": plain(header(seen, "x-request-id")),
        "raised": seen["raised"],
    }


@graded(NAME, points=1, promises=["one-line", "fields", "request-id", "caller"])
async def test_request_log_on_generated_requests(submission, reference):
    """On generated sequences of requests (authenticated or not, failing, with and without X-Request-ID), the lines are
    as the task says."""
    await require(submission, NAME, kind=("function", "class"))

    async def batch(side, sequences):
        flat = [request for sequence in sequences for request in sequence]
        seen = iter(
            (await in_background(side, NAME, "request_logs", defined(NAME), defined("Caller"), flat))["requests"]
        )
        return [[observed(next(seen), request) for request in sequence] for sequence in sequences]

    await same_as_reference(
        submission,
        reference,
        NAME,
        SEQUENCES,
        batch=batch,
        examples=5,
        promise=["one-line", "fields", "request-id", "caller"],
    )
