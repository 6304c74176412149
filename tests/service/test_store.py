"""The claim, the lease and the conditional finish: what makes a job delivered twice, or
delivered again after its worker died, graded once; and the rate limit and idempotency key
decided where the row is inserted. Each test runs on a real SQLite and on a real PostgreSQL
(pgserver), no queue."""

from __future__ import annotations

import asyncio
import time

import pytest

from autograder.service.store import Accepted, Claim, Limited, Store

from .postgres import on_both_databases

pytestmark = [pytest.mark.anyio, on_both_databases]


@pytest.fixture
async def store(database):
    store = Store.connect(database)
    await store.create_tables()
    yield store
    await store.close()


@pytest.fixture
async def stored(store):
    learner = await store.add_learner("alice", "hash", False)
    accepted = await store.accept(learner, "01_asgi_by_hand", b"{}", None, per_minute=10)
    return store, accepted.submission.id


async def finish(store, submission_id, worker):
    return await store.finish(submission_id, worker, status="done", score=1, max_score=1, result="{}", feedback="")


async def test_one_claim_wins_and_a_finished_submission_is_not_claimed_again(stored):
    store, submission_id = stored
    claims = await asyncio.gather(*(store.claim(submission_id, f"w{n}", 60) for n in range(5)))
    assert claims.count(Claim.CLAIMED) == 1 and claims.count(Claim.HELD) == 4
    winner = f"w{claims.index(Claim.CLAIMED)}"
    assert await finish(store, submission_id, winner)
    assert await store.claim(submission_id, "late", 60) is Claim.FINISHED
    assert (await store.get(submission_id)).gradings == 1
    assert await store.claim("no-such-id", "w", 60) is Claim.GONE


async def test_a_dead_workers_lease_runs_out_and_its_late_result_is_not_written(stored):
    store, submission_id = stored
    assert await store.claim(submission_id, "dead", 0.2) is Claim.CLAIMED
    assert await store.claim(submission_id, "other", 60) is Claim.HELD  # the lease still stands
    deadline = time.monotonic() + 5
    while await store.claim(submission_id, "other", 60) is not Claim.CLAIMED:
        assert time.monotonic() < deadline, "the lease never ran out"
        await asyncio.sleep(0.05)
    assert not await finish(store, submission_id, "dead")  # it lost its claim
    assert not await store.renew(submission_id, "dead", 60)
    assert await finish(store, submission_id, "other")
    submission = await store.get(submission_id)
    assert (submission.attempts, submission.gradings, submission.status) == (2, 1, "done")


async def test_the_sweep_finds_what_was_never_sent_and_what_lost_its_worker(stored):
    store, submission_id = stored
    now = time.time()
    assert await store.unfinished(queued_before=now - 30, now=now) == [submission_id]  # never enqueued
    await store.mark_enqueued([submission_id])
    assert await store.unfinished(queued_before=time.time() - 30, now=time.time()) == []  # sent just now
    await store.claim(submission_id, "dead", 0.01)
    await asyncio.sleep(0.05)
    assert await store.unfinished(queued_before=time.time() - 30, now=time.time()) == [submission_id]


async def test_a_regrade_queues_the_finished_and_bumps_the_suite_version(stored):
    store, submission_id = stored
    await store.claim(submission_id, "w", 60)
    await finish(store, submission_id, "w")
    assert await store.suite_version("01_asgi_by_hand") == 0
    assert await store.regrade("01_asgi_by_hand") == [submission_id]
    assert await store.suite_version("01_asgi_by_hand") == 1
    assert (await store.get(submission_id)).status == "queued"
    assert await store.claim(submission_id, "w2", 60) is Claim.CLAIMED
    assert await store.regrade("01_asgi_by_hand") == []  # nothing finished to queue: it is being graded
    assert await store.suite_version("01_asgi_by_hand") == 2


async def test_the_rate_limit_holds_for_uploads_that_race(store):
    alice = await store.add_learner("alice", "hash", False)
    bob = await store.add_learner("bob", "hash-bob", False)
    answers = await asyncio.gather(
        *(store.accept(alice, "01_asgi_by_hand", b"{}", None, per_minute=3) for _ in range(8))
    )
    assert sum(isinstance(answer, Accepted) for answer in answers) == 3
    refused = [answer for answer in answers if isinstance(answer, Limited)]
    assert len(refused) == 5 and all(0 < answer.retry_after <= 60 for answer in refused)
    assert isinstance(await store.accept(bob, "01_asgi_by_hand", b"{}", None, per_minute=3), Accepted)  # per learner
    assert (await store.counts())["queued"] == 4  # nothing of the refused is stored


async def test_racing_retries_with_one_key_make_one_submission_even_at_the_limit(store):
    alice = await store.add_learner("alice", "hash", False)
    answers = await asyncio.gather(
        *(store.accept(alice, "01_asgi_by_hand", b"{}", "k1", per_minute=1) for _ in range(5))
    )
    assert [answer.created for answer in answers].count(True) == 1  # every other one is a replay, not a 429
    assert len({answer.submission.id for answer in answers}) == 1
    assert isinstance(await store.accept(alice, "01_asgi_by_hand", b"{}", "k2", per_minute=1), Limited)
