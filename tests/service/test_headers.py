"""The security headers (``headers``) on every kind of response the web app sends: the page,
its files, JSON, errors, a download and a progress stream."""

from __future__ import annotations

import httpx
import pytest
from asgi_lifespan import LifespanManager

from autograder.service.app import create_app
from autograder.service.headers import HEADERS
from autograder.service.tokens import token_hash
from autograder.types import SubmissionResult

from .graded_class import store_result

pytestmark = pytest.mark.anyio


async def test_every_response_carries_the_security_headers(settings, people):
    app = create_app(settings)
    prof, alice = people.header(people.prof), people.header(people.alice)
    async with LifespanManager(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
            store = app.state.store
            graded = SubmissionResult(submission="alice", path="", lesson="01_asgi_by_hand")
            finished = await store_result(store, await store.learner_by_token(token_hash(people.alice)), graded)
            answers = [
                await client.get("/instructor"),
                await client.get("/instructor/instructor.js"),
                await client.get("/instructor/instructor.css"),
                await client.get("/instructor/nope"),
                await client.get("/api/health"),
                await client.get("/api/instructor/class"),  # 401
                await client.get("/api/instructor/grades.csv", headers=prof),
                await client.get(f"/api/submissions/{finished}/events", headers=alice),  # a stream
                await client.post("/api/submissions", content=b"[", headers=alice),
            ]  # 422
    assert [answer.status_code for answer in answers] == [200, 200, 200, 404, 200, 401, 200, 200, 422]
    for answer in answers:
        for name, value in HEADERS.items():
            assert answer.headers.get(name) == value, (answer.request.url, name)
    policy = dict(part.strip().split(" ", 1) for part in HEADERS["content-security-policy"].split(";"))
    assert policy["script-src"] == "'self'" and "unsafe-inline" not in HEADERS["content-security-policy"]
    assert policy["frame-ancestors"] == "'none'"


def test_the_page_has_no_inline_script_or_style_the_policy_would_block():
    """The browser test (tests/browser/test_instructor_page.py) runs the page under the policy;
    this says why it would fail, should someone add an inline script, style or handler."""
    import re
    from importlib import resources

    page = resources.files("autograder.service").joinpath("static", "instructor.html").read_text()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []  # every script is a file
    assert "<style" not in page and not re.findall(r"<[^>]+\s(style|on[a-z]+)=", page)
