"""Clients for streaming apps, played in-process, with time in them.

``coursekit.drive`` hands an app a list of messages and records what it sends; a stream needs
more: a client that leaves after the third chunk, a client that stops reading, an upload
that arrives in pieces and is cut off halfway, several WebSocket clients at once. This module
plays those clients next to the app, as uvicorn would serve them:

    seen = await http_call(app, "GET", "/export.csv", leave_after_chunks=3)
    seen.status, seen.chunks, seen.returned_after_leaving

    async with websocket_clients(app) as connect:
        ada = await connect("/rooms/a?token=t1")
        ada.stop_reading()                  # its app's send() now waits, as on a full socket
        ...

    blocks = sse_blocks(seen.text)          # the server-sent events in a text/event-stream body

    with collector_held():                  # what a client leaving cleans up, watched without
        seen = await http_call(...)         # the garbage collector's help

What it copies from uvicorn, and why:

- HTTP scopes say ASGI ``spec_version`` "2.3", as uvicorn's do: Starlette's
  ``StreamingResponse`` then listens for ``http.disconnect`` while it streams (with "2.4"
  it would wait for a ``send`` to fail instead), so a client leaving has the effect it has
  on a real server. After the client left, ``send`` is ignored at once, as uvicorn ignores
  it (``if self.disconnected: return`` in its ``send``).
- A ``send`` that waits (a slow line, or a client that stopped reading) is woken when the
  client leaves, just after ``receive`` is told, and returns as if sent: uvicorn's
  ``connection_lost`` sets the receive event, then ``resume_writing`` wakes a send waiting to
  drain. So the cancel Starlette sends to its streaming task never lands in ``send``; where it
  lands instead decides whether a generator's ``finally`` runs (lesson 08 measures it).
- A WebSocket ``send`` waits while its client is not reading (uvicorn's waits for the socket
  to drain), and raises ``OSError`` once the client has gone (uvicorn's
  ``ClientDisconnected`` is one; Starlette turns it into ``WebSocketDisconnect``).

Everything here is public and holds no expectations: the notebooks' self-checks and the
grader's probes use it alike, and decide on their own what the observations mean.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from coursekit.types import ASGIApp, Message, Scope

__all__ = ["HttpSeen", "WebSocketClient", "collector_held", "http_call", "sse_blocks", "websocket_clients"]

SPEC = {"version": "3.0", "spec_version": "2.3"}  # what uvicorn's HTTP and WebSocket scopes say


def _scope(kind: str, path: str, headers: Iterable[tuple[str, str]], method: str = "GET") -> Scope:
    path, _, query = path.partition("?")
    scope = {
        "type": kind,
        "asgi": dict(SPEC),
        "http_version": "1.1",
        "scheme": "http" if kind == "http" else "ws",
        "path": path,
        "raw_path": path.encode("utf-8"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    if kind == "http":
        scope["method"] = method.upper()
    else:
        scope["subprotocols"] = []
    return scope


@contextlib.contextmanager
def collector_held() -> Iterator[None]:
    """The garbage collector off for the block, then as it was (off stays off).

    A generator that nobody closed (a sync one abandoned in its thread, an async one left at
    its ``yield``) runs its ``finally`` only when the collector reclaims it, at a moment of the
    collector's choosing: a check of what a client leaving cleaned up must hold it, or it
    passes or fails with that moment.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --- HTTP ----------------------------------------------------------------------------------


@dataclass
class HttpSeen:
    """What a client saw of one HTTP call, and what the app did with the request's body."""

    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    chunks: int = 0  # body messages with bytes in them
    chunk_times: list[float] = field(default_factory=list)  # seconds from the start, per chunk
    pieces_read: int = 0  # request body messages the app received
    left_at: float | None = None  # when the client left (seconds from the start), if it did
    returned_at: float | None = None  # when the app's call ended, if it did within the timeout
    complete: bool = False  # the app sent the last body message (more_body False)
    size: int = 0  # bytes of body received, kept or not (``keep_body``)
    error: str | None = None  # "TypeName: message" of an exception the app raised

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def returned_after_leaving(self) -> float | None:
        """Seconds between the client leaving and the app's call ending (None: it did not end)."""
        if self.left_at is None or self.returned_at is None:
            return None
        return max(0.0, self.returned_at - self.left_at)


