"""Hidden tests for `catch_errors`: exceptions become JSON errors, details stay in the log."""

import pytest
from hypothesis import strategies as st

from autograder.expect import Mistake, expect, graded
from autograder.strategies import outcome
from autograder.submission import defined, fixture
from autograder.suitekit import as_json, completed, make, other_scopes, probe, require, same_as_reference
from coursekit import drive, http_scope, lifespan_scope, websocket_scope

pytestmark = pytest.mark.anyio
NAME = "catch_errors"


SECRET_WORDS = ("hunter2", "password", "Traceback", "RuntimeError", "KeyError")


async def wrapped(submission, kind: str):
    await require(submission, NAME, kind="function")
    inner = await make(submission, NAME, "$fixture:lesson02.failing_app", kind, defined("HTTPException"))
    return submission.asgi(await make(submission, NAME, NAME, defined(inner)), label=f"{NAME}(app)")


async def call(app):
    return await drive(app, http_scope("GET", "/boom"))


def leaks(trace) -> bool:
    shown = trace.body.decode("utf-8", "replace") + " ".join(f"{n}: {v}" for n, v in trace.header_list)
    return any(word in shown for word in SECRET_WORDS)


@graded(NAME, points=2, promises=["internal-error", "handled"], unhappy=True)
async def test_errors_unhandled_exceptions_become_a_plain_500(submission):
    """An exception before the response starts becomes 500 {"detail": "Internal Server Error"}."""
    for kind in ("runtime", "keyerror"):
        trace = await call(await wrapped(submission, kind))
        expect(
            trace.status == 500,
            f"When the app raises before answering, send a 500 (you sent {trace.status}).",
            promises=["internal-error"],
        )
        expect(
            trace.exception is None and not trace.timed_out,
            "After sending the 500, return normally: the error is handled, there is nothing left to re-raise.",
            promises=["handled"],
        )
        expect(
            not leaks(trace),
            "Never leak the exception (its text, type or traceback) to the client: it belongs in the log.",
            promises=["internal-error"],
        )
        expect(
            trace.headers.get("content-type", "").startswith("application/json")
            and as_json(trace) == {"detail": "Internal Server Error"},
            'The 500 should be JSON {"detail": "Internal Server Error"} and nothing more.',
            promises=["internal-error"],
        )


@graded(NAME, points=1, promises=["logged"], unhappy=True)
async def test_errors_are_logged_with_their_traceback(submission):
    """The unhandled exception is logged on the "micro" logger, with its traceback."""
    await require(submission, NAME, kind="function")
    found = await probe(submission, NAME, "lesson02.error_log_report", defined(NAME), "runtime")
    if found["raised"] == "NotImplementedError":
        raise Mistake(f"Your `{NAME}` raised NotImplementedError. The exercise is not solved yet.")
    expect(found["status"] == 500, "When the app raises before answering, send a 500.")
    expect(
        any(record["level"] == "ERROR" and record["exception"] == "RuntimeError" for record in found["records"]),
        'Log the exception with logging.getLogger("micro").exception(...), so the log gets the level '
        "ERROR and the traceback.",
    )


@graded(NAME, points=2, promises=["http-exception"], unhappy=True)
async def test_errors_http_exceptions_keep_their_status(submission):
    """HTTPException(status, detail, headers) becomes that status, {"detail": detail} and the headers."""
    trace = await call(await wrapped(submission, "http"))
    completed(trace)
    expect(trace.status == 404, "An HTTPException should become a response with its own status_code, not a 500.")
    expect(as_json(trace) == {"detail": "no such item"}, 'Answer an HTTPException with JSON {"detail": exc.detail}.')
    expect(trace.headers.get("x-reason") == "missing", "Send the HTTPException's headers with the response.")
    trace = await call(await wrapped(submission, "http_default"))
    completed(trace)
    expect(
        trace.status == 403 and as_json(trace) == {"detail": "Forbidden"},
        'HTTPException(403) without a detail should answer 403 {"detail": "Forbidden"} (exc.detail '
        "already holds the standard phrase).",
    )


@graded(NAME, points=1, promises=["after-start"], unhappy=True)
async def test_errors_after_the_response_started_are_reraised(submission):
    """Once http.response.start is sent, the exception propagates and no second start is sent."""
    for kind in ("late", "late_no_body"):  # with part of the body sent, and with none
        trace = await call(await wrapped(submission, kind))
        starts = [m for m in trace.sent if m.get("type") == "http.response.start"]
        expect(
            len(starts) == 1 and starts[0].get("status") == 200,
            "If the response has already started, you cannot send another http.response.start: the status "
            "is on its way (even before any body message). Let the exception propagate instead.",
        )
        expect(
            trace.exception is not None,
            "When the response had already started, re-raise the exception so "
            "the server closes the connection (the client must not take half a "
            "body for a whole one).",
        )


@graded(NAME, points=1, promises=["watching-send", "other-scopes"])
async def test_errors_pass_everything_else_through(submission):
    """A response without errors, lifespan and WebSocket calls pass through unchanged."""
    trace = await call(await wrapped(submission, "ok"))
    completed(trace)
    expect(
        trace.status == 200 and trace.body == b"fine" and ("x-app", "failing") in trace.header_list,
        "When the app raises nothing, pass its messages through unchanged.",
        promises=["watching-send"],
    )
    app = submission.asgi(await make(submission, NAME, NAME, fixture("scope_types_app")), label=f"{NAME}(app)")
    lifespan, accept = await other_scopes(app)
    expect(
        lifespan == ["lifespan.startup.complete", "lifespan.shutdown.complete"],
        "Pass lifespan calls straight to the wrapped app.",
        promises=["other-scopes"],
    )
    expect(
        accept is not None and accept.get("type") == "websocket.accept",
        "Pass websocket calls straight to the wrapped app.",
        promises=["other-scopes"],
    )


