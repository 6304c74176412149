"""The learner's own tests, run here against an app that is not here.

An exercise of this kind asks the learner for tests (``test_*`` functions, async or not, that
take a ``client`` argument), and grades them by the bugs they catch: the grader runs them
against the correct app and against hidden buggy variants of it. The variants must never be
readable by the learner's code, so the app under test runs in the grader's process, and the
``client`` a test gets here is an ``httpx.AsyncClient`` whose transport forwards each request
across the pipe as plain data (method, URL, headers, body) and builds the response from the
plain data that comes back (status, headers, body). A test sees the app's behaviour and
nothing else: not its code, its module, its identity or its process.

This module is public and holds no expectations: it runs a test and reports how it ended.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

PREFIX = "test_"
FIXTURES = ("client",)  # the arguments a learner's test may ask for
BASE_URL = "http://test"

Forward = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def collect(namespace: dict[str, Any]) -> list[str]:
    """The learner's tests: functions named ``test_*``, in the order they were defined."""
    return [name for name, value in list(namespace.items()) if name.startswith(PREFIX) and inspect.isfunction(value)]


class ForwardingTransport(httpx.AsyncBaseTransport):
    """Sends each request to the grader as plain data and answers with what comes back."""

    def __init__(self, forward: Forward) -> None:
        self.forward = forward

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        answer = await self.forward(
            {
                "method": request.method,
                "url": str(request.url),
                "headers": [[name, value] for name, value in request.headers.raw],
                "body": body,
            }
        )
        if answer.get("error"):
            raise httpx.TransportError(str(answer["error"]))
        return httpx.Response(
            int(answer["status"]),
            headers=[tuple(pair) for pair in answer["headers"]],
            content=answer["body"],
            request=request,
        )


async def run(test: Callable[..., Any], forward: Forward) -> dict[str, Any]:
    """Run one test; report {"outcome": "passed" | "failed", "error": type, "message": str}."""
    try:
        parameters = list(inspect.signature(test).parameters)
    except (TypeError, ValueError):
        parameters = []
    unknown = [name for name in parameters if name not in FIXTURES]
    if unknown:
        return {
            "outcome": "failed",
            "error": "UnknownFixture",
            "message": f"a test may only ask for {', '.join(FIXTURES)}; this one asks for {', '.join(unknown)}",
        }
    async with httpx.AsyncClient(transport=ForwardingTransport(forward), base_url=BASE_URL) as client:
        try:
            result = test(**({"client": client} if "client" in parameters else {}))
            if inspect.isawaitable(result):
                await result
        except Exception as exc:  # an assertion or any other error: the test failed
            return {"outcome": "failed", "error": type(exc).__name__, "message": str(exc)[:300]}
    return {"outcome": "passed", "error": None, "message": ""}
