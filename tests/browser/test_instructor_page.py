"""The grading service's instructor page in a real (headless) Chromium: it asks for the
token, lists the class, plots the pass rates, downloads grades.csv, regrades a lesson, and
tells a learner's token that the page is not theirs."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json

import pytest

from autograder.service.app import create_app
from autograder.service.settings import Settings
from autograder.service.store import Store
from autograder.service.tokens import new_token, token_hash
from autograder.types import SubmissionResult
from autograder.types import TestResult as Outcome
from coursekit.processes import redis_server
from coursekit.serve import serve

from .chromium import chromium_page

pytestmark = pytest.mark.slow
LESSON = "01_asgi_by_hand"


def graded_class(settings: Settings, tokens: dict[str, str]) -> None:
    """Two learners graded, one test passed by both and one by alice alone (a worker's writes)."""

    async def fill() -> None:
        store = Store.connect(settings.database)
        await store.create_tables()
        for name, token in tokens.items():
            learner = await store.add_learner(name, token_hash(token), name == "prof")
            if name == "prof":
                continue
            result = SubmissionResult(submission=name, path="", lesson=LESSON, tests=[
                Outcome("test_index", "router_app", 1, 1, True),
                Outcome("test_not_found", "router_app", 2 if name == "alice" else 0, 2, name == "alice",
                           "" if name == "alice" else "answer 404 for an unknown path"),
            ])
            result.score, result.max_score = sum(t.points for t in result.tests), 3
            accepted = await store.accept(learner, LESSON, b"{}", None, per_minute=100)
            await store.claim(accepted.submission.id, "test-worker", 60)
            await store.finish(accepted.submission.id, "test-worker", status="done", score=result.score,
                               max_score=3, result=json.dumps(result.to_json()), feedback="")
        await store.close()

    # In its own thread: a worker process of the test run may hold the Lab's Playwright session,
    # whose event loop runs in the main thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, fill()).result()


def test_the_instructor_page_shows_the_class_exports_and_regrades(tmp_path):
    tokens = {"alice": new_token(), "bob": new_token(), "prof": new_token()}
    with redis_server() as broker:
        settings = Settings(data=str(tmp_path), broker_url=broker)
        graded_class(settings, tokens)
        with serve(create_app(settings)) as running, chromium_page() as page:
            page.goto(f"{running.url}/instructor")
            # A learner's token is refused with the service's own message.
            page.fill("#token", tokens["bob"])
            page.click("text=Show the class")
            page.wait_for_selector("#error:has-text('Only instructors')")
            assert page.is_hidden("#class")

            page.fill("#token", tokens["prof"])
            page.click("text=Show the class")
            page.wait_for_selector("#learners tbody tr")
            rows = page.locator("#learners tbody tr").all_inner_texts()
            assert sorted(row.split("\t")[:3] for row in rows) == [["alice", LESSON, "3 / 3"], ["bob", LESSON, "1 / 3"]]
            assert "2 graded, 0 queued" in page.inner_text("#counts")
            # The plot: one bar per hidden test, as long as its pass rate.
            widths = {bar.get_attribute("data-test"): float(bar.get_attribute("width"))
                      for bar in page.locator("#rates rect").all()}
            assert set(widths) == {"test_index", "test_not_found"}
            assert widths["test_not_found"] == pytest.approx(widths["test_index"] / 2)
            assert "50 % (1/2)" in page.locator("#rates").text_content()

            with page.expect_download() as download:
                page.click("text=Download grades.csv")
            lines = download.value.path().read_text().splitlines()
            assert lines[0] == "submission,lesson,score,max_score,router_app,problems,status,grader_error"
            assert sorted(lines[1:]) == [f"alice,{LESSON},3,3,3,0,graded,", f"bob,{LESSON},1,3,1,0,graded,"]
            with page.expect_download() as download:
                page.click("text=Download Gradescope results")
            assert download.value.suggested_filename == "gradescope.zip"

            page.select_option("#lesson", LESSON)
            page.click("#regrade")
            page.wait_for_selector(f"#regraded:has-text('2 submission(s) of {LESSON} queued again')")
