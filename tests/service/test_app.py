"""The web app in-process (ASGI transport, real SQLite, real Redis, no worker): every answer
a learner or an instructor can get before grading, bad input and abuse included."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

import httpx
import pytest
from asgi_lifespan import LifespanManager

from autograder.lessons import find_lesson
from autograder.service import progress, queue
from autograder.service.app import create_app
from autograder.service.tokens import token_hash
from autograder.types import SubmissionResult
from autograder.types import TestResult as Outcome

from .graded_class import store_result
from .postgres import on_both_databases
from .service_processes import in_process, query

pytestmark = pytest.mark.anyio

SOLUTION = find_lesson("01").solution.read_bytes()


@pytest.fixture
async def client(settings, people):
    app = create_app(settings)
    async with in_process(app) as client:
        client.app = app
        yield client


def rows(settings) -> int:
    return query(settings, "SELECT count(*) FROM submissions")[0][0]


async def post(client, token, body=SOLUTION, **headers):
    return await client.post("/api/submissions", content=body, headers={"Authorization": f"Bearer {token}", **headers})


async def test_an_upload_is_stored_and_queued_before_its_202(client, settings, people):
    answer = await post(client, people.alice)
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert accepted["status"] == "queued" and accepted["lesson"] == "01_asgi_by_hand"
    assert answer.headers["location"] == accepted["status_url"] == f"/api/submissions/{accepted['id']}"
    assert rows(settings) == 1
    broker = queue.broker_for(settings)
    assert queue.waiting(broker) == 1
    broker.close()
    status = await client.get(accepted["status_url"], headers=people.header(people.alice))
    assert status.status_code == 200
    assert status.json()["status"] == "queued" and status.json()["ahead"] == 0


@pytest.mark.parametrize("authorization", [None, "Basic abc", "Bearer ", "Bearer not-a-token"])
async def test_no_or_a_wrong_token_is_401_and_nothing_is_stored(client, settings, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    answer = await client.post("/api/submissions", content=SOLUTION, headers=headers)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert "token" in answer.json()["detail"]
    assert rows(settings) == 0


async def test_a_learner_reads_only_their_own_submissions(client, people):
    accepted = (await post(client, people.alice)).json()
    by_bob = await client.get(accepted["status_url"], headers=people.header(people.bob))
    assert by_bob.status_code == 403 and "another learner" in by_bob.json()["detail"]
    by_prof = await client.get(accepted["status_url"], headers=people.header(people.prof))
    assert by_prof.status_code == 200 and by_prof.json()["learner"] == "alice"
    missing = await client.get("/api/submissions/nope", headers=people.header(people.alice))
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"print('hello')", "not valid JSON"),
        (b'{"cells": "no"}', "no list of cells"),
        (
            json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}).encode(),
            "none of its exercise cells",
        ),
    ],
)
async def test_what_is_not_a_lesson_notebook_is_422_with_what_to_do(client, settings, people, body, says):
    answer = await post(client, people.alice, body)
    assert answer.status_code == 422
    assert says in answer.json()["detail"]
    assert "Submit" in answer.json()["detail"]  # it says what to do
    assert rows(settings) == 0


async def test_an_upload_over_the_limit_is_413_whether_or_not_it_declares_its_length(settings, people):
    app = create_app(dataclasses.replace(settings, max_upload_bytes=1000))

    async def chunks():  # no Content-Length: the limit is enforced while reading
        for _ in range(10):
            yield b"x" * 500

    async with LifespanManager(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
            declared = await post(client, people.alice, b"x" * 5000)
            streamed = await post(client, people.alice, chunks())
    for answer in (declared, streamed):
        assert answer.status_code == 413
        assert "Clear the outputs" in answer.json()["detail"]
    assert rows(settings) == 0


@on_both_databases
async def test_too_many_submissions_a_minute_is_429_with_retry_after(settings, people):
    app = create_app(dataclasses.replace(settings, submissions_per_minute=2))
    async with LifespanManager(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
            first = await post(client, people.alice, **{"Idempotency-Key": "one"})
            await post(client, people.alice)
            refused = await post(client, people.alice)
            replayed = await post(client, people.alice, **{"Idempotency-Key": "one"})  # a retry is not a new one
            by_bob = await post(client, people.bob)  # the limit is per learner
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert f"in {refused.headers['retry-after']} s" in refused.json()["detail"]
    assert replayed.status_code == 202 and replayed.json()["id"] == first.json()["id"]
    assert by_bob.status_code == 202
    assert rows(settings) == 3


@on_both_databases
async def test_concurrent_uploads_from_one_token_get_exactly_the_limit_accepted(settings, people):
    limit, uploads = 4, 12
    app = create_app(dataclasses.replace(settings, submissions_per_minute=limit))
    async with LifespanManager(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
            answers = await asyncio.gather(*(post(client, people.alice) for _ in range(uploads)))
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [202] * limit + [429] * (uploads - limit)
    assert all(1 <= int(answer.headers["retry-after"]) <= 60 for answer in answers if answer.status_code == 429)
    # Nothing half-stored: one row and one message per 202, none for a 429.
    assert rows(settings) == limit
    broker = queue.broker_for(settings)
    assert queue.waiting(broker) == limit
    broker.close()


@on_both_databases
async def test_one_idempotency_key_makes_one_submission_even_when_retries_race(client, settings, people):
    answers = await asyncio.gather(*(post(client, people.alice, **{"Idempotency-Key": "k1"}) for _ in range(5)))
    assert {answer.status_code for answer in answers} == {202}
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert rows(settings) == 1
    other = await post(client, people.bob, **{"Idempotency-Key": "k1"})  # keys are per learner
    assert other.json()["id"] != answers[0].json()["id"]


async def test_instructor_views_are_for_instructors(client, people):
    for path in (
        "/api/instructor/class",
        "/api/instructor/grades.csv",
        "/api/instructor/gradescope.zip",
        "/api/instructor/lessons/01_asgi_by_hand",
        "/api/instructor/learners/1",
        "/api/instructor/queue",
    ):
        assert (await client.get(path, headers=people.header(people.alice))).status_code == 403
        assert (await client.get(path, headers=people.header(people.prof))).status_code == 200
    assert (
        await client.post("/api/instructor/regrade/01_asgi_by_hand", headers=people.header(people.bob))
    ).status_code == 403
    unknown = await client.get("/api/instructor/class?lesson=99_nope", headers=people.header(people.prof))
    assert unknown.status_code == 404 and "01_asgi_by_hand" in unknown.json()["detail"]


def lesson_01(name: str, passed: list[bool]) -> SubmissionResult:
    tests = [
        Outcome("test_index", "router_app", 1, 1, passed[0]),
        Outcome("test_not_found", "router_app", 2, 2, passed[1]),
        Outcome("test_echo", "echo_app", 1, 1, passed[2]),
    ]
    for test in tests:
        test.points = test.max_points if test.passed else 0
    result = SubmissionResult(submission=name, path="", lesson="01_asgi_by_hand", tests=tests)
    result.score, result.max_score = sum(test.points for test in tests), 4
    return result


async def test_the_instructor_api_gives_a_lesson_a_learner_and_the_queue(client, people):
    """The JSON behind the page's three views, for scripts, on a class worked out by hand."""
    store, prof = client.app.state.store, people.header(people.prof)
    alice, bob = [await store.learner_by_token(token_hash(token)) for token in (people.alice, people.bob)]
    now = time.time()
    first = await store_result(store, alice, lesson_01("alice", [True, False, False]), at=now - 3 * 3600, seconds=4)
    latest = await store_result(store, alice, lesson_01("alice", [True, True, True]), at=now - 3600, seconds=2)
    await store_result(store, bob, lesson_01("bob", [True, False, True]), at=now - 3600 + 60, seconds=10)
    await store_result(store, bob, lesson_01("bob", [True, True, True]).not_graded("no sandbox"), status="error")
    await store.accept(bob, "01_asgi_by_hand", b"{}", None, per_minute=100)  # waiting

    lesson = (await client.get("/api/instructor/lessons/01_asgi_by_hand", headers=prof)).json()
    assert (lesson["learners"], lesson["max_score"], lesson["mean"]) == (2, 4, 3)  # latest: 4 and 2
    assert [each["count"] for each in lesson["histogram"] if each["count"]] == [1, 1]
    assert {each["exercise"]: each["full_marks"] for each in lesson["exercises"]} == {"router_app": 0.5, "echo_app": 1}
    assert next((each["test"], each["rate"]) for each in lesson["tests"]) == ("test_not_found", 0.5)  # hardest first
    assert all(each["discrimination"] is None for each in lesson["tests"])  # two learners say nothing yet

    view = (await client.get(f"/api/instructor/learners/{alice.id}?lesson=01_asgi_by_hand", headers=prof)).json()
    assert view["learner"] == "alice" and view["feedback"]["submission"] == latest
    assert view["feedback"]["text"].startswith("# Feedback for alice") and "Score: 4 / 4" in view["feedback"]["text"]
    assert [(each["submission"], each["score"]) for each in view["history"]] == [(latest, 4), (first, 1)]
    assert view["history"][0]["graded_at"] - view["history"][0]["created_at"] == pytest.approx(2)
    assert (await client.get("/api/instructor/learners/999", headers=prof)).status_code == 404
    assert (await client.get(f"/api/instructor/learners/{bob.id}?lesson=99_nope", headers=prof)).status_code == 404

    queue_now = (await client.get("/api/instructor/queue?hours=24", headers=prof)).json()
    assert queue_now["counts"] == {"queued": 1, "running": 0, "done": 3, "failed": 0, "error": 1}
    assert len(queue_now["per_hour"]) == 24 and sum(each["count"] for each in queue_now["per_hour"]) == 5
    counts = [each["count"] for each in queue_now["per_hour"]]
    assert counts[-4:-2] == [1, 0] and counts[-2] + counts[-1] == 4  # 3 h ago; then two an hour ago and two now
    assert queue_now["median_seconds_to_feedback"] == pytest.approx(3, abs=0.5)  # of 4, 2, 10 and the error's ~0
    [error] = queue_now["grader_errors"]
    assert error["learner"] == "bob" and "no sandbox" in error["reason"]
    assert (await client.get("/api/instructor/queue?hours=0", headers=prof)).status_code == 422


