"""Helpers for hidden suites: talking to a learner's app that lives in the sandbox.

Tests get the app as ``submission.asgi(name)``, an ordinary ASGI callable, and use the same
tools a learner would (``httpx.ASGITransport``, ``coursekit.drive``). ``Conversation`` adds
what those lack: a back-and-forth where the test decides each next message after seeing the
app's last one (lifespan, WebSocket).
"""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import AsyncIterator

import httpx

from .expect import Mistake
from .submission import Submission, SubmissionError, SubmissionRaised

REPLY_SECONDS = 5.0


async def require(submission: Submission, name: str, kind: str = "async function") -> None:
    """Fail with a clear message unless the learner's cells define ``name`` as ``kind``."""
    found = await submission.describe(name)
    if not found["defined"]:
        raise Mistake(
            f"`{name}` is not defined after running your exercise cells. Check the cell still defines "
            f"it under exactly this name, and that the cell runs without an error."
        )
    if found["kind"] != kind:
        raise Mistake(f"`{name}` should be an {kind}, but it is a {found['kind']} (signature {found['signature']}).")


@asynccontextmanager
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


class Conversation:
    """Run one ASGI call in the background and exchange messages with it step by step."""

    def __init__(self, app, scope: dict) -> None:
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.outbox: asyncio.Queue = asyncio.Queue()
        self.task = asyncio.ensure_future(app(scope, self.inbox.get, self._send))

    async def _send(self, message: dict) -> None:
        await self.outbox.put(message)

    def push(self, message: dict) -> None:
        self.inbox.put_nowait(message)

    async def pull(self, waiting_for: str) -> dict | None:
        """The app's next message, or None if the app returned without sending one."""
        getter = asyncio.ensure_future(self.outbox.get())
        done, _ = await asyncio.wait({getter, self.task}, timeout=REPLY_SECONDS, return_when=asyncio.FIRST_COMPLETED)
        if getter in done:
            return getter.result()
        getter.cancel()
        if self.task in done:
            self.task.result()  # re-raise the app's exception, if it raised
            return None
        raise Mistake(f"Your app sent nothing within {REPLY_SECONDS:g} s while the grader waited for {waiting_for}.",
                      out_of_time=True)

    async def finished(self, seconds: float = REPLY_SECONDS) -> bool:
        """Whether the app's call returned (or raised) within ``seconds``."""
        done, _ = await asyncio.wait({self.task}, timeout=seconds)
        return bool(done)

    async def close(self) -> None:
        if not self.task.done():
            self.task.cancel()
        try:
            await self.task
        except (asyncio.CancelledError, SubmissionError, Exception):
            pass


def completed(trace) -> None:
    """Fail with the learner's own error when a ``coursekit.drive`` trace did not end cleanly."""
    if trace.timed_out:
        raise Mistake(f"Your app did not return within {trace.timeout:g} s. Does it wait for a message that "
                      "never comes, or loop forever?", out_of_time=True)
    if isinstance(trace.exception, SubmissionError):
        raise Mistake(str(trace.exception))
    if trace.exception is not None:
        raise Mistake(f"Talking to your app failed: {type(trace.exception).__name__}: {trace.exception}")


def as_json(answer) -> dict:
    """The JSON object in the body of an httpx response or a coursekit Trace; {} otherwise."""
    try:
        value = answer.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


async def probe(submission: Submission, exercise: str, reference: str, *args, **kwargs):
    """``submission.probe``, with the learner's errors reported as the exercise's own."""
    try:
        return await submission.probe(reference, *args, **kwargs)
    except SubmissionRaised as exc:
        raise SubmissionRaised(exercise, exc.error) from None


async def make(submission: Submission, exercise: str, factory: str, *args, **kwargs) -> str:
    """``submission.make``, with the learner's errors reported as the exercise's own."""
    try:
        return await submission.make(factory, *args, **kwargs)
    except SubmissionRaised as exc:
        raise SubmissionRaised(exercise, exc.error) from None


async def other_scopes(app) -> tuple[list[str], dict | None]:
    """Drive a lifespan (startup, shutdown) and a WebSocket connect through ``app``: the types
    of the lifespan answers, and the answer to the connect. For wrappers (middleware, error
    layers) that must pass scopes other than HTTP straight through."""
    from coursekit import drive, lifespan_scope, websocket_scope  # the notebooks' own tools

    lifespan = await drive(app, lifespan_scope())
    completed(lifespan)
    talk = Conversation(app, websocket_scope("/ws"))
    try:
        talk.push({"type": "websocket.connect"})
        accept = await talk.pull("websocket.accept")
    finally:
        await talk.close()
    return [message.get("type") for message in lifespan.sent], accept


# -- responsiveness: is a cheap request answered while a slow one runs? ---------------------------
#
# Timing checks must never flip on a busy machine, so this one compares orders of magnitude,
# measured in the same run: a loop held by the slow request makes a cheap request wait for
# most of the slow one (hundreds of milliseconds by construction), a free loop answers it in
# about the idle time (milliseconds). The threshold sits far from both, scales with the idle
# time measured just before, and an attempt that fails is repeated before the test fails.

LEAD_SECONDS = 0.15  # let the slow request get going before the first cheap one
CHEAP_REQUESTS = 4
CHEAP_GAP_SECONDS = 0.02


@dataclass
class Responsiveness:
    idle: float  # median seconds of a cheap request with nothing else running
    busy: float  # seconds the slow request took
    during: list[float]  # seconds of each cheap request while the slow one ran, from when it was due
    slow_status: int

    @property
    def threshold(self) -> float:
        return min(0.4 * self.busy, max(0.1, 10 * self.idle))

    @property
    def responsive(self) -> bool:
        return len(self.during) >= 2 and max(self.during) < self.threshold

    def describe(self) -> str:
        worst = max(self.during, default=self.busy)
        return (f"a cheap request took {worst * 1000:.0f} ms while a slow one ({self.busy * 1000:.0f} ms) ran, "
                f"against {self.idle * 1000:.0f} ms when idle")


async def _timed(request) -> tuple[float, object]:
    started = time.perf_counter()
    response = await request
    return time.perf_counter() - started, response


async def responsiveness(http: httpx.AsyncClient, slow_path: str, cheap_path: str = "/ping",
                         attempts: int = 3) -> Responsiveness:
    """Measure ``cheap_path`` alone, then while ``slow_path`` runs; up to ``attempts`` times
    until the app is found responsive. Returns the last measurement."""
    for _ in range(attempts):
        idle = sorted([(await _timed(http.get(cheap_path)))[0] for _ in range(5)])[2]
        slow = asyncio.ensure_future(_timed(http.get(slow_path)))
        slow_ended: list[float] = []
        slow.add_done_callback(lambda _: slow_ended.append(time.perf_counter()))
        await asyncio.sleep(LEAD_SECONDS)
        during = []
        due = time.perf_counter()
        # Cheap requests go while the slow one runs, and each counts from when it was due,
        # not from when it was sent: when the app runs in this very loop (nbgrader's
        # in-process grading), a held loop delays the sending too. A request held up until
        # the slow one ended counts: it is the evidence.
        while len(during) < CHEAP_REQUESTS and not (slow_ended and slow_ended[0] <= due):
            await http.get(cheap_path)
            finished = time.perf_counter()
            during.append(finished - due)
            due = finished + CHEAP_GAP_SECONDS
            await asyncio.sleep(CHEAP_GAP_SECONDS)
        busy, response = await slow
        result = Responsiveness(idle, busy, during, response.status_code)
        if result.responsive:
            break
    return result
