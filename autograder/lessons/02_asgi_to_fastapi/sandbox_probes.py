"""Public probes for lesson 02 (from raw ASGI to Starlette and FastAPI).

They run inside the sandbox, next to the learner's code: they build inputs from a JSON
description, call the learner's classes and functions, and report what happened as JSON
(values, counts, exception type names). Nothing here is a test or an answer; the hidden
suite decides what the reports should say.
"""

from __future__ import annotations

import asyncio
import json
import logging

from autograder.sandbox.fixtures import plain

STEP_SECONDS = 2.0  # a body() that waits forever is reported, not hung on


# --- Request ----------------------------------------------------------------------------------


async def request_report(Request, scope: dict, messages: list, steps: list) -> dict:
    """Build ``Request(scope, receive)`` and run ``steps`` on it, in order.

    ``receive()`` hands out ``messages`` in order, then answers ``http.disconnect``. A step is
    a list: ``["attr", name]``, ``[container, op, key]`` with container "headers" or
    "query_params" and op "get" | "getlist" | "getitem" | "contains" | "items" (every pair,
    in order; the key is not used), ``["body"]`` or ``["json"]``. Each step reports
    ``{"value": ...}`` or ``{"error": "<exception type>"}``;
    the report also says how many times ``receive`` was called and whether every ``json()``
    call returned the very same object.
    """
    pending = list(messages)
    calls = {"receive": 0}

    async def receive():
        calls["receive"] += 1
        if pending:
            return pending.pop(0)
        return {"type": "http.disconnect"}

    request = Request(scope, receive)
    results = []
    json_values = []
    for step in steps:
        kind = step[0]
        try:
            if kind == "attr":
                value = getattr(request, step[1])
            elif kind in ("headers", "query_params"):
                container = getattr(request, kind)
                op, key = step[1], step[2]
                if op == "get":
                    value = container.get(key)
                elif op == "getlist":
                    value = container.getlist(key)
                elif op == "getitem":
                    value = container[key]
                elif op == "items":  # lists, not tuples: the same data in a sandbox and in a kernel
                    value = [list(pair) for pair in container.items()]
                else:
                    value = key in container
            elif kind == "body":
                value = await asyncio.wait_for(request.body(), STEP_SECONDS)
            elif kind == "json":
                value = await asyncio.wait_for(request.json(), STEP_SECONDS)
                json_values.append(value)
            else:
                raise ValueError(f"unknown step {kind!r}")
        except TimeoutError:
            results.append({"error": "Timeout"})
        except Exception as exc:
            results.append({"error": type(exc).__name__})
        else:
            results.append({"value": plain(value)})
    same = all(value is json_values[0] for value in json_values) if json_values else None
    return {"results": results, "receive_calls": calls["receive"], "json_same_object": same}


# --- Router -----------------------------------------------------------------------------------


class _JSON:
    """A minimal response the probes' endpoints return: the router only has to await it."""

    def __init__(self, data, status=200):
        self.body = json.dumps(data).encode()
        self.status = status

    async def __call__(self, scope, receive, send):
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(self.body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": self.body})


class _GivenRequest:
    """The part of exercise 1's ``Request`` its statement gives (the constructor, ``method``,
    ``path``, ``path_params``), all a router needs. It stands in for the learner's ``Request``
    only when their cells leave no working one (exercise 1's cell raised, say), so that
    exercise 2 is graded on the learner's router alone, as its statement says."""

    def __init__(self, scope, receive=None):
        self.scope = scope
        self._receive = receive

    @property
    def method(self):
        return self.scope["method"]

    @property
    def path(self):
        return self.scope["path"]

    @property
    def path_params(self):
        return self.scope.get("path_params", {})


def _request_works(candidate) -> bool:
    try:
        request = candidate({"type": "http", "method": "PATCH", "path": "/x", "path_params": {"x": 1}}, None)
        return request.method == "PATCH" and request.path_params == {"x": 1}
    except Exception:
        return False


def _given_request_if_needed(Router) -> None:
    """Put ``_GivenRequest`` in the cells' namespace as ``Request`` if the one there (exercise
    1's) is missing or cannot even do its given part. The sandbox runs the cells again in a
    fresh namespace before the next test, so this lasts for one test."""
    namespace = next((value.__globals__ for value in vars(Router).values() if hasattr(value, "__globals__")), None)
    if namespace is not None and not _request_works(namespace.get("Request")):
        namespace["Request"] = _GivenRequest


def _reporting_endpoint(tag: str):
    async def endpoint(request):
        if tag.startswith("raise"):
            raise RuntimeError(f"the endpoint {tag} failed")
        params = {name: [type(value).__name__, value] for name, value in request.path_params.items()}
        return _JSON({"endpoint": tag, "method": request.method, "params": params})

    return endpoint


def build_router(Router, table: list):
    """A ``Router()`` with one route per ``[path, tag, methods]`` row of ``table``.

    Each endpoint answers JSON ``{"endpoint": tag, "method": ..., "params": {name: [type
    name, value]}}``, so a test sees which route answered and what the router passed. An
    endpoint whose tag starts with "raise" raises ``RuntimeError`` instead.
    """
    _given_request_if_needed(Router)
    router = Router()
    for path, tag, methods in table:
        router.add_route(path, _reporting_endpoint(tag), methods)
    return router


def add_route_error(Router, path: str):
    """The exception type name ``Router().add_route(path, ...)`` raises, or None."""
    try:
        Router().add_route(path, _reporting_endpoint("x"), ["GET"])
    except Exception as exc:
        return type(exc).__name__
    return None


async def _get_once(app, scope: dict) -> list[dict]:
    """Call ``app`` once with ``scope`` and an empty body; return what it sent."""
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), STEP_SECONDS)
    return sent


