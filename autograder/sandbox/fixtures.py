"""Known-good ASGI apps the hidden suites can hand to a learner's code, e.g. to a middleware.

They run inside the sandbox (a middleware has to call the app it wraps in its own process),
so they are public: nothing here is a test or an answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .plain import described
from .plain import plain as _plain

if TYPE_CHECKING:  # coursekit's names only: a sandbox imports no more than it needs at start
    from coursekit.types import ASGIApp, Message, Receive, Scope, Send


async def hello_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Plain text "hello", with a header of its own the wrapper must keep."""
    assert scope["type"] == "http"  # an ASGI app the tests serve  # noqa: S101
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"x-app", b"hello")],
        }
    )
    await send({"type": "http.response.body", "body": b"hello"})


async def scope_types_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Handles every scope type and reports which one it saw, to check pass-through."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].split(".")[-1]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept", "headers": [(b"x-app", b"ws")]})
        await send({"type": "websocket.send", "text": "scope-types"})
        await send({"type": "websocket.close", "code": 1000})
        return
    await hello_app(scope, receive, send)


def plain(value: Any) -> Any:
    """A value as probes report objects a learner's code made: plain data, other objects
    by type name and repr (``autograder.sandbox.plain``)."""
    return _plain(value, described)


async def run_http(
    app: ASGIApp, method: str = "GET", path: str = "/", body: bytes = b"", query: str = ""
) -> dict[str, Any]:
    """A probe: one HTTP request to ``app`` inside the sandbox, answered as plain data.

    For checks where forwarding each message would be needless (many small requests).
    """
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": [],
        "client": ["127.0.0.1", 50000],
        "server": ["127.0.0.1", 8000],
    }
    incoming: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start: Message = next((m for m in sent if m.get("type") == "http.response.start"), {})
    return {
        "status": start.get("status"),
        "headers": start.get("headers", []),
        "body": b"".join(m.get("body", b"") for m in sent if m.get("type") == "http.response.body"),
    }
