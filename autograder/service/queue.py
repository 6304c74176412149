"""The job queue: Dramatiq (lesson 05's queue library) on Redis, carrying submission ids.

A message is only an id; the database row is the job (``store``). Dramatiq gives the rest:

- a message stays in the broker until its worker **acknowledges it after** the job ends, so a
  worker killed mid-job leaves it unacknowledged; when that worker's heartbeat is older than
  ``heartbeat_ms``, the broker puts its messages back on the queue for another worker;
- a job that raises is **retried** with backoff (``LeaseHeld``: another worker holds it).

Each worker process runs one job at a time (a submission's grading already uses a core) and
fetches one message at a time, so a worker's death puts back one message, not a batch.
"""

from __future__ import annotations

import asyncio
import signal
import threading

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from .settings import Settings

QUEUE = "grading"
ACTOR = "grade_submission"
# While its one job runs, a worker's consumer holds as many messages as it may (one) and sleeps
# between looks with a backoff that grows up to Dramatiq's worker timeout (1 s by default, with
# jitter): the next job then started up to a second after the last one ended, about a third of a
# lesson-01 grading on average (the service graded 0.73 as fast as `autograder grade`). A look
# while it holds a message is a sleep, not a call to the broker; an idle worker asks Redis this
# often.
IDLE_POLL_MS = 50


def broker_for(settings: Settings) -> RedisBroker:
    broker = RedisBroker(
        url=settings.broker_url, heartbeat_timeout=settings.heartbeat_ms, maintenance_chance=settings.maintenance_chance
    )
    broker.declare_queue(QUEUE)
    return broker


def send(broker: RedisBroker, submission_id: str) -> None:
    """Enqueue a submission (no actor needed here: the web app only sends)."""
    broker.enqueue(dramatiq.Message(queue_name=QUEUE, actor_name=ACTOR, args=(submission_id,), kwargs={}, options={}))


def waiting(broker: RedisBroker) -> int:
    """Messages on the queue that no worker has fetched yet."""
    return broker.client.llen(f"{broker.namespace}:{QUEUE}")


def answers(url: str) -> bool:
    """Whether the broker at ``url`` answers a PING within a second (a client of its own, with
    timeouts: Dramatiq's has none, and a health check must not hang on a broker that does)."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def workers_alive(broker: RedisBroker) -> int:
    """Worker processes whose heartbeat the broker holds: each beats once it fetches messages
    (after its start-up), and a dead one's beat stays until the broker's maintenance drops it."""
    return broker.client.zcard(f"{broker.namespace}:__heartbeats__")


def run_worker(settings: Settings) -> None:
    """One worker process: grade submissions until SIGTERM or SIGINT (the job in hand finishes)."""
    from . import progress
    from .grading import Grader, LeaseHeld  # the grader's imports are the worker's alone
    from .store import Store

    broker = broker_for(settings)
    store = Store.connect(settings.database, pooled=False)  # each job runs in an event loop of its own
    grader = Grader(
        settings, store, lambda submission_id, status: progress.announce(broker.client, submission_id, status)
    )

    def grade_submission(submission_id: str) -> None:
        outcome = asyncio.run(grader.handle(submission_id))
        print(f"{grader.name}: {submission_id} {outcome}", flush=True)

    lease_ms = int(settings.lease_seconds * 1000)

    def retry_when(retries: int, error: Exception) -> bool:
        return isinstance(error, LeaseHeld) or retries < 5

    dramatiq.actor(
        broker=broker,
        actor_name=ACTOR,
        queue_name=QUEUE,
        max_retries=100,
        min_backoff=500,
        max_backoff=lease_ms,
        retry_when=retry_when,
        time_limit=10 * 60 * 1000,
    )(grade_submission)
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=IDLE_POLL_MS)
    worker.queue_prefetch = 1
    stopping = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stopping.set())
    worker.start()
    print(f"worker {grader.name} ready (grading in {grader.scratch})", flush=True)
    stopping.wait()
    worker.stop()
    broker.close()
