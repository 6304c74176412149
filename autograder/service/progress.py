"""Progress without polling: a worker announces each status change on the broker (Redis
pub/sub), and the web app's event streams wake on it instead of asking the database four
times a second.

    worker      announce(client, submission_id, "running")      one PUBLISH, fire and forget
    web app     progress = Progress(broker_url); await progress.start()
                change = progress.next_change()                  before reading the row ...
                await progress.wait(change, timeout)             ... so no change falls in between

One channel for the whole service, not one per submission: a learner's stream also shows how
many submissions are still ahead of theirs, which changes whenever any submission is claimed.
Each message wakes every open stream, which then reads its row once.

Pub/sub delivers only to whoever listens at that moment and keeps nothing, so it is a hint,
never the truth: every stream still reads the database when woken, and also every
``Settings.progress_poll_seconds`` (a broker restarting, a worker of an older version, a
missed message), so a lost message costs that delay and nothing else.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis

CHANNEL = "autograder:progress"
RECONNECT_SECONDS = 1.0
READ_SECONDS = 0.5  # the subscription's reads wait this long at most, so that stop() is prompt


def announce(client: redis.Redis, submission_id: str, status: str) -> None:
    """Tell the web apps that a submission's status changed (a sync Redis client: the worker's)."""
    try:
        client.publish(CHANNEL, f"{submission_id} {status}")
    except Exception as exc:  # a hint only: the streams find the change at their next poll
        print(f"progress: could not announce {submission_id} {status} ({type(exc).__name__}: {exc})", flush=True)


class Progress:
    """The web app's one subscription; every waiting stream wakes on each announcement."""

    def __init__(self, broker_url: str) -> None:
        self.broker_url = broker_url
        self.changed = asyncio.Event()  # replaced after each wake-up, so a waiter sees each change once
        self.listener: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()
        self.stopping = False

    async def start(self) -> None:
        self.listener = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        self.stopping = True
        if self.listener:
            self.listener.cancel()
            # redis-py's pub/sub read can swallow a cancellation; then the flag ends the loop
            # within one read's timeout.
            await asyncio.wait({self.listener}, timeout=READ_SECONDS + 5)

    def next_change(self) -> asyncio.Event:
        """Set at the next announcement: take it before reading the database, then ``wait``
        on it, so an announcement that comes while the row is read is not missed."""
        return self.changed

    async def wait(self, change: asyncio.Event, timeout: float) -> bool:
        """Until ``change`` (True) or ``timeout`` seconds (False)."""
        try:
            await asyncio.wait_for(change.wait(), timeout)
            return True
        except TimeoutError:
            return False

    def _wake(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    async def _listen(self) -> None:
        import redis.asyncio as redis

        while not self.stopping:
            client = redis.Redis.from_url(self.broker_url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self.subscribed.set()
                    while not self.stopping:
                        if await pubsub.get_message(ignore_subscribe_messages=True, timeout=READ_SECONDS):
                            self._wake()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker went away: the streams poll meanwhile
                self.subscribed.clear()
                if self.stopping:
                    return
                print(
                    f"progress: subscription lost ({type(exc).__name__}: {exc}); again in {RECONNECT_SECONDS:g} s",
                    flush=True,
                )
                await asyncio.sleep(RECONNECT_SECONDS)
            finally:
                await client.aclose()
