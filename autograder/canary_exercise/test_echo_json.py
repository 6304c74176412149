"""The canary exercise's hidden suite: `echo_json`, whose known answer is in canary.ipynb."""

import httpx
import pytest

from autograder.expect import expect, graded
from autograder.submission import Submission

pytestmark = pytest.mark.anyio
NAME = "echo_json"


@graded(NAME, points=1)
async def test_is_defined_as_an_async_function(submission: Submission) -> None:
    """The cells ran in the sandbox and defined the app."""
    described = await submission.describe(NAME)
    expect(described["defined"] and described["kind"] == "async function", "Define `echo_json` as an async function.")


@graded(NAME, points=2)
async def test_answers_a_request_through_the_pipe(submission: Submission) -> None:
    """A POST with a body gets 200 and JSON naming its method, path and body length."""
    transport = httpx.ASGITransport(app=submission.asgi(NAME))
    async with httpx.AsyncClient(transport=transport, base_url="http://canary") as http:
        response = await http.post("/known/answer", content=b"canary" * 2)
    expect(response.status_code == 200, "Answer with status 200.")
    expect(
        response.json() == {"method": "POST", "path": "/known/answer", "length": 12},
        "Answer with the request's method, path and body length as JSON.",
    )
