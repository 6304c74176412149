"""Hidden tests for `request_log`: one JSON line per request, request ids through contextvars.

A probe runs scenarios through the learner's middleware around a small app (a plain answer,
a streamed one, errors before and after the response starts and after it is complete, no
answer at all, other scopes), one after the other in one task, some inside a context an outer
layer bound, and reports the lines written, the response, what
was raised and structlog's context afterwards.
"""

import re

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import probe, require, same_as_reference

pytestmark = pytest.mark.anyio
NAME = "request_log"
HEX32 = re.compile(r"^[0-9a-f]{32}$")


async def runs(submission, scenarios):
    await require(submission, NAME, kind=("function", "class"))  # a middleware class is a factory too
    return await probe(submission, NAME, "lesson09.request_logs", defined(NAME), scenarios)


def only_line(report, what):
    expect(
        len(report["lines"]) == 1,
        f"{what} should write exactly one line; it wrote {len(report['lines'])}.",
        promises=["one-line"],
    )
    return report["lines"][0]


@graded(NAME, points=1, promises=["one-line", "fields"])
async def test_request_log_one_line_with_method_path_status(submission):
    """GET /ok?x=1 and POST /ok: one line each, method, path without query, status."""
    reports = await runs(submission, [{"path": "/ok", "query": "x=1"}, {"path": "/ok", "method": "POST"}])
    for report, method in zip(reports, ["GET", "POST"], strict=True):
        line = only_line(report, f"a {method} request")
        expect(
            (line.get("method"), line.get("path"), line.get("status")) == (method, "/ok", 201),
            f"the line should say method {method}, path /ok (no query string) and the status the app sent "
            f"(201, an int); it said {line.get('method')!r}, {line.get('path')!r}, {line.get('status')!r}.",
            promises=["fields"],
        )


@graded(NAME, points=1, promises=["one-line", "latency"], unhappy=True)
async def test_request_log_streamed_response_is_one_line_after_the_last_chunk(submission):
    """A streamed response (3 chunks, a pause between them): one line, latency covering the stream, in ms."""
    report, after = await runs(submission, [{"path": "/stream"}, {"path": "/after"}])
    line = only_line(report, "a streamed response")
    latency = line.get("latency_ms")
    # Measured from the call to after the last body message, it covers at least the stream
    # (start to last message, timed by the app) and at most the whole call (timed by the probe).
    expect(
        isinstance(latency, (int, float)) and report["stream_ms"] <= latency <= report["elapsed_ms"],
        f"latency_ms should be the milliseconds from the call until the last body message (the stream alone "
        f"took {report['stream_ms']:.0f} ms); got {latency!r}. Log once more_body is false, and multiply "
        "seconds by 1000.",
        promises=["latency"],
    )
    only_line(after, "a request whose app works on after its response (a background task)")
    expect(
        after["written_at_completion"],
        "write the line as soon as the response is complete (its last body message sent), not when the app "
        "returns: work the app does after its response, such as a background task, is not the request's.",
        promises=["one-line"],
    )


@graded(NAME, points=1, promises=["request-id"])
async def test_request_log_request_id_from_header_or_fresh(submission):
    """x-request-id is reused and echoed; without it, a fresh uuid4 hex, echoed."""
    reports = await runs(
        submission, [{"path": "/ok", "headers": [["X-Request-ID", "req-42"]]}, {"path": "/ok"}, {"path": "/ok"}]
    )
    lines = [only_line(report, "each request") for report in reports]
    expect(
        lines[0].get("request_id") == "req-42" and reports[0]["headers"].get("x-request-id") == "req-42",
        "a request with an x-request-id header should be logged with that id and answered with it in x-request-id.",
    )
    expect(
        reports[0]["headers"].get("content-type") == "application/json",
        "the response lost the app's own headers (its content-type): add x-request-id to them, keep the others.",
    )
    fresh = [line.get("request_id") for line in lines[1:]]
    expect(
        all(isinstance(value, str) and HEX32.match(value) for value in fresh) and fresh[0] != fresh[1],
        f"without x-request-id, make a new uuid.uuid4().hex per request (32 hex digits); got {fresh}.",
    )
    expect(
        all(
            report["headers"].get("x-request-id") == line.get("request_id")
            for report, line in zip(reports[1:], lines[1:], strict=True)
        ),
        "the response should carry the request id in an x-request-id header.",
    )