async def test_the_page_serves_its_own_stylesheet_and_script_and_nothing_else(client):
    page = (await client.get("/instructor")).text
    assert 'href="/instructor/instructor.css"' in page and 'src="/instructor/instructor.js"' in page
    assert "//" not in page.replace("http://www.w3.org", "")  # no CDN: the course runs offline
    css = await client.get("/instructor/instructor.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert (await client.get("/instructor/instructor.js")).headers["content-type"].startswith("text/javascript")
    for other in ("app.py", "..%2Fapp.py", "instructor.html"):
        assert (await client.get(f"/instructor/{other}")).status_code == 404


async def test_only_a_hash_of_each_token_is_stored(client, settings, people):
    stored = b"".join(path.read_bytes() for path in settings.folder.iterdir())  # the WAL too
    assert b"alice" in stored  # the learners are there
    for token in (people.alice, people.bob, people.prof):
        assert token.encode() not in stored


async def test_progress_arrives_when_a_worker_announces_it_not_by_polling(settings, people):
    poll = 120.0  # the streams' fallback: far longer than this test may take
    app = create_app(dataclasses.replace(settings, progress_poll_seconds=poll))
    broker = queue.broker_for(settings)
    async with LifespanManager(app):
        await asyncio.wait_for(app.state.progress.subscribed.wait(), 30)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
            accepted = (await post(client, people.alice)).json()
            started = asyncio.get_running_loop().time()
            # ASGITransport hands the response back once the stream has ended, i.e. once graded.
            streamed = asyncio.create_task(client.get(accepted["events_url"], headers=people.header(people.alice)))
            store = app.state.store
            await asyncio.sleep(1)
            await store.claim(accepted["id"], "test-worker", 60)  # as a worker does: claim, announce
            progress.announce(broker.client, accepted["id"], "running")
            await asyncio.sleep(1)
            await store.finish(
                accepted["id"], "test-worker", status="done", score=1, max_score=1, result="{}", feedback="Score: 1 / 1"
            )
            progress.announce(broker.client, accepted["id"], "done")
            answer = await asyncio.wait_for(streamed, poll / 2)
            took = asyncio.get_running_loop().time() - started
    broker.close()
    events = [line.removeprefix("event: ") for line in answer.text.splitlines() if line.startswith("event: ")]
    assert events[-1] == "done" and set(events) <= {"queued", "running", "done"}, events
    assert took < poll / 2  # woken by the announcements, not by the fallback poll


@on_both_databases
async def test_a_key_reused_for_a_different_notebook_is_422_and_the_first_stays(client, settings, people):
    """The IETF httpapi Idempotency-Key draft: another payload under a used key SHOULD get 422."""
    key = {"Idempotency-Key": "week-1"}
    first = await post(client, people.alice, **key)
    changed = SOLUTION.replace(b'"cells"', b'"cells" ', 1)  # the same lesson, edited
    reused = await post(client, people.alice, changed, **key)
    retried = await post(client, people.alice, **key)
    assert reused.status_code == 422
    assert first.json()["id"] in reused.json()["detail"] and "new key" in reused.json()["detail"]
    assert retried.status_code == 202 and retried.json()["id"] == first.json()["id"]
    assert rows(settings) == 1
    fresh = await post(client, people.alice, changed, **{"Idempotency-Key": "week-1b"})
    assert fresh.status_code == 202 and rows(settings) == 2


async def test_an_idempotency_key_longer_than_the_limit_is_refused_saying_the_limit(client, settings, people):
    from autograder.service.store import MAX_KEY_LENGTH

    at_limit = await post(client, people.alice, **{"Idempotency-Key": "k" * MAX_KEY_LENGTH})
    over = await post(client, people.alice, **{"Idempotency-Key": "k" * 60_000})
    assert at_limit.status_code == 202
    assert over.status_code == 400
    assert f"at most {MAX_KEY_LENGTH}" in over.json()["detail"] and "60000" in over.json()["detail"]
    assert rows(settings) == 1


async def test_health_answers_anyone_briefly_and_the_instructor_with_counts(client, people):
    anyone = await client.get("/api/health")
    assert anyone.status_code == 200 and anyone.json() == {"ok": True, "broker": "up"}
    assert "counts" not in (await client.get("/api/health", headers=people.header(people.alice))).json()
    prof = await client.get("/api/health", headers=people.header(people.prof))
    assert prof.json()["counts"] == {"queued": 0, "running": 0, "done": 0, "failed": 0, "error": 0}
    assert (await client.get("/api/health", headers={"Authorization": "Bearer nope"})).status_code == 401


async def test_health_says_so_while_the_broker_is_down(settings, people):
    from coursekit.processes import free_port

    down = dataclasses.replace(settings, broker_url=f"redis://127.0.0.1:{free_port()}/0")  # nothing listens
    app = create_app(down)
    async with LifespanManager(app):  # it starts without its broker: uploads are stored meanwhile
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
            health = await client.get("/api/health")
            accepted = await post(client, people.alice)
    assert health.status_code == 503 and health.json() == {"ok": False, "broker": "down"}
    assert accepted.status_code == 202 and rows(settings) == 1  # stored; the sweeper sends it later


HOSTILE = (
    "<script>window.pwned = 1</script> \\<img src=x onerror=alert(1)> [look](javascript:alert(1)) ![](http://x/t.png)"
)


async def test_learner_text_in_served_feedback_renders_as_text_not_html(client, people):
    """A learner's name and the messages quoting their code go into the feedback's Markdown;
    rendered as nbconvert renders Markdown (mistune, raw HTML allowed), they are text, the same
    text, and no tag, link or image."""
    import html
    import re

    import mistune

    from autograder.types import CellReport

    store = client.app.state.store
    alice = await store.learner_by_token(token_hash(people.alice))
    result = lesson_01(f"alice {HOSTILE}", [True, False, True])
    result.tests[1].feedback = f"your app answered {HOSTILE}; a < b and <= stay as they are"
    result.cells = [CellReport("router_app", "error", f"RuntimeError: {HOSTILE}")]
    result.problems = [f"cell `router_app` raised RuntimeError: {HOSTILE}"]
    submission = await store_result(store, alice, result)
    feedback = (await client.get(f"/api/submissions/{submission}", headers=people.header(people.alice))).json()[
        "feedback"
    ]
    rendered = mistune.create_markdown(escape=False)(feedback)
    assert not re.findall(r"<(script|img|a)\b", rendered), rendered
    text = html.unescape(re.sub(r"<[^>]+>", "", rendered))
    assert text.count(HOSTILE) == 3 and "a < b and <= stay as they are" in text  # read as written
