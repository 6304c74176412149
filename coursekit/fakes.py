"""Stand-ins for the outside world of lesson 04, which record what happened to them.

- ``FakeService``: outbound calls (an HTTP API, say) that take a while, succeed or fail,
  and record when each started, ended or was cancelled, and how many ran at once.
- ``SlowPool``: a connection pool whose ``release`` takes several awaits, as a real one
  does (it rolls back, pings, returns the connection), so a cancellation can land in it.

The notebook's self-checks and the grader's probes use the same fakes, so what a learner
sees and what is graded describe one behaviour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["FakeService", "SlowPool"]


class FakeService:
    """Outbound calls that record their fate. ``events`` is a list of (what, index) with
    what in "start", "end", "fail", "cancelled", in the order they happened."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.events: list[tuple[str, int]] = []

    def call(
        self, index: int, seconds: float, value: Any = None, error: type[BaseException] | None = None
    ) -> Callable[[], Awaitable[Any]]:
        """A function of no arguments that returns a coroutine: the call number ``index``,
        which takes ``seconds``, then returns ``value`` (or raises ``error``)."""

        async def outbound() -> Any:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.events.append(("start", index))
            try:
                await asyncio.sleep(seconds)
                if error is not None:
                    self.events.append(("fail", index))
                    raise error(f"call {index} failed")
                self.events.append(("end", index))
                return value
            except asyncio.CancelledError:
                self.events.append(("cancelled", index))
                raise
            finally:
                self.running -= 1

        return outbound

    def indices(self, what: str) -> list[int]:
        return [index for kind, index in self.events if kind == what]


class SlowPool:
    """A pool of connections named "conn-1", "conn-2", ...; giving one back takes
    ``release_seconds`` spread over several awaits."""

    def __init__(self, acquire_seconds: float = 0.0, release_seconds: float = 0.05, steps: int = 5) -> None:
        self.acquire_seconds = acquire_seconds
        self.release_seconds = release_seconds
        self.steps = steps
        self.given: list[str] = []
        self.release_calls: list[str] = []  # every call of release, finished or not
        self.released: list[str] = []  # the releases that ran to their end
        self.releasing = 0  # releases running now (one shielded from a cancel goes on after it)

    async def acquire(self) -> str:
        await asyncio.sleep(self.acquire_seconds)
        connection = f"conn-{len(self.given) + 1}"
        self.given.append(connection)
        return connection

    async def release(self, connection: str) -> None:
        self.release_calls.append(connection)
        self.releasing += 1
        try:
            for _ in range(self.steps):
                await asyncio.sleep(self.release_seconds / self.steps)
            self.released.append(connection)
        finally:
            self.releasing -= 1

    async def settled(self, timeout: float = 2.0) -> None:
        """Wait until no release is running (one left to go on in the background has ended),
        for ``timeout`` seconds at most: how long that takes depends on how busy the machine is."""
        deadline = asyncio.get_running_loop().time() + timeout
        # A counter, not an event: polled, with a deadline.
        while self.releasing and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    @property
    def leaked(self) -> list[str]:
        """Connections given out and never completely given back."""
        return [connection for connection in self.given if connection not in self.released]