async def http_call(
    app: ASGIApp,
    method: str,
    path: str,
    *,
    headers: Iterable[tuple[str, str]] = (),
    body: Iterable[bytes] = (b"",),
    hang_up_after_pieces: int | None = None,
    before_piece: Callable[[int], None] | None = None,
    leave_after_chunks: int | None = None,
    leave_after: float | None = None,
    stall_after_chunks: int | None = None,
    chunk_delay: float = 0.0,
    keep_body: bool = True,
    timeout: float = 5.0,
) -> HttpSeen:
    """Call ``app`` once as a client of a uvicorn server would, and report what happened.

    ``body`` is the request body in pieces (one ``http.request`` message each). The client
    leaves (the app's next ``receive`` answers ``http.disconnect``) after sending
    ``hang_up_after_pieces`` of them, after receiving ``leave_after_chunks`` body chunks, or
    ``leave_after`` seconds after the start, whichever comes first; otherwise it stays until
    the response is complete. ``before_piece(n)`` is called just before piece ``n`` (from 0)
    is handed to the app: a moment to look at what the app has done so far.
    ``chunk_delay`` seconds pass in each ``send`` of a body chunk (a client on a slow line).
    After ``stall_after_chunks`` body chunks the client reads nothing more: every later
    ``send`` of the body waits, as on a full socket, until the client leaves. A waiting
    ``send`` returns when the client leaves (its chunk lost), as uvicorn's does.
    ``keep_body=False`` counts the body's bytes (``seen.size``) without keeping them
    (``len(seen.body)`` stays 0). The call is given ``timeout`` seconds in all, then cancelled
    (``seen.returned_at`` stays None).
    """
    pieces = list(body) or [b""]
    seen = HttpSeen()
    started = time.perf_counter()
    loop = asyncio.get_running_loop()
    left = asyncio.Event()
    waiting_sends: list[asyncio.Future[None]] = []
    sent_pieces = 0

    def now() -> float:
        return time.perf_counter() - started

    def leave() -> None:
        if not left.is_set():
            seen.left_at = now()
            left.set()  # first receive() is told (http.disconnect), then a waiting send wakes
            for waiter in waiting_sends:
                wake(waiter)

    def wake(waiter: asyncio.Future[None]) -> None:
        if not waiter.done():
            waiter.set_result(None)

    async def wait_in_send(seconds: float | None) -> None:
        """``seconds`` (None: until the client leaves), cut short when the client leaves."""
        waiter = loop.create_future()
        waiting_sends.append(waiter)
        timer = None if seconds is None else loop.call_later(seconds, wake, waiter)
        try:
            await waiter
        finally:
            waiting_sends.remove(waiter)
            if timer is not None:
                timer.cancel()

    async def receive() -> Message:
        nonlocal sent_pieces
        if not left.is_set() and sent_pieces < len(pieces) and sent_pieces != hang_up_after_pieces:
            piece = pieces[sent_pieces]
            if before_piece is not None:
                before_piece(sent_pieces)
            sent_pieces += 1
            seen.pieces_read += 1
            return {"type": "http.request", "body": piece, "more_body": sent_pieces < len(pieces)}
        if sent_pieces == hang_up_after_pieces:
            leave()
        await left.wait()  # a server answers http.disconnect once the client has gone
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if left.is_set() or seen.complete:
            return  # uvicorn ignores what an app sends to a client that has gone
        if message["type"] == "http.response.start":
            seen.status = message["status"]
            seen.headers = [
                (bytes(k).decode("latin-1"), bytes(v).decode("latin-1")) for k, v in message.get("headers", [])
            ]
        elif message["type"] == "http.response.body":
            if stall_after_chunks is not None and seen.chunks >= stall_after_chunks:
                await wait_in_send(None)  # the client reads nothing: this send waits until it leaves
                return
            data = bytes(message.get("body", b""))
            if data:
                if chunk_delay:
                    await wait_in_send(chunk_delay)
                    if left.is_set():
                        return  # the client left while this chunk was on its way
                seen.chunks += 1
                seen.chunk_times.append(now())
                seen.size += len(data)
                if keep_body:
                    seen.body += data
            if not message.get("more_body", False):
                seen.complete = True
                leave_later.cancel()
                left.set()  # the exchange is over: a later receive() answers http.disconnect
                return
            if leave_after_chunks is not None and seen.chunks >= leave_after_chunks:
                leave()

    leave_later = (
        loop.call_later(leave_after, leave) if leave_after is not None else loop.call_later(timeout * 10, lambda: None)
    )
    try:
        async with asyncio.timeout(timeout):
            await app(_scope("http", path, headers, method), receive, send)
        seen.returned_at = now()
    except TimeoutError:
        pass
    except Exception as exc:
        seen.returned_at = now()
        seen.error = f"{type(exc).__name__}: {exc}"
    finally:
        leave_later.cancel()
    return seen


# --- WebSocket -----------------------------------------------------------------------------