async def router_keeps_scope(Router, template: str, path: str) -> dict:
    """Route one GET of ``path`` through a router with the one route ``template``; say whether
    the caller's scope dict changed, and which status came back."""
    router = build_router(Router, [[template, "only", ["GET"]]])
    scope = _http_scope("GET", path)
    before = dict(scope)
    sent = await _get_once(router, scope)
    return {
        "scope_unchanged": scope == before and "path_params" not in scope,
        "status": next((m.get("status") for m in sent if m.get("type") == "http.response.start"), None),
    }


def _http_scope(method: str, path: str, root_path: str = "") -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": root_path,
        "headers": [],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


# --- the error layer --------------------------------------------------------------------------

SECRET = "the database password is hunter2"  # noqa: S105 (made up: what the error layer must not leak)


def failing_app(kind: str, HTTPException=None):
    """An ASGI app that fails in one way, for the error layer to handle.

    kind: "runtime" raises RuntimeError before answering; "keyerror" raises KeyError;
    "http" raises ``HTTPException(404, "no such item", {"x-reason": "missing"})``;
    "http_default" raises ``HTTPException(403)``; "late" starts a 200 response, sends part of
    the body, then raises RuntimeError; "late_no_body" starts a 200 response and raises before any
    body; "ok" answers 200 "fine" and raises nothing. "by_path" does, on each call, what the
    request's path names (``/ok``, ``/runtime``...): one app for a series of requests.
    """

    async def app(scope, receive, send):
        what = scope["path"].strip("/") if kind == "by_path" else kind
        if what == "runtime":
            raise RuntimeError(SECRET)
        if what == "keyerror":
            raise KeyError(SECRET)
        if what == "http":
            raise HTTPException(404, "no such item", {"x-reason": "missing"})
        if what == "http_default":
            raise HTTPException(403)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"x-app", b"failing")],
            }
        )
        if what == "late":
            await send({"type": "http.response.body", "body": b"half", "more_body": True})
            raise RuntimeError(SECRET)
        if what == "late_no_body":
            raise RuntimeError(SECRET)
        await send({"type": "http.response.body", "body": b"fine"})

    return app


