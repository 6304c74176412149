"""The sandbox process: runs the learner's cells, then answers the grader's requests.

The grader (trusted) writes requests to our stdin and reads events from our stdout, one JSON
line each (see ``protocol``). Before anything else runs, those two descriptors are moved out
of the way and fds 0/1 are pointed at /dev/null and stderr, so a ``print`` in a learner's cell
lands in the log and cannot be mistaken for an event.

The first event, before any request, is ``ready``: the sandbox is confined and has imported
its own code (see ``autograder.sandbox.__main__``).

Requests (``op``) and the events they lead to:

    probes    {name, source}                 (no answer: the lesson's probes, made a module
                                                before the first cell runs: see ``probes``)
    load      {cells: [{id, source}]}        -> cell_start, cell (per cell), loaded
    reset     {}                             -> the same, from the cells last loaded, into a
                                                fresh namespace (a clean slate per test
                                                without the cost of a new process)
    describe  {id, name}                     -> described {defined, kind, signature}
    make      {id, name, args, kwargs, as}   -> made | raise        (call a factory, keep result)
    call      {id, name, args, kwargs}       -> return {value} | raise
    asgi      {id, name, scope}              -> receive | send ... then return | raise
    message   {id, message}                  (the answer to a ``receive`` or ``http`` event)
    tests     {id}                           -> return {value: the learner's test names}
    run_test  {id, name}                     -> http ... then return {value: verdict} | raise
                                                (a learner's own test, its requests forwarded
                                                to the grader: see ``learner_tests``)
    sent      {id, error}                    (the acknowledgement of a ``send`` event)

Arguments may name things that live here rather than travel: {"$name": "json_app"} is a
name the cells defined, {"$fixture": "hello_app"} one of ``fixtures``, and
{"$fixture": "lesson03.graph"} a name in the lesson's probes the grader sent (``probes``:
public code that builds inputs from a JSON description and reports in JSON) or in another
module of this package ("drives.drive_all"). A request whose ``name`` starts with "$fixture:"
calls such a probe instead of a learner's name.
"""

from __future__ import annotations

import ast
import asyncio
import faulthandler
import importlib
import inspect
import linecache
import os
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from . import fixtures, learner_tests, probes, protocol
from .protocol import Document

TOP_LEVEL_AWAIT = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


class Channel:
    """Our end of the pipe pair, taken over from fds 0 and 1 at start-up."""

    def __init__(self) -> None:
        self.in_fd = os.dup(0)
        self.out_fd = os.dup(1)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(2, 1)  # the learner's prints join stderr, which the grader caps and keeps
        os.close(devnull)
        sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
        self.reader: asyncio.StreamReader | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self.reader = reader = asyncio.StreamReader(limit=protocol.MAX_LINE)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(self.in_fd, "rb", 0))

    def emit(self, **event: Any) -> None:
        data = protocol.dumps(event)
        view = memoryview(data)
        while view:
            written = os.write(self.out_fd, view)
            view = view[written:]

    async def next_request(self) -> Document | None:
        assert self.reader is not None  # narrows the type for the checker  # noqa: S101
        line = await self.reader.readline()
        return protocol.loads(line) if line else None


def describe_error(exc: BaseException) -> Document:
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename.startswith("<cell ")]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc)
    # The learner's function the exception came out of: a router that calls an unsolved
    # echo_app should be told about echo_app.
    where = frames[-1].name if frames else None
    return {"type": type(exc).__name__, "message": str(exc)[:1000], "traceback": "".join(lines)[-4000:], "where": where}


class Pipe(Protocol):
    """What a ``Sandbox`` talks to the grader through: a ``Channel`` (the pipe pair), or, when the
    grader holds the code in its own process (``autograder.inprocess``), a loopback in memory."""

    def emit(self, **event: Any) -> None: ...

    async def next_request(self) -> Document | None: ...


