"""Hidden tests for `make_fast_app`: the slow endpoint's exact answers (its speed: test_speed.py)."""

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import probe, require, same_as_reference

pytestmark = pytest.mark.anyio
NAME = "make_fast_app"
PATHS = [
    "/tenants/1/invoices",
    "/tenants/2/invoices",
    "/tenants/3/invoices?status=paid",
    "/tenants/1/invoices?status=draft",
    "/tenants/2/invoices?status=void",
    "/tenants/4/invoices",
    "/tenants/99/invoices",
    "/tenants/1/invoices?status=unknown",
    "/tenants/1/invoices?status=",
    "/tenants/abc/invoices",
    "/tenants/3/invoices",
    "/tenants/1/invoices",
]  # some asked twice: a cache must not mix answers up


async def answers(submission, factory):
    return await probe(submission, NAME, "lesson06.answers", defined(factory), PATHS)


@graded(NAME, points=3, promises=["same-answers", "empty-and-422", "repeated"], unhappy=True)
async def test_same_answers_as_the_slow_app(submission):
    """Every request gets the slow app's status, content-type and JSON body."""
    await require(submission, NAME, kind="function")
    mine, theirs = await answers(submission, NAME), await answers(submission, "make_slow_app")
    for number, (path, got, wanted) in enumerate(zip(PATHS, mine, theirs, strict=True)):
        promises = (
            ["repeated"]
            if path in PATHS[:number]
            else ["empty-and-422"]
            if wanted["status"] != 200 or wanted["body"] == []
            else ["same-answers"]
        )
        raised = got["body"].get("$raised") if isinstance(got["body"], dict) else None
        expect(
            got["status"] == wanted["status"],
            f"GET {path} answered {got['status']}"
            + (f" (your app raised {raised})" if raised else "")
            + f", the slow app {wanted['status']}. Keep the endpoint's path, "
            "parameters and their types as they are: FastAPI's 422 depends on them.",
            promises=promises,
        )
        expect(
            got["content_type"] == wanted["content_type"],
            f"GET {path} answered with content-type {got['content_type']!r}, "
            f"the slow app with {wanted['content_type']!r}.",
            promises=promises,
        )
        expect(
            got["body"] == wanted["body"],
            f"GET {path}: the JSON body differs from the slow app's (the same invoices, in the same order, with the "
            "same keys and values).",
            promises=promises,
        )


@graded(NAME, points=1, promises=["own-app"], unhappy=True)
async def test_an_app_made_after_new_rows_answers_from_them(submission):
    """Each call makes an app of its own: one made after INVOICE_ROWS changed answers from the new rows, as the slow app
    does."""
    await require(submission, NAME, kind="function")
    got = await probe(
        submission,
        NAME,
        "lesson06.answers_from_new_rows",
        defined(NAME),
        defined("make_slow_app"),
        defined("INVOICE_ROWS"),
        PATHS,
    )
    for path, mine, theirs in zip(PATHS, got["fast"], got["slow"], strict=True):
        expect(
            mine == theirs,
            f"GET {path}, asked of an app made after INVOICE_ROWS changed, did not get the slow app's answer, "
            "which reads the rows as they are now. Each call of make_fast_app() should make a new app that "
            "keeps its own state (the FastAPI app, its validated invoices, its cached answers), made from the "
            "rows as they are when it is made, not kept at the top of the cell where every app shares it.",
        )


TENANTS = st.integers(-1, 6).map(str) | st.sampled_from(["abc", "1.5", "007"])
STATUSES = st.none() | st.sampled_from(["draft", "sent", "paid", "void", "unknown", "PAID", ""])
REQUESTS = st.builds(
    lambda tenant, status: f"/tenants/{tenant}/invoices" + ("" if status is None else f"?status={status}"),
    TENANTS,
    STATUSES,
)


@graded(NAME, points=1, promises=["same-answers", "empty-and-422", "repeated"], unhappy=True)
async def test_generated_requests_get_the_slow_apps_answers(submission, reference):
    """On generated requests (tenants known and unknown, every status, repeats), each answer is the slow app's."""
    await require(submission, NAME, kind="function")

    async def batch(side, paths):  # one app for all of them: a cache must not mix answers up
        return await probe(side, NAME, "lesson06.answers", defined(NAME), paths)

    await same_as_reference(
        submission,
        reference,
        NAME,
        REQUESTS,
        batch=batch,
        examples=40,
        promise=["same-answers", "empty-and-422", "repeated"],
    )