def scripted_failing_app(script: dict, HTTPException=None):
    """An ASGI app that does what ``script`` says, for differential tests of the error layer:
    send http.response.start with ``script["start"]`` as status unless it is None, then each
    of ``script["parts"]`` as a body message with more_body, then either raise (``["http",
    status, detail or None, headers or None]`` raises ``HTTPException``; ``["error", name]``
    raises that built-in exception) or, with ``script["raise"]`` None, end the body. Other
    scopes than HTTP only raise, or return at once."""

    async def app(scope, receive, send):
        if scope["type"] == "http":
            await receive()  # the request, as a real app reads it
        elif script["raise"] is None:
            return
        if scope["type"] == "http" and script["start"] is not None:
            await send(
                {
                    "type": "http.response.start",
                    "status": script["start"],
                    "headers": [(b"content-type", b"text/plain"), (b"x-app", b"scripted")],
                }
            )
        for part in script["parts"]:
            await send({"type": "http.response.body", "body": part, "more_body": True})
        failure = script["raise"]
        if failure is None:
            if script["start"] is not None:
                await send({"type": "http.response.body", "body": b""})
            return
        if failure[0] == "http":
            raise HTTPException(*failure[1:])
        raise {
            "RuntimeError": RuntimeError,
            "KeyError": KeyError,
            "ValueError": ValueError,
            "ZeroDivisionError": ZeroDivisionError,
        }[failure[1]](SECRET)

    return app


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def error_log_report(catch_errors, kind: str = "runtime") -> dict:
    """Wrap ``failing_app(kind)`` with ``catch_errors``, call it once in here, and report the
    log records the ``micro`` logger received, with the status the client got."""
    logger = logging.getLogger("micro")
    handler = _Records()
    logger.addHandler(handler)
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    raised = None
    try:
        app = catch_errors(failing_app(kind))
        await asyncio.wait_for(app(_http_scope("GET", "/boom"), receive, send), STEP_SECONDS)
    except Exception as exc:
        raised = type(exc).__name__
    finally:
        logger.removeHandler(handler)
    return {
        "records": [
            {
                "level": record.levelname,
                "exception": record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else None,
            }
            for record in handler.records
        ],
        "status": next((m.get("status") for m in sent if m.get("type") == "http.response.start"), None),
        "raised": raised,
    }


async def cancellation_report(catch_errors) -> dict:
    """Wrap an app that waits (for a database, say) with ``catch_errors``, cancel the call while
    the app waits, and report how the call ended ("cancelled", "returned", an exception's type
    or "still running"), what was sent and how many records the ``micro`` logger received."""
    waiting = asyncio.Event()

    async def slow_app(scope, receive, send):
        waiting.set()
        await asyncio.sleep(3600)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    logger, handler = logging.getLogger("micro"), _Records()
    logger.addHandler(handler)
    try:
        try:
            call = asyncio.ensure_future(catch_errors(slow_app)(_http_scope("GET", "/slow"), receive, send))
        except Exception as exc:
            return {"ended": type(exc).__name__, "sent": [], "records": 0}
        waiter = asyncio.ensure_future(waiting.wait())
        await asyncio.wait({call, waiter}, timeout=STEP_SECONDS, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        call.cancel()
        await asyncio.wait({call}, timeout=STEP_SECONDS)
        if not call.done():
            ended = "still running"
        elif call.cancelled():
            ended = "cancelled"
        else:
            ended = type(call.exception()).__name__ if call.exception() else "returned"
    finally:
        logger.removeHandler(handler)
    return {"ended": ended, "sent": [message.get("type") for message in sent], "records": len(handler.records)}


# --- Mount ------------------------------------------------------------------------------------


def scope_reporter(tag: str):
    """An ASGI app that answers with what it was given: its tag, and the scope's type, path
    and root_path. Over HTTP as a JSON body; over a WebSocket as one text message."""

    async def app(scope, receive, send):
        seen = {"tag": tag, "type": scope["type"], "path": scope.get("path"), "root_path": scope.get("root_path")}
        if scope["type"] == "http":
            await _JSON(seen)(scope, receive, send)
        elif scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.send", "text": json.dumps(seen)})
            await send({"type": "websocket.close", "code": 1000})
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return

    return app


async def mount_keeps_scope(Mount, prefix: str, path: str, root_path: str = "") -> dict:
    """Call ``Mount(prefix, scope_reporter("sub"))`` once; say whether the caller's scope dict
    was changed, and what the mounted app answered."""
    mount = Mount(prefix, scope_reporter("sub"))
    scope = _http_scope("GET", path, root_path)
    before = dict(scope)
    sent = await _get_once(mount, scope)
    body = b"".join(m.get("body", b"") for m in sent if m.get("type") == "http.response.body")
    return {"scope_unchanged": scope == before, "answer": body.decode("utf-8", "replace")}


# --- the FastAPI port -------------------------------------------------------------------------


def class_names(obj) -> list:
    """The names of the classes in ``type(obj).__mro__``: what kind of app this is."""
    return [cls.__name__ for cls in type(obj).__mro__]


def same_object(first, second) -> bool:
    """Whether two results (two calls of a factory) are one and the same object."""
    return first is second


def is_class(obj) -> bool:
    """Whether ``obj`` is a class (the grader's describe() calls a class whose instances are
    async callables an "async function")."""
    return isinstance(obj, type)