class Sandbox:
    def __init__(self, channel: Pipe) -> None:
        self.channel = channel
        self.namespace: dict[str, Any] = {"__name__": "__main__"}
        self.inboxes: dict[int, asyncio.Queue[Document]] = {}  # by call id: the grader's answers
        self.tasks: set[asyncio.Task[None]] = set()
        self.cells: list[Document] = []

    # -- loading cells -------------------------------------------------------------------
    async def load(self, cells: list[Document]) -> None:
        self.cells = cells
        for cell in cells:
            self.channel.emit(event="cell_start", id=cell["id"])
            try:
                await self.run_cell(cell["id"], cell["source"])
            except BaseException as exc:  # SystemExit included: a cell may not end the grading
                self.channel.emit(event="cell", id=cell["id"], status="error", error=describe_error(exc))
            else:
                self.channel.emit(event="cell", id=cell["id"], status="ok")
        self.channel.emit(event="loaded")

    async def run_cell(self, cell_id: str, source: str) -> None:
        filename = f"<cell {cell_id}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        code = compile(source, filename, "exec", flags=TOP_LEVEL_AWAIT, dont_inherit=True)
        result = eval(code, self.namespace)  # the learner's cell, in the sandbox: its purpose  # noqa: S307
        if inspect.iscoroutine(result):  # the cell used a top-level await, as notebooks allow
            await result

    # -- requests --------------------------------------------------------------------------
    @staticmethod
    def fixture(reference: str) -> Any:
        module, _, name = reference.rpartition(".")
        home = (probes.find(module) or importlib.import_module(f".{module}", __package__)) if module else fixtures
        return getattr(home, name)

    def lookup(self, name: str) -> Any:
        if name.startswith("$fixture:"):
            return self.fixture(name.removeprefix("$fixture:"))
        return self.namespace[name]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"$name"}:
                return self.namespace[value["$name"]]
            if set(value) == {"$fixture"}:
                return self.fixture(value["$fixture"])
            return {key: self.resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        return value

    async def handle(self, request: Document) -> None:
        op: Any = request.get("op")  # off the wire: checked below, as each handler reads it
        call_id: Any = request.get("id")
        if op == "message" or op == "sent":
            inbox = self.inboxes.get(call_id)
            if inbox is not None:
                inbox.put_nowait(request)
            return
        if op == "probes":
            probes.install(request["name"], request["source"])
            return
        if op == "load":
            await self.load(request["cells"])
            return
        if op == "reset":
            for task in list(self.tasks):
                task.cancel()
            self.inboxes.clear()
            self.namespace = {"__name__": "__main__"}
            await self.load(self.cells)
            return
        if op == "describe":
            self.channel.emit(event="described", id=call_id, **self.describe(request["name"]))
            return
        if op == "tests":
            self.channel.emit(event="return", id=call_id, value=learner_tests.collect(self.namespace))
            return
        handler = {"make": self.make, "call": self.call, "asgi": self.asgi, "run_test": self.run_test}.get(op)
        if handler is None:
            self.channel.emit(
                event="raise",
                id=call_id,
                error={"type": "ProtocolError", "message": f"unknown op {op!r}", "traceback": ""},
            )
            return
        task = asyncio.ensure_future(self.guarded(handler, request))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def guarded(self, handler: Callable[[Document], Awaitable[None]], request: Document) -> None:
        try:
            await handler(request)
        except BaseException as exc:
            self.channel.emit(event="raise", id=request["id"], error=describe_error(exc))
            if isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError)):
                raise

    def describe(self, name: str) -> Document:
        if name not in self.namespace:
            return {"defined": False, "kind": None, "signature": None}
        obj = self.namespace[name]
        if inspect.isclass(obj):  # before the next test: a class may have an async __call__
            kind = "class"
        # getattr, not callable(): the method itself, for an instance with an async __call__
        elif inspect.iscoroutinefunction(obj) or inspect.iscoroutinefunction(getattr(obj, "__call__", None)):  # noqa: B004
            kind = "async function"
        elif callable(obj):
            kind = "function"
        else:
            kind = type(obj).__name__
        try:
            signature = str(inspect.signature(obj))
        except (TypeError, ValueError):
            signature = None
        return {"defined": True, "kind": kind, "signature": signature}

    async def invoke(self, request: Document) -> Any:
        function = self.lookup(request["name"])
        result = function(*self.resolve(request.get("args", [])), **self.resolve(request.get("kwargs", {})))
        if inspect.isawaitable(result):
            result = await result
        return result

    async def make(self, request: Document) -> None:
        self.namespace[request["as"]] = await self.invoke(request)
        self.channel.emit(event="made", id=request["id"])

    async def call(self, request: Document) -> None:
        value = await self.invoke(request)
        self.channel.emit(event="return", id=request["id"], value=value)

    async def asgi(self, request: Document) -> None:
        call_id = request["id"]
        app = self.lookup(request["name"])
        inbox: asyncio.Queue[Document] = asyncio.Queue()
        self.inboxes[call_id] = inbox

        async def receive() -> Document:
            self.channel.emit(event="receive", id=call_id)
            message: Document = (await inbox.get())["message"]
            return message

        async def send(message: Document) -> None:
            self.channel.emit(event="send", id=call_id, message=message)
            answer = await inbox.get()
            if answer.get("error"):
                raise RuntimeError(answer["error"])

        try:
            await app(request["scope"], receive, send)
        finally:
            del self.inboxes[call_id]
        self.channel.emit(event="return", id=call_id, value=None)

    async def run_test(self, request: Document) -> None:
        call_id = request["id"]
        inbox: asyncio.Queue[Document] = asyncio.Queue()
        self.inboxes[call_id] = inbox
        one_at_a_time = asyncio.Lock()  # answers come back in order: one request in flight

        async def forward(http_request: Document) -> Document:
            async with one_at_a_time:
                self.channel.emit(event="http", id=call_id, request=http_request)
                response: Document = (await inbox.get())["message"]
                return response

        try:
            verdict = await learner_tests.run(self.namespace[request["name"]], forward)
        finally:
            del self.inboxes[call_id]
        self.channel.emit(event="return", id=call_id, value=verdict)

    async def serve(self) -> None:
        while True:
            request = await self.channel.next_request()
            if request is None:
                return  # the grader closed the pipe: grading is over
            await self.handle(request)


async def main() -> None:
    channel = Channel()
    await channel.open()
    # A crash in compiled code (a segfault in a C extension) prints every thread's Python stack
    # to the log before the process dies of its signal: the grader names the learner's function
    # it happened in (``submission.crash_site``).
    faulthandler.enable(file=sys.stderr, all_threads=True)
    # Confined, and all of this imported: the grader may now send the learner's cells. Until
    # this event, whatever goes wrong is the grader's (``submission.SandboxNotReady``).
    channel.emit(event="ready")
    await Sandbox(channel).serve()
