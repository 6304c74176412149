"""The web app in-process (ASGI transport, real SQLite, real Redis, no worker): every answer
a learner or an instructor can get before grading, bad input and abuse included."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import httpx
import pytest
from asgi_lifespan import LifespanManager

from autograder.lessons import find_lesson
from autograder.service import progress, queue
from autograder.service.app import create_app

from .postgres import on_both_databases
from .service_processes import query

pytestmark = pytest.mark.anyio

SOLUTION = find_lesson("01").solution.read_bytes()


@pytest.fixture
async def client(settings, people):
    app = create_app(settings)
    async with LifespanManager(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
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


@pytest.mark.parametrize(("body", "says"), [
    (b"print('hello')", "not valid JSON"),
    (b'{"cells": "no"}', "no list of cells"),
    (json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}).encode(), "none of its exercise cells"),
])
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
    for path in ("/api/instructor/class", "/api/instructor/grades.csv", "/api/instructor/gradescope.zip"):
        assert (await client.get(path, headers=people.header(people.alice))).status_code == 403
        assert (await client.get(path, headers=people.header(people.prof))).status_code == 200
    assert (await client.post("/api/instructor/regrade/01_asgi_by_hand", headers=people.header(people.bob))).status_code == 403
    unknown = await client.get("/api/instructor/class?lesson=99_nope", headers=people.header(people.prof))
    assert unknown.status_code == 404 and "01_asgi_by_hand" in unknown.json()["detail"]


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
            await store.finish(accepted["id"], "test-worker", status="done", score=1, max_score=1, result="{}",
                               feedback="Score: 1 / 1")
            progress.announce(broker.client, accepted["id"], "done")
            answer = await asyncio.wait_for(streamed, poll / 2)
            took = asyncio.get_running_loop().time() - started
    broker.close()
    events = [line.removeprefix("event: ") for line in answer.text.splitlines() if line.startswith("event: ")]
    assert events[-1] == "done" and set(events) <= {"queued", "running", "done"}, events
    assert took < poll / 2  # woken by the announcements, not by the fallback poll
