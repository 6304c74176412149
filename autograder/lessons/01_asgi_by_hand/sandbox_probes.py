"""Lesson 01's probes: known-good apps its hidden tests hand to the learner's middleware.

They run inside the sandbox, around the learner's ``request_id_middleware`` (a middleware has
to call the app it wraps in its own process), so they are public: nothing here is a test or
an answer. The apps every lesson may use are ``autograder.sandbox.fixtures``.
"""

from __future__ import annotations

import asyncio
import json

from autograder.sandbox.fixtures import hello_app, scope_types_app


async def _read_body(receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return body
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body


async def slow_hello_app(scope, receive, send):
    """``hello_app`` after 50 ms of work: a response start a known time after the call."""
    await asyncio.sleep(0.05)
    await hello_app(scope, receive, send)


async def slow_path_app(scope, receive, send):
    """``hello_app``, 200 ms after the call on the path /slow, at once elsewhere: two requests
    through one wrapper whose durations must not add up."""
    if scope["path"] == "/slow":
        await asyncio.sleep(0.2)
    await hello_app(scope, receive, send)


async def scope_reporting_app(scope, receive, send):
    """Says which scope it was called with (its keys and its headers, as JSON) in its first
    message: the message of a lifespan.startup.failed, or a header x-scope of the
    websocket.accept. For wrappers that must pass other scopes on untouched."""
    seen = json.dumps(
        {
            "keys": sorted(scope),
            "headers": [[name.decode("latin-1"), value.decode("latin-1")] for name, value in scope.get("headers", [])],
        }
    )
    await receive()  # lifespan.startup, or websocket.connect
    if scope["type"] == "lifespan":
        await send({"type": "lifespan.startup.failed", "message": seen})
        return
    await send({"type": "websocket.accept", "headers": [(b"x-scope", seen.encode("latin-1"))]})
    await send({"type": "websocket.close", "code": 1000})


async def chunked_app(scope, receive, send):
    """Answers 201 with its body in three messages, echoing what it read at the end."""
    assert scope["type"] == "http"  # noqa: S101 (the suite's own app: only HTTP calls reach it)
    received = await _read_body(receive)
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [(b"content-type", b"text/plain"), (b"x-app", b"chunked")],
        }
    )
    for part in (b"one,", b"two,", b"three"):
        await send({"type": "http.response.body", "body": part, "more_body": True})
    await send({"type": "http.response.body", "body": b":" + received, "more_body": False})


async def reusing_app(scope, receive, send):
    """Sends a start message it made once, as an app that prepared it may, then says in its
    body whether that message and its header list were still as it made them."""
    assert scope["type"] == "http"  # noqa: S101 (the suite's own app: only HTTP calls reach it)
    headers = [(b"content-type", b"text/plain")]
    start = {"type": "http.response.start", "status": 200, "headers": headers}
    await send(start)
    unchanged = start == {"type": "http.response.start", "status": 200, "headers": headers} and headers == [
        (b"content-type", b"text/plain")
    ]
    await send({"type": "http.response.body", "body": b"unchanged" if unchanged else b"changed in place"})


def scripted_app(status: int, headers: list, parts: list):
    """An app that reads the request body, then answers as told: ``status``, ``headers``
    ([name, value] pairs of text, repeated names kept, in order) and the body in ``parts``,
    one http.response.body message each. Other scopes go to ``scope_types_app``. For
    differential tests of wrappers: the same script runs behind the learner's and the
    reference's wrapper."""

    async def app(scope, receive, send):
        if scope["type"] != "http":
            await scope_types_app(scope, receive, send)
            return
        await _read_body(receive)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers],
            }
        )
        for index, part in enumerate(parts):
            await send({"type": "http.response.body", "body": part, "more_body": index < len(parts) - 1})

    return app
