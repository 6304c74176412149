"""Grading a learner's own tests: requests and verdicts cross as plain data, one sandbox per run."""

import pytest

from autograder.jail import Jail
from autograder.learner_tests import (
    RequestRefused,
    as_request,
    hunt,
    run_tests,
    verdict_of,
)
from autograder.pool import Sandboxes
from autograder.types import Cell, Limits
from coursekit.invoice_api import Rules, make_invoice_app

pytestmark = pytest.mark.anyio
FAST = Limits(cell_seconds=5, call_seconds=3)
ALICE = '{"Authorization": "Bearer alice-token"}'


class TotalIgnoresQuantity(Rules):
    def line_total(self, line):
        return line.unit_cents


def sandboxes(source: str) -> Sandboxes:
    return Sandboxes([Cell("tests", source, "exercise")], FAST, Jail())


async def run_once(source: str, make_app=make_invoice_app):
    pool = sandboxes(source)
    async with pool.separate() as submission:
        return await run_tests(submission, make_app)


TOTAL_TEST = f"""
async def test_total(client):
    created = await client.post("/invoices", headers={ALICE}, json={{"customer": "c", "lines": [
        {{"description": "x", "quantity": 2, "unit_cents": 150}}]}})
    assert created.json()["total_cents"] == 300
"""


async def test_each_test_gets_a_verdict_in_order():
    run = await run_once(
        TOTAL_TEST
        + """
def test_sync_without_client():
    pass

async def test_raises(client):
    raise KeyError("x")

async def test_asks_for_more(client, db):
    pass

def helper_not_a_test(client):
    raise AssertionError
"""
    )
    assert list(run.verdicts) == ["test_total", "test_sync_without_client", "test_raises", "test_asks_for_more"]
    assert [v["outcome"] for v in run.verdicts.values()] == ["passed", "passed", "failed", "failed"]
    assert run.verdicts["test_raises"]["error"] == "KeyError"
    assert run.verdicts["test_asks_for_more"]["error"] == "UnknownFixture"
    assert not run.passed and run.failed == ["test_raises", "test_asks_for_more"]


async def test_a_variant_is_caught_only_by_honest_tests():
    pool = sandboxes(TOTAL_TEST)
    variants = {"total": lambda: make_invoice_app(rules=TotalIgnoresQuantity()), "same": make_invoice_app}
    found = await hunt(pool.separate, make_invoice_app, variants)
    assert found.honest and found.caught("total") and not found.caught("same")
    assert len(found.correct) == 2

    always_fails = sandboxes("async def test_no(client):\n    assert False\n")
    found = await hunt(always_fails.separate, make_invoice_app, variants)
    assert not found.honest and not found.caught("total")
    assert found.variants["total"].verdicts == {}  # the variants were not even run


async def test_no_state_survives_from_one_run_to_the_next():
    marker = """
import os
async def test_first_time(client):
    mark = os.path.join(os.environ["HOME"], "mark")
    assert not os.path.exists(mark)
    open(mark, "w").close()
"""
    found = await hunt(sandboxes(marker).separate, make_invoice_app, {"same": make_invoice_app})
    assert found.honest and not found.caught("same")


async def test_a_crash_fails_the_test_and_those_after_it():
    run = await run_once("""
import os
async def test_crashes(client):
    os._exit(3)

async def test_after(client):
    pass
""")
    assert run.verdicts["test_crashes"]["error"] == "SubmissionCrashed"
    assert run.verdicts["test_after"]["error"] == "NotRun"


async def test_the_app_answers_500_and_refuses_bad_requests():
    def broken_app():
        app = make_invoice_app()

        @app.get("/boom")
        async def boom():
            raise RuntimeError("inside the app")

        return app

    run = await run_once(
        """
import httpx, pytest
async def test_boom_is_a_500(client):
    assert (await client.get("/boom")).status_code == 500

async def test_elsewhere_is_refused(client):
    with pytest.raises(httpx.TransportError):
        await client.get("http://elsewhere.example/")
""",
        broken_app,
    )
    assert run.passed, run.verdicts


def test_requests_are_read_field_by_field():
    good = {"method": "GET", "url": "http://test/x", "headers": [[b"a", b"b"]], "body": b""}
    assert as_request(good).url.path == "/x"
    for bad in (
        {**good, "method": "GE T"},
        {**good, "url": "http://other/x"},
        {**good, "headers": [["a", "b"]]},
        {**good, "body": "text"},
        ["GET"],
    ):
        with pytest.raises(RequestRefused):
            as_request(bad)


def test_only_a_plain_passed_passes():
    assert verdict_of({"outcome": "passed", "extra": 1})["outcome"] == "passed"
    for forged in ({"outcome": "PASSED"}, {"outcome": ["passed"]}, "passed", None, {"error": 3}):
        assert verdict_of(forged)["outcome"] == "failed"
