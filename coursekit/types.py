"""The ASGI vocabulary the course and its grader speak, as ``starlette.types`` spells it.

A scope and a message are mutable mappings of strings to anything (the ASGI spec says what
each key holds; a type checker cannot), so an app typed with these accepts Starlette's and
FastAPI's, and theirs accept ours. Every other module imports them from here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["ASGIApp", "Message", "Receive", "Scope", "Send"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]

Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
