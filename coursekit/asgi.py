"""Drive an ASGI application by hand, and see every message it exchanges.

An ASGI application is only an async callable ``app(scope, receive, send)``. A server
builds the ``scope`` dict, hands the app a ``receive`` function that yields the client's
events, and a ``send`` function that carries the response back. This module plays the
server's part in a few lines, so a lesson can call an app directly and look at the exact
messages, with no network in between:

    trace = await drive(app, http_scope("GET", "/items", query="limit=2"))
    trace.status, trace.json()

``Tracer`` does the opposite: it wraps an app that a *real* server (uvicorn, hypercorn)
calls, and records what that server really sends and receives.
"""

from __future__ import annotations

import asyncio
import html
import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

from coursekit.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Trace", "Tracer", "drive", "http_scope", "lifespan_must_start", "lifespan_scope", "websocket_scope"]

Headers = Mapping[str, str] | Iterable[tuple[str, str]]

# The ASGI versions the scopes below claim. "spec_version" is the version of the HTTP and
# WebSocket sub-specification (2.4 has everything this course uses); lifespan has its own.
ASGI_VERSION = {"version": "3.0", "spec_version": "2.4"}
LIFESPAN_ASGI_VERSION = {"version": "3.0", "spec_version": "2.0"}


# --- scopes -------------------------------------------------------------------------------


def _encode(value: str | bytes, encoding: str) -> bytes:
    return value if isinstance(value, bytes) else value.encode(encoding)


def _raw_path(path: str) -> bytes:
    # What a client sends on the wire and a server keeps as ``raw_path`` (uvicorn's h11 and
    # httptools protocols: the request target's path, as received; ``path`` is it unquoted):
    # the path percent-encoded as UTF-8, the characters a path may hold as they are.
    return quote(path, safe="/:@!$&'()*+,;=").encode("ascii")


def _encode_headers(headers: Headers) -> list[tuple[bytes, bytes]]:
    # ASGI headers are a list of (name, value) byte pairs, names lower-cased. HTTP headers
    # are latin-1 on the wire, so that is the encoding servers use too.
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return [(_encode(name, "latin-1").lower(), _encode(value, "latin-1")) for name, value in pairs]


def http_scope(
    method: str = "GET",
    path: str = "/",
    *,
    query: str | bytes = "",
    headers: Headers = (),
    client: tuple[str, int] | None = ("127.0.0.1", 50000),
    server: tuple[str, int] | None = ("127.0.0.1", 8000),
) -> Scope:
    """A complete ASGI 3 HTTP scope, as a server would build it for one request.

    ``query`` is the part after ``?`` without the ``?``; ``headers`` is a dict or an
    iterable of ``(name, value)`` pairs of strings.
    """
    return {
        "type": "http",
        "asgi": dict(ASGI_VERSION),
        "http_version": "1.1",
        "method": method.upper(),
        "scheme": "http",
        "path": path,
        "raw_path": _raw_path(path),
        "query_string": _encode(query, "latin-1"),
        "root_path": "",
        "headers": _encode_headers(headers),
        "client": client,
        "server": server,
    }


def websocket_scope(
    path: str = "/ws",
    *,
    query: str | bytes = "",
    headers: Headers = (),
    subprotocols: Iterable[str] = (),
    client: tuple[str, int] | None = ("127.0.0.1", 50000),
    server: tuple[str, int] | None = ("127.0.0.1", 8000),
) -> Scope:
    """A complete ASGI 3 WebSocket scope: the handshake request, before it is accepted."""
    return {
        "type": "websocket",
        "asgi": dict(ASGI_VERSION),
        "http_version": "1.1",
        "scheme": "ws",
        "path": path,
        "raw_path": _raw_path(path),
        "query_string": _encode(query, "latin-1"),
        "root_path": "",
        "headers": _encode_headers(headers),
        "client": client,
        "server": server,
        "subprotocols": list(subprotocols),
    }


def lifespan_scope() -> Scope:
    """The ASGI lifespan scope a server sends once, before any request.

    ``state`` is the dict the app may fill at startup; servers copy it into every
    request's scope (that is how ``request.state`` gets values set in a lifespan).
    """
    return {"type": "lifespan", "asgi": dict(LIFESPAN_ASGI_VERSION), "state": {}}


