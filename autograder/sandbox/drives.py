"""Many ASGI calls of one app in one request to the sandbox: how differential tests send a batch.

``coursekit.drive`` plays the server for each call here, next to the learner's app, and only
the traces travel back: one exchange with the grader for a whole batch of generated requests,
instead of a round trip for every message of every request (``autograder.strategies.drives``).
Public, like every probe: it holds no expectations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from coursekit import drive
from coursekit.types import ASGIApp, Message, Scope

from .protocol import Document
from .runner import Sandbox, describe_error


async def _driven(app: ASGIApp, scope: Scope, incoming: list[Message], timeout: float) -> Document:
    trace = await drive(app, scope, incoming, timeout=timeout)
    return {
        "events": [[direction, message] for _, direction, message in trace.events],
        "timed_out": trace.timed_out,
        "error": describe_error(trace.exception) if trace.exception is not None else None,
    }


async def drive_all(app: ASGIApp, calls: list[list[Any]], timeout: float) -> list[Document]:
    """Drive ``app`` once per ``[scope, incoming messages]`` of ``calls``, in order; for each,
    the messages both ways, whether it ran out of ``timeout``, and the error it raised. Stops
    after a call that ran out of time: the app is stuck, and the rest would only wait too."""
    traces: list[Document] = []
    for scope, incoming in calls:  # lists off the wire: [scope, incoming messages]
        traces.append(await _driven(app, scope, incoming, timeout))
        if traces[-1]["timed_out"]:
            break
    return traces


async def drive_wrapped(
    wrapper: Callable[[ASGIApp], ASGIApp], calls: list[list[Any]], timeout: float
) -> list[Document]:
    """``drive_all`` for a wrapper (a middleware factory): each call is ``[[fixture, args],
    scope, incoming]``, and the app driven is ``wrapper(<fixture>(*args))``, made anew; the
    fixture is named as ``{"$fixture": ...}`` names one ("hello_app" of ``fixtures``, or
    "lesson01.scripted_app" of the lesson's probes)."""
    traces: list[Document] = []
    for (inner, args), scope, incoming in calls:
        try:
            if inner.rpartition(".")[2].startswith("_"):
                raise AttributeError(inner)
            make = Sandbox.fixture(inner)
        except (AttributeError, ModuleNotFoundError):
            raise ValueError(f"no fixture {inner!r}") from None
        traces.append(await _driven(wrapper(make(*args)), scope, incoming, timeout))
        if traces[-1]["timed_out"]:
            break
    return traces
