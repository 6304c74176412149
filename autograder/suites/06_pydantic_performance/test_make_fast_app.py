"""Hidden tests for `make_fast_app`: the slow endpoint's exact answers, at least twice as fast."""

import pytest

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import probe, require, speedup

pytestmark = pytest.mark.anyio
NAME = "make_fast_app"
NEEDED = 2.0
SPEED_PATH = "/tenants/1/invoices"
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


@graded(NAME, points=2)
async def test_fast_app_speed(submission):
    """GET /tenants/1/invoices takes at most half the slow app's time, measured side by side."""
    await require(submission, NAME, kind="function")

    async def measure():
        return await probe(submission, NAME, "lesson06.app_speed", defined("make_slow_app"), defined(NAME), SPEED_PATH)

    faster = await speedup(measure, "slow", "fast", needed=NEEDED)
    expect(faster >= NEEDED,
           f"Your app answered GET {SPEED_PATH} only {faster:.2f} times as fast as the slow one; it should be at least "
           f"{NEEDED:g} times as fast. Which work is the same on every request, and which way of answering skips "
           "FastAPI's own encoding?")
