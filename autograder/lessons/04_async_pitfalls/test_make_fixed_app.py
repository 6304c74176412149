"""Hidden tests for `make_fixed_app`: the shipped app's responses, without holding the loop.

Both apps are made in the sandbox: `make_blocking_app` (a setup cell, trusted) is the
reference for every response, and the learner's app must answer the same. Then a cheap
request is timed while a slow report runs, against the idle time measured just before
(see `autograder.suitekit.responsiveness`).
"""

import httpx
import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import make, probe, require, responsiveness, same_as_reference

pytestmark = pytest.mark.anyio
NAME = "make_fixed_app"
PATHS = [
    "/ping",
    "/report/1?delay=0",
    "/report/2?delay=0.01",
    "/report/4?delay=0",
    "/report/99?delay=0",
    "/report/2",
    "/report/abc?delay=0",
    "/report/1?delay=soon",
    "/report/1?delay=-1",
    "/nowhere",
]


def client_for(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://testserver", timeout=10
    )


def body(response: httpx.Response):
    """The JSON a response carries, or its bytes (a 500's plain text)."""
    try:
        return response.json()
    except ValueError:
        return response.content


@graded(NAME, points=1.5, promises=["same-responses", "legacy-report"])
async def test_make_fixed_app_answers_like_the_shipped_app(submission):
    """Every route answers with the same status and JSON as make_blocking_app's."""
    await require(submission, NAME, kind="function")
    ours = submission.asgi(await make(submission, NAME, "make_blocking_app"), label="make_blocking_app()")
    theirs = submission.asgi(await make(submission, NAME, NAME), label=f"{NAME}()")
    async with client_for(ours) as reference, client_for(theirs) as http:
        for path in PATHS:
            wanted, got = await reference.get(path), await http.get(path)
            expect(
                got.status_code == wanted.status_code,
                f"GET {path.split('?')[0]} answered {got.status_code}, where the shipped app answers "
                f"{wanted.status_code}: keep the same routes and parameters.",
                promises=["same-responses"],
            )
            expect(
                got.headers.get("content-type") == wanted.headers.get("content-type") and body(got) == body(wanted),
                f"GET {path.split('?')[0]} should answer exactly what the shipped app answers "
                "(the report is what legacy_report returns).",
                promises=["same-responses"],
            )


@graded(NAME, points=2.5, promises=["ping-at-once"])
async def test_make_fixed_app_keeps_ping_fast_during_a_report(submission):
    """While a slow report is computed, GET /ping still answers about as fast as when idle."""
    await require(submission, NAME, kind="function")
    app = submission.asgi(await make(submission, NAME, NAME), label=f"{NAME}()")
    async with client_for(app) as http:
        result = await responsiveness(http, "/report/3?delay=0.8")
    expect(result.slow_status == 200, f"GET /report/3?delay=0.8 answered {result.slow_status}, not 200.")
    expect(result.busy >= 0.7, "A report with ?delay=0.8 should take about 0.8 s: pass `delay` on to legacy_report.")
    expect(
        result.responsive,
        f"Your report endpoint still holds the event loop: {result.describe()}. "
        "Run the blocking call somewhere else than on the loop.",
    )


# Requests to the shipped app's two routes and beyond: GET mostly, other methods too; tenants
# known, unknown, negative and not numbers; the delay left out, zero, small, malformed. The
# app's legacy_report is watched (lesson04.report_app_answers): called with which arguments,
# and on the event loop's thread or not; it skips its sleep, so every answer comes at once.
# (Known tenants and valid delays more often than the rest: they exercise legacy_report.)
TENANTS = st.integers(-1, 6).map(str) | st.integers(1, 4).map(str) | st.sampled_from(["abc", "1.5", "007", ""])
DELAYS = st.sampled_from([None, None, "0", "0.01", "1e-3", "0", "soon", "", "-1"])  # -1: the shipped app answers 500
REPORTS = st.builds(
    lambda tenant, delay: f"/report/{tenant}" + ("" if delay is None else f"?delay={delay}"), TENANTS, DELAYS
)
REQUESTS = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["GET"] * 5 + ["POST", "HEAD", "DELETE"]),
        "path": REPORTS | REPORTS | st.sampled_from(["/ping", "/ping/", "/report", "/reports/1", "/", "/nowhere"]),
    }
)


@graded(NAME, points=1, promises=["same-responses", "legacy-report"], unhappy=True)
async def test_make_fixed_app_answers_generated_requests_as_the_task_says(submission, reference):
    """On generated requests (both routes, other methods and paths, tenants and delays of every kind), the answers are
    the shipped app's, and legacy_report runs off the loop."""
    await require(submission, NAME, kind="function")

    async def batch(side, requests):  # one app for all of them: the answers keep no state
        return await probe(side, NAME, "lesson04.report_app_answers", defined(NAME), requests)

    await same_as_reference(
        submission,
        reference,
        NAME,
        REQUESTS,
        batch=batch,
        examples=30,
        promise={
            "status": "same-responses",
            "content_type": "same-responses",
            "json": "same-responses",
            # the arguments it got (the delay, defaulted or passed on) and its thread
            "legacy_report calls": ["same-responses", "legacy-report"],
        },
    )
