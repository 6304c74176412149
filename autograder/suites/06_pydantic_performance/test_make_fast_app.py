"""Hidden tests for `make_fast_app`: the slow endpoint's exact answers (its speed: test_speed.py)."""

import pytest

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import probe, require

pytestmark = pytest.mark.anyio
NAME = "make_fast_app"
PATHS = ["/tenants/1/invoices", "/tenants/2/invoices", "/tenants/3/invoices?status=paid",
         "/tenants/1/invoices?status=draft", "/tenants/2/invoices?status=void", "/tenants/4/invoices",
         "/tenants/99/invoices", "/tenants/1/invoices?status=unknown", "/tenants/abc/invoices",
         "/tenants/3/invoices", "/tenants/1/invoices"]  # some asked twice: a cache must not mix answers up


async def answers(submission, factory):
    return await probe(submission, NAME, "lesson06.answers", defined(factory), PATHS)


@graded(NAME, points=3)
async def test_same_answers_as_the_slow_app(submission):
    """Every request gets the slow app's status, content-type and JSON body."""
    await require(submission, NAME, kind="function")
    mine, theirs = await answers(submission, NAME), await answers(submission, "make_slow_app")
    for path, got, wanted in zip(PATHS, mine, theirs):
        expect(got["status"] == wanted["status"],
               f"GET {path} answered {got['status']}, the slow app {wanted['status']}. Keep the endpoint's path, "
               "parameters and their types as they are: FastAPI's 422 depends on them.")
        expect(got["content_type"] == wanted["content_type"],
               f"GET {path} answered with content-type {got['content_type']!r}, the slow app with {wanted['content_type']!r}.")
        expect(got["body"] == wanted["body"],
               f"GET {path}: the JSON body differs from the slow app's (the same invoices, in the same order, with the "
               "same keys and values).")