@graded(NAME, points=1, promises=["watching-send", "internal-error", "http-exception"], unhappy=True)
async def test_errors_each_request_on_its_own(submission):
    """One wrapped app, many requests: whether the response started is noted per request."""
    app = await wrapped(submission, "by_path")
    expected = {"/runtime": 500, "/http": 404, "/keyerror": 500}
    for path in ("/ok", "/runtime", "/late", "/http", "/ok", "/keyerror"):
        trace = await drive(app, http_scope("GET", path))
        if path not in expected:
            continue
        expect(
            trace.status == expected[path] and trace.exception is None,
            "The same wrapped app serves many requests: after one request whose response had started, the "
            "next one that fails before answering must still get its JSON error answer. Is the note of "
            "http.response.start kept per request, or shared by every request of the app?",
            promises=["watching-send"],
        )


@graded(NAME, points=1, negative=True, promises=["cancellation"], unhappy=True)
async def test_errors_let_a_cancellation_through(submission):
    """A cancelled request is not an error: no answer, no log record, and the call ends cancelled."""
    await require(submission, NAME, kind="function")
    found = await probe(submission, NAME, "lesson02.cancellation_report", defined(NAME))
    if found["ended"] == "NotImplementedError":
        raise Mistake(f"Your `{NAME}` raised NotImplementedError. The exercise is not solved yet.")
    expect(
        found["ended"] == "cancelled" and found["sent"] == [] and found["records"] == 0,
        "When the request is cancelled (the server shuts down, the client's task is cancelled), catch_errors "
        f"should let the cancellation through (here the call ended: {found['ended']}; it sent "
        f"{found['sent'] or 'nothing'} and logged {found['records']} record(s)). Which exceptions does your "
        "except clause catch, and is asyncio.CancelledError one of them?",
    )


FAILURES = st.one_of(
    st.none(),
    st.tuples(st.just("error"), st.sampled_from(["RuntimeError", "KeyError", "ValueError", "ZeroDivisionError"])).map(
        list
    ),
    st.tuples(
        st.just("http"),
        st.sampled_from([400, 401, 403, 404, 409, 418, 503]),
        st.none() | st.sampled_from(["no such item", "caf\u00e9", ""]),
        st.none()
        | st.dictionaries(
            st.sampled_from(["x-reason", "retry-after", "WWW-Authenticate"]),
            st.sampled_from(["missing", "10", "Bearer"]),
            max_size=2,
        ),
    ).map(list),
)
SCRIPTS = st.fixed_dictionaries(
    {
        "start": st.none() | st.sampled_from([200, 201, 404]),
        "parts": st.lists(st.binary(min_size=1, max_size=3), max_size=2),
        "raise": FAILURES,
        "scope": st.sampled_from(["http", "http", "http", "lifespan", "websocket"]),
    }
).filter(lambda script: script["start"] is not None or not script["parts"])
SCOPES = {
    "http": lambda: http_scope("GET", "/boom"),
    "lifespan": lifespan_scope,
    "websocket": lambda: websocket_scope("/ws"),
}


def promised(trace) -> dict:
    """What the statement fixes: every message sent (status, headers, body: the JSON body
    parsed), and the type of an exception that propagated."""
    got = outcome(trace)
    return {
        "messages": got["types"],
        "status": got["status"],
        "headers": sorted(got["headers"]),
        "body": as_json(trace)
        if got["types"] and dict(got["headers"]).get("content-type", "").startswith("application/json")
        else got["body"],
        "raised": got["raised"],
    }


def what_happens(script: dict) -> str:
    """The case of the statement a generated script falls under (which promise holds there)."""
    if script["scope"] != "http":
        return "other scope"
    if script["raise"] is None:
        return "no error"
    if script["start"] is not None:
        return "error after the start"
    return "HTTPException before the start" if script["raise"][0] == "http" else "other error before the start"


PROMISED_BY = {
    "other scope": "other-scopes",
    "no error": "watching-send",
    "error after the start": "after-start",
    "HTTPException before the start": ["http-exception", "handled"],
    "other error before the start": ["internal-error", "handled"],
}


@graded(
    NAME,
    points=2,
    promises=["other-scopes", "watching-send", "after-start", "http-exception", "internal-error", "handled"],
    unhappy=True,
)
async def test_catch_errors_handles_generated_failures_as_the_task_says(submission, reference):
    """Around generated apps (HTTPExceptions with and without detail and headers, other errors, before and after the
    start), the client gets what the task says."""
    await require(submission, NAME, kind="function")

    async def run(side, script):
        inner = await make(side, NAME, "$fixture:lesson02.scripted_failing_app", script, defined("HTTPException"))
        app = side.asgi(await make(side, NAME, NAME, defined(inner)), label=f"{NAME}(app)")
        incoming = (
            [{"type": "http.request", "body": b""}]
            if script["scope"] == "http"
            else [{"type": f"{script['scope']}.connect"}]
        )
        seen = await drive(app, SCOPES[script["scope"]](), incoming, timeout=submission.limits.call_seconds)
        return {what_happens(script): promised(seen)}

    await same_as_reference(submission, reference, NAME, SCRIPTS, run, examples=60, promise=PROMISED_BY)