def lifespan_must_start(app: ASGIApp, failed: Callable[[], Exception]) -> ASGIApp:
    """``app``, raising ``failed()`` when its lifespan call returns without having sent
    ``lifespan.startup.complete``. A server would go on without the lifespan, and a test client
    (asgi_lifespan's ``LifespanManager``) would first wait for its time-out: the graders run
    learners' apps through this so that such an app fails at once, with their own message."""

    async def told(scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message.get("type") == "lifespan.startup.complete"
            await send(message)

        await app(scope, receive, watched if scope["type"] == "lifespan" else send)
        if scope["type"] == "lifespan" and not started:
            raise failed()

    return told


# --- traces -------------------------------------------------------------------------------

_ARROWS = {"receive": "→ app", "send": "← app"}
_MAX_BYTES_SHOWN = 60


def _short(value: Any) -> str:
    """A field value as text; long bytes are cut, so a 1 MB body stays one line."""
    if isinstance(value, bytes):
        text = repr(value)
        return text if len(text) <= _MAX_BYTES_SHOWN else text[: _MAX_BYTES_SHOWN - 1] + "…"
    if isinstance(value, list | tuple):
        inner = ", ".join(_short(item) for item in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    return repr(value)


def _fields(message: Message) -> str:
    return ", ".join(f"{key}={_short(value)}" for key, value in message.items() if key != "type")


class Trace:
    """Everything one ASGI call exchanged, in order.

    ``events`` holds ``(seconds since start, "receive" | "send", message)`` tuples:
    "receive" is a message the app pulled in, "send" one it pushed out.
    """

    def __init__(self, scope: Scope | None = None) -> None:
        self.scope = scope
        self.events: list[tuple[float, str, Message]] = []
        self.exception: BaseException | None = None
        self.timed_out = False
        self.timeout: float | None = None
        self._start = time.perf_counter()  # perf_counter is monotonic, and precise

    def _record(self, direction: str, message: Message) -> None:
        # A shallow copy: what the message held at this moment, even if the app reuses it.
        self.events.append((time.perf_counter() - self._start, direction, dict(message)))

    # What went each way.

    @property
    def sent(self) -> list[Message]:
        """The messages the app sent, in order."""
        return [message for _, direction, message in self.events if direction == "send"]

    @property
    def received(self) -> list[Message]:
        """The messages the app received, in order."""
        return [message for _, direction, message in self.events if direction == "receive"]

    # The HTTP response, read back from the sent messages.

    @property
    def status(self) -> int | None:
        """The status code of ``http.response.start``, or None if the app never sent one."""
        for message in self.sent:
            if message["type"] == "http.response.start":
                return int(message["status"])
        return None

    @property
    def header_list(self) -> list[tuple[str, str]]:
        """The response headers as sent, in order, names lower-cased, decoded latin-1."""
        for message in self.sent:
            if message["type"] == "http.response.start":
                check_sent(message)  # str headers: say so, rather than fail in bytes() below
                return [
                    (bytes(name).decode("latin-1").lower(), bytes(value).decode("latin-1"))
                    for name, value in message.get("headers", [])
                ]
        return []

    @property
    def headers(self) -> dict[str, str]:
        """The response headers as a dict; for a repeated name, the last one wins."""
        return dict(self.header_list)

    @property
    def body(self) -> bytes:
        """The response body: every ``http.response.body`` chunk, joined."""
        chunks = [message for message in self.sent if message["type"] == "http.response.body"]
        for message in chunks:
            check_sent(message)  # a str body: say so, rather than fail in bytes() below
        return b"".join(bytes(message.get("body", b"")) for message in chunks)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)

    # Display: a table of messages, in a terminal (repr) and in a notebook (HTML).

    def _rows(self) -> list[tuple[str, str, str, str]]:
        return [
            (f"{seconds * 1000:.2f}", _ARROWS[direction], str(message.get("type", "?")), _fields(message))
            for seconds, direction, message in self.events
        ]

    def _title(self) -> str:
        parts = [f"{len(self.events)} messages"]
        if self.scope is not None:
            kind = self.scope.get("type", "?")
            target = " ".join(str(self.scope[key]) for key in ("method", "path") if key in self.scope)
            parts.insert(0, f"{kind} {target}".strip())
        if self.status is not None:
            parts.append(f"status {self.status}")
        return "Trace: " + ", ".join(parts)

    def _outcome(self) -> str | None:
        if self.timed_out:
            limit = f" within {self.timeout:g} s" if self.timeout is not None else ""
            return f"timed out: the app did not return{limit}, so it was cancelled"
        if self.exception is not None:
            return f"the app raised {type(self.exception).__name__}: {self.exception}"
        return None

    def __repr__(self) -> str:
        header = ("ms", "", "type", "fields")
        rows = [header, *self._rows()]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = [self._title()]
        for row in rows:
            cells = [row[0].rjust(widths[0]), row[1].ljust(widths[1]), row[2].ljust(widths[2]), row[3]]
            lines.append("  ".join(cells).rstrip())
        if (outcome := self._outcome()) is not None:
            lines.append(outcome)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cell = '<td style="text-align:left">{}</td>'.format
        body = "".join(
            "<tr>"
            + f'<td style="text-align:right">{ms}</td>'
            + cell(arrow)
            + cell(f"<code>{html.escape(kind)}</code>")
            + cell(f"<code>{html.escape(fields)}</code>")
            + "</tr>"
            for ms, arrow, kind, fields in self._rows()
        )
        outcome = self._outcome()
        return (
            f"<div><strong>{html.escape(self._title())}</strong>"
            "<table><thead><tr><th>ms</th><th></th><th>type</th><th>fields</th></tr></thead>"
            f"<tbody>{body}</tbody></table>" + (f"<p>{html.escape(outcome)}</p>" if outcome else "") + "</div>"
        )


# --- driving an app by hand ---------------------------------------------------------------


def _default_incoming(scope_type: str) -> list[Message]:
    """What a client would send if the lesson says nothing more."""
    if scope_type == "http":
        return [{"type": "http.request", "body": b"", "more_body": False}]
    if scope_type == "websocket":
        return [{"type": "websocket.connect"}]
    if scope_type == "lifespan":
        return [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    raise ValueError(f"unknown scope type {scope_type!r}")


def _bytes_like(value: Any) -> bool:
    return isinstance(value, bytes | bytearray | memoryview)


def check_sent(message: Message) -> None:
    """Refuse an HTTP response message a server could not send, naming the mistake.

    A real server fails deep inside its own code (or the client sees garbage); here the app's
    ``send`` raises at once with a message about the app's own value.
    """
    kind = message.get("type")
    if kind == "http.response.start":
        status = message.get("status")
        if not isinstance(status, int) or isinstance(status, bool):
            raise TypeError(f"http.response.start's status must be an int, got {type(status).__name__} {status!r}")
        for pair in message.get("headers", []):
            if len(pair) != 2 or not all(_bytes_like(part) for part in pair):
                raise TypeError(
                    "http.response.start's headers must be (name, value) pairs of bytes, got "
                    f'{pair!r}: encode them, for example b"content-type" or str(length).encode()'
                )
    elif kind == "http.response.body":
        body = message.get("body", b"")
        if not _bytes_like(body):
            raise TypeError(
                f"http.response.body's body must be bytes, got {type(body).__name__}: "
                'encode it, for example text.encode("utf-8")'
            )


def not_implemented_in(exc: BaseException, seen: set[int] | None = None) -> NotImplementedError | None:
    """The NotImplementedError in ``exc``, or None: an unsolved exercise raises one.

    Frameworks that use task groups (Starlette's middleware, anyio) may wrap the learner's
    exception in an ExceptionGroup, or raise another one from it; look inside both.
    """
    seen = set() if seen is None else seen
    if id(exc) in seen:
        return None
    seen.add(id(exc))
    if isinstance(exc, NotImplementedError):
        return exc
    inner: list[BaseException] = list(exc.exceptions) if isinstance(exc, BaseExceptionGroup) else []
    inner += [e for e in (exc.__cause__, exc.__context__) if e is not None]
    return next((found for e in inner if (found := not_implemented_in(e, seen)) is not None), None)


async def drive(
    app: ASGIApp,
    scope: Scope,
    incoming: Iterable[Message] | None = None,
    *,
    timeout: float = 5.0,
) -> Trace:
    """Call ``app(scope, receive, send)`` once, playing the server, and return the Trace.

    ``receive()`` hands out the ``incoming`` messages in order. After the last one, it
    answers like a server whose client went away: ``http.disconnect`` for HTTP,
    ``websocket.disconnect`` for WebSocket; a lifespan ``receive()`` waits forever, as a
    server would while it runs.

    An exception from the app is kept on ``trace.exception`` rather than raised, so the
    messages sent before it stay visible. ``NotImplementedError`` is the exception: it
    means an exercise is not solved yet, and the learner should see the traceback.
    """
    trace = Trace(scope)
    trace.timeout = timeout
    scope_type = scope["type"]
    pending = list(incoming) if incoming is not None else _default_incoming(scope_type)

    async def receive() -> Message:
        if pending:
            message = pending.pop(0)
        elif scope_type == "http":
            message = {"type": "http.disconnect"}
        elif scope_type == "websocket":
            message = {"type": "websocket.disconnect", "code": 1000}
        else:
            # A lifespan ends only when the server shuts down; here, at the timeout. The
            # future is never resolved, so this waits until drive() cancels the app.
            message = await asyncio.get_running_loop().create_future()
        trace._record("receive", message)
        return message

    async def send(message: Message) -> None:
        trace._record("send", message)  # kept, so the trace shows what the app tried to send
        check_sent(message)

    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            await app(scope, receive, send)
    except Exception as exc:
        if not_implemented_in(exc) is not None:
            raise
        if isinstance(exc, TimeoutError) and deadline.expired():
            trace.timed_out = True
        else:
            trace.exception = exc
    return trace


# --- tracing what a real server does ------------------------------------------------------


class Tracer:
    """An ASGI app that wraps another one and records each call as a ``Trace``.

    Give ``Tracer(app)`` to a real server: every call (lifespan, each request, each
    WebSocket) adds a Trace to ``tracer.traces``, with the scope the server built and the
    messages as they passed. The messages go through unchanged, exceptions too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.traces: list[Trace] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        trace = Trace(scope)
        self.traces.append(trace)

        async def traced_receive() -> Message:
            message = await receive()
            trace._record("receive", message)
            return message

        async def traced_send(message: Message) -> None:
            trace._record("send", message)
            await send(message)

        try:
            await self.app(scope, traced_receive, traced_send)
        except Exception as exc:
            trace.exception = exc
            raise

    def __repr__(self) -> str:
        return f"Tracer({self.app!r}, {len(self.traces)} traces)"