@graded(NAME, points=1, promises=["tenant-user"])
async def test_request_log_tenant_and_user(submission):
    """tenant_id and user_id from the headers, null when absent."""
    reports = await runs(
        submission, [{"path": "/ok", "headers": [["X-Tenant-ID", "t-1"], ["x-user-id", "u-2"]]}, {"path": "/ok"}]
    )
    first, second = (only_line(report, "each request") for report in reports)
    expect(
        (first.get("tenant_id"), first.get("user_id")) == ("t-1", "u-2"),
        "tenant_id and user_id should be the x-tenant-id and x-user-id headers (header names are case-insensitive).",
    )
    expect(
        "tenant_id" in second and second["tenant_id"] is None and "user_id" in second and second["user_id"] is None,
        "a request without those headers should be logged with tenant_id and user_id null (and not the previous "
        "request's values).",
    )


@graded(NAME, points=1.5, promises=["context"], unhappy=True)
async def test_request_log_binds_the_context_for_the_request_only(submission):
    """The app sees the ids in structlog's context; after each request (ok or raising) nothing is left."""
    outer = {"job": "nightly", "tenant_id": "outer-tenant"}  # bound by a layer around the middleware
    reports = await runs(
        submission,
        [
            {"path": "/ok", "headers": [["x-request-id", "r-1"], ["x-tenant-id", "t-1"]]},
            {"path": "/ok"},
            {"path": "/boom", "headers": [["x-tenant-id", "t-2"]]},
            {"path": "/ok"},
            {"path": "/ok", "outer": outer},
            {"path": "/boom", "outer": outer},
        ],
    )
    import json

    seen = json.loads(reports[0]["body"] or "{}")
    expect(
        seen.get("request_id") == "r-1" and seen.get("tenant_id") == "t-1" and "user_id" in seen,
        "while the app runs, structlog.contextvars should hold request_id, tenant_id and user_id.",
    )
    later = json.loads(reports[1]["body"] or "{}")
    expect(
        later.get("tenant_id") is None,
        "a request without x-tenant-id saw the previous request's tenant in the "
        "context: restore the context after each request (bound_contextvars).",
    )
    expect(
        all(report["context_after"] == {} for report in reports[:4]),
        "after a request, structlog's context still held its values (also check requests that raise): use "
        "bound_contextvars, or reset what you bound in a finally.",
    )
    expect(
        all(report["context_after"] == outer for report in reports[4:]),
        f"values bound before the request (by a layer around the middleware: {outer}) should be there again after "
        f"it, as they were; the context after the request was {reports[4]['context_after']} (also check requests "
        "that raise). Restore what you bound (bound_contextvars, or reset_contextvars with the tokens), do not "
        "clear or unbind everything.",
    )


