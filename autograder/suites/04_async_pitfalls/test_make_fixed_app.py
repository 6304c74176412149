"""Hidden tests for `make_fixed_app`: the shipped app's responses, without holding the loop.

Both apps are made in the sandbox: `make_blocking_app` (a setup cell, trusted) is the
reference for every response, and the learner's app must answer the same. Then a cheap
request is timed while a slow report runs, against the idle time measured just before
(see `autograder.suitekit.responsiveness`).
"""

import httpx
import pytest

from autograder.expect import expect, graded
from autograder.suitekit import make, require, responsiveness

pytestmark = pytest.mark.anyio
NAME = "make_fixed_app"
PATHS = ["/ping", "/report/1?delay=0", "/report/2?delay=0.01", "/report/4?delay=0", "/report/99?delay=0",
         "/report/2", "/report/abc?delay=0", "/report/1?delay=soon", "/nowhere"]


def client_for(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                             base_url="http://testserver", timeout=10)


@graded(NAME, points=1.5)
async def test_make_fixed_app_answers_like_the_shipped_app(submission):
    """Every route answers with the same status and JSON as make_blocking_app's."""
    await require(submission, NAME, kind="function")
    ours = submission.asgi(await make(submission, NAME, "make_blocking_app"), label="make_blocking_app()")
    theirs = submission.asgi(await make(submission, NAME, NAME), label=f"{NAME}()")
    async with client_for(ours) as reference, client_for(theirs) as http:
        for path in PATHS:
            wanted, got = await reference.get(path), await http.get(path)
            expect(got.status_code == wanted.status_code,
                   f"GET {path.split('?')[0]} answered {got.status_code}, where the shipped app answers "
                   f"{wanted.status_code}: keep the same routes and parameters.")
            expect(got.headers.get("content-type") == wanted.headers.get("content-type") and got.json() == wanted.json(),
                   f"GET {path.split('?')[0]} should answer exactly what the shipped app answers "
                   "(the report is what legacy_report returns).")


@graded(NAME, points=2.5)
async def test_make_fixed_app_keeps_ping_fast_during_a_report(submission):
    """While a slow report is computed, GET /ping still answers about as fast as when idle."""
    await require(submission, NAME, kind="function")
    app = submission.asgi(await make(submission, NAME, NAME), label=f"{NAME}()")
    async with client_for(app) as http:
        result = await responsiveness(http, "/report/3?delay=0.8")
    expect(result.slow_status == 200, f"GET /report/3?delay=0.8 answered {result.slow_status}, not 200.")
    expect(result.busy >= 0.7, "A report with ?delay=0.8 should take about 0.8 s: pass `delay` on to legacy_report.")
    expect(result.responsive,
           f"Your report endpoint still holds the event loop: {result.describe()}. "
           "Run the blocking call somewhere else than on the loop.")