class WebSocketClient:
    """One WebSocket client of an in-process app: what it sends, reads and sees."""

    def __init__(self, app: ASGIApp, path: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        self._incoming: asyncio.Queue[Message] = asyncio.Queue()
        self._reading = asyncio.Event()
        self._reading.set()
        self._gone = False
        self.accepted = asyncio.Event()
        self.closed = asyncio.Event()  # the app closed (before or after accepting)
        self.close_code: int | None = None
        self.texts: list[str | bytes] = []  # what the client read, in order (bytes for a binary frame)
        self.arrived: list[float] = []  # when each text arrived (time.perf_counter())
        self._incoming.put_nowait({"type": "websocket.connect"})
        self.task = asyncio.ensure_future(app(_scope("websocket", path, headers), self._receive, self._send))

    async def _receive(self) -> Message:
        return await self._incoming.get()

    async def _send(self, message: Message) -> None:
        if message["type"] in ("websocket.send", "websocket.close") and not self._gone:
            await self._reading.wait()  # uvicorn's send waits while the socket is full
        if self._gone:
            raise OSError("the client has gone")  # as uvicorn's ClientDisconnected
        if message["type"] == "websocket.accept":
            self.accepted.set()
        elif message["type"] == "websocket.send":
            text = message.get("text")
            self.texts.append(text if text is not None else message["bytes"])
            self.arrived.append(time.perf_counter())
        elif message["type"] == "websocket.close":
            self.close_code = message.get("code", 1000)
            self.closed.set()

    def say(self, text: str) -> None:
        """The client sends a text message."""
        self._incoming.put_nowait({"type": "websocket.receive", "text": text})

    def leave(self, code: int = 1000) -> None:
        """The client goes away (its app reads ``websocket.disconnect``; a later send raises)."""
        self._gone = True
        self._reading.set()  # wake a send that waits, so that it can raise
        self._incoming.put_nowait({"type": "websocket.disconnect", "code": code})

    def stop_reading(self) -> None:
        """The client stops reading: its app's sends wait from now on."""
        self._reading.clear()

    def resume_reading(self) -> None:
        self._reading.set()

    async def settled(self, seconds: float = 1.0) -> bool:
        """Whether the app's call for this client ended within ``seconds``."""
        done, _ = await asyncio.wait({self.task}, timeout=seconds)
        return bool(done)

    @property
    def error(self) -> str | None:
        """What the app's call for this client raised, if it ended with an exception."""
        if not self.task.done() or self.task.cancelled() or self.task.exception() is None:
            return None
        exc = self.task.exception()
        return f"{type(exc).__name__}: {exc}"


@contextlib.asynccontextmanager
async def websocket_clients(
    app: ASGIApp,
) -> AsyncIterator[Callable[..., Awaitable[WebSocketClient]]]:
    """``connect(path, headers=(), wait=1.0)`` makes a client and waits (at most ``wait``
    seconds) until the app accepted or closed it. Leaving the block ends every client's call
    (the clients leave, then anything still running after a second is cancelled)."""
    clients: list[WebSocketClient] = []

    async def connect(path: str, headers: Iterable[tuple[str, str]] = (), wait: float = 1.0) -> WebSocketClient:
        client = WebSocketClient(app, path, headers)
        clients.append(client)
        waiters = [asyncio.ensure_future(client.accepted.wait()), asyncio.ensure_future(client.closed.wait())]
        await asyncio.wait([*waiters, client.task], timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        return client

    try:
        yield connect
    finally:
        for client in clients:
            if not client.task.done():
                client.leave()
        pending = [client.task for client in clients if not client.task.done()]
        if pending:
            await asyncio.wait(pending, timeout=1.0)
        for client in clients:
            if not client.task.done():
                client.task.cancel()
        await asyncio.gather(*(client.task for client in clients), return_exceptions=True)


# --- server-sent events --------------------------------------------------------------------

_LINES = re.compile(r"\r\n|\r|\n")


def sse_blocks(text: str) -> list[dict[str, Any]]:
    """The blocks of a ``text/event-stream`` body, as the HTML standard's parser reads them.

    Each block (lines up to a blank line) becomes a dict of the fields it sets: ``data``
    (its lines joined by "\\n"), ``id``, ``event``, ``retry`` (as written), and ``comments``
    (the text of its lines starting with ":", when it has any). One space after the colon
    is dropped, as the standard says; unknown fields are ignored; an unfinished last block
    is left out. A block with ``data`` is an event a browser dispatches; a block of comments
    only is a keep-alive.
    """
    blocks: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    lines = _LINES.split(text)
    for line in lines[:-1]:  # the text after the last line break is unfinished
        if line == "":
            if current:
                blocks.append(current)
            current = {}
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "":
            current.setdefault("comments", []).append(value)
        elif name == "data":
            current["data"] = value if "data" not in current else current["data"] + "\n" + value
        elif name in ("id", "event", "retry"):
            current[name] = value
    return blocks