@graded(NAME, points=1.5, promises=["errors", "one-line"], unhappy=True)
async def test_request_log_errors(submission):
    """Raising before the start: status 500, error name, re-raised; after: the status sent; no answer: 500."""
    boom, late, empty, ok, done = await runs(
        submission,
        [{"path": "/boom"}, {"path": "/late"}, {"path": "/empty"}, {"path": "/ok"}, {"path": "/done-then-raise"}],
    )
    expect(
        boom["raised"] == "KeyError" and late["raised"] == "ValueError" and done["raised"] == "RuntimeError",
        "the app's exception should propagate unchanged through the middleware.",
        promises=["errors"],
    )
    line = only_line(boom, "a request whose app raised before answering")
    expect(
        (line.get("status"), line.get("error")) == (500, "KeyError"),
        f"an app that raised before sending a status should be logged with status 500 and error 'KeyError'; got "
        f"{line.get('status')!r}, {line.get('error')!r}.",
        promises=["errors"],
    )
    line = only_line(late, "a request whose app raised after its first chunk")
    expect(
        (line.get("status"), line.get("error")) == (200, "ValueError"),
        "an app that raised after sending 200 should be logged with status 200 and error 'ValueError'.",
        promises=["errors"],
    )
    line = only_line(empty, "a request whose app returned without answering")
    expect(
        line.get("status") == 500,
        "an app that returned without sending a status is answered 500 by the server: log status 500.",
        promises=["errors"],
    )
    expect(
        "error" in only_line(ok, "a request") and only_line(ok, "a request")["error"] is None,
        "a request without an error should be logged with error null.",
        promises=["errors"],
    )
    line = only_line(
        done, "a request whose app raised after its response was complete (as a failing background task does)"
    )
    expect(
        (line.get("status"), line.get("error")) == (200, None),
        "an app that raised after its response was complete should be logged once, when the response was "
        f"complete: status 200 and error null; got {line.get('status')!r}, {line.get('error')!r}.",
        promises=["errors"],
    )


@graded(NAME, points=0.5, negative=True, promises=["other-scopes"])
async def test_request_log_passes_other_scopes(submission):
    """Lifespan and WebSocket scopes reach the app and write nothing."""
    lifespan, websocket = await runs(submission, [{"type": "lifespan"}, {"type": "websocket", "path": "/ws"}])
    expect(lifespan["lines"] == [] and websocket["lines"] == [], "lifespan and WebSocket scopes should write no line.")
    expect(
        "lifespan.startup.complete" in lifespan["sent"] and "websocket.accept" in websocket["sent"],
        "lifespan and WebSocket scopes should be passed to the app untouched.",
    )


SCENARIOS = st.lists(
    st.fixed_dictionaries(
        {
            "path": st.sampled_from(["/ok", "/stream", "/boom", "/late", "/empty", "/done-then-raise"]),
            "method": st.sampled_from(["GET", "POST", "DELETE"]),
            "query": st.sampled_from(["", "a=1", "q=%20x"]),
            "headers": st.lists(
                st.tuples(
                    st.sampled_from(["x-tenant-id", "X-User-Id", "x-request-id", "accept"]),
                    st.sampled_from(["t-1", "u-9", "abc", "*/*"]),
                ).map(list),
                max_size=3,
                unique_by=lambda pair: pair[0].lower(),
            ),
            "outer": st.sampled_from([{}, {}, {"job": "j-1"}, {"tenant_id": "outer", "request_id": "outer-id"}]),
        }
    ),
    min_size=1,
    max_size=4,
)


def observed(report):
    """What the statement fixes of one request: the lines without their latency (the request
    id as 'fresh' when it is a new uuid hex), what was raised, the echoed id, the context after."""
    lines = []
    for line in report["lines"]:
        kept = {key: line.get(key) for key in ("method", "path", "status", "tenant_id", "user_id", "error")}
        rid = line.get("request_id")
        kept["request_id"] = "fresh" if isinstance(rid, str) and HEX32.match(rid) else rid
        lines.append(kept)
    echoed = report["headers"].get("x-request-id")
    return {
        "lines": lines,
        "raised": report["raised"],
        "echo": "fresh" if echoed and HEX32.match(echoed) else echoed,
        "context_after": report["context_after"],
    }


@graded(NAME, points=1, promises=["one-line", "fields", "request-id", "tenant-user", "errors", "context"])
async def test_request_log_on_generated_requests(submission, reference):
    """On generated sequences of requests, the lines are as the statement says."""
    await require(submission, NAME, kind=("function", "class"))  # a middleware class is a factory too

    async def batch(side, sessions):
        flat = [scenario for session in sessions for scenario in session]
        reports = iter(await side.probe("lesson09.request_logs", defined(NAME), flat))
        return [[observed(next(reports)) for _ in session] for session in sessions]

    await same_as_reference(
        submission,
        reference,
        NAME,
        SCENARIOS,
        batch=batch,
        examples=8,
        promise=["one-line", "fields", "request-id", "tenant-user", "errors", "context"],
    )
