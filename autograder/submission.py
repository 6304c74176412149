"""The learner's code as the trusted side sees it: a process at the end of a pipe.

``Submission`` starts a sandbox (forked from the sandbox template: ``autograder.template``)
with limits, feeds it the program's cells and then forwards requests to it. Nothing the
sandbox returns is a live object: results are JSON values, and an ASGI app is represented by
``asgi(name)``, an app that forwards every message across the pipe. Hidden tests can
therefore use a learner's app with any ASGI client (``httpx.ASGITransport``, asgi-lifespan,
hand-written receive/send) while the app runs in another process.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from coursekit.types import ASGIApp, Receive, Scope, Send

from . import template
from .errors import SandboxNotReady
from .jail import Jail
from .sandbox import protocol
from .sandbox.protocol import Document
from .types import Cell, CellReport, Limits, Probes

# One folder per user that grades: a folder another user made first could not be used.
SCRATCH_ROOT = Path(tempfile.gettempdir()) / f"autograder-sandboxes-{os.getuid()}"
# From its start until it says it is ready (confined, its own code imported), a sandbox runs
# nothing of the learner's: longer than this is the grader's failure, and only a machine
# stalled for a minute would take it.
READY_SECONDS = 60.0


def new_scratch(root: Path | None = None) -> Path:
    """A private working directory for one sandbox, in ``root`` (default ``SCRATCH_ROOT``;
    a run may keep its own inside it: ``Jail.scratch``).

    They all live in folders that are traversable but not listable (0711): a sandbox with a
    user id of its own must reach its own directory by absolute path (SQLite opens files
    that way) without learning its siblings' names; each directory itself is 0700 and
    handed to the sandbox's user by the jail.
    """
    for folder in dict.fromkeys([SCRATCH_ROOT, root or SCRATCH_ROOT]):
        folder.mkdir(mode=0o711, exist_ok=True)
        os.chmod(folder, 0o711)  # others may pass through, never list or write  # noqa: S103
    return Path(tempfile.mkdtemp(prefix="sandbox-", dir=root or SCRATCH_ROOT))


class SubmissionError(Exception):
    """Something about the learner's code, phrased for the learner."""


class SubmissionRaised(SubmissionError):
    def __init__(self, name: str, error: Document) -> None:
        self.error = error  # what the sandbox reported (``runner.describe_error``)
        detail = f": {error['message']}" if error.get("message") else ""
        hint = ""
        if error.get("type") == "NotImplementedError":
            # Raised in another function of the learner's (echo_app, called by router_app)?
            where = error.get("where")
            if where in (None, name, "<module>"):
                hint = " The exercise is not solved yet."
            else:
                hint = f" `{where}` is not solved yet: `{name}` calls it, so solve `{where}` first."
        super().__init__(f"Your `{name}` raised {error.get('type')}{detail}.{hint}")


class SubmissionTimedOut(SubmissionError):
    def __init__(self, name: str, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(
            f"Your `{name}` did not answer within {seconds:g} s. Is there an endless loop, or does it "
            "wait for a message that never comes?"
        )


class SubmissionCrashed(SubmissionError):
    def __init__(self, name: str, status: int | None = None, site: str | None = None) -> None:
        self.status = status  # the sandbox's exit status (negative: the signal that ended it), if known
        self.site = site  # where in the learner's cells it crashed (``crash_site``), if it said
        where = f" It crashed in {site}." if site else ""
        super().__init__(
            f"The process running your code ended while `{name}` was running ({ended_how(status)}).{where}"
        )


def crash_site(log: Path) -> str | None:
    """The learner's function a fatal signal struck, from the stacks Python's faulthandler wrote
    to the sandbox's log (``sandbox.runner``): the innermost frame of a cell in the thread that
    crashed ("`pages`, line 12 of your cell"), else in any thread; None if none is there."""
    try:
        with open(log, "rb") as file:
            file.seek(max(0, file.seek(0, os.SEEK_END) - 64 * 1024))
            text = file.read().decode(errors="replace")
    except OSError:
        return None
    report = text[text.rfind("Fatal Python error:") :] if "Fatal Python error:" in text else ""
    blocks = re.split(r"\n(?=(?:Current thread|Thread) 0x)", report)
    blocks.sort(key=lambda block: not block.startswith("Current thread"))
    for block in blocks:
        # faulthandler lists the most recent call first: the first cell frame is the innermost.
        found = re.search(r'File "<cell [^">]*>", line (\d+) in (\S+)', block)
        if found:
            line, function = found.groups()
            return f"`{function}`, line {line} of your cell" if function != "<module>" else f"line {line} of your cell"
    return None


def ended_how(status: int | None) -> str:
    """How a sandbox ended, from its exit status, in the learner's terms."""
    if status is None or status == -1:  # -1: the template could not tell (``template.Forked``)
        return "sys.exit, os._exit, a crash, or a memory or CPU limit"
    if status >= 0:
        return f"it exited with status {status}: sys.exit or os._exit"
    try:
        name = signal.Signals(-status).name
    except ValueError:
        name = f"signal {-status}"
    why = {
        "SIGXCPU": "it used up its CPU time",
        "SIGXFSZ": "it wrote a file larger than it may",
        "SIGSEGV": "a crash in compiled code",
        "SIGABRT": "a crash in compiled code",
        "SIGBUS": "a crash in compiled code",
        # The CPU limit too: a sandbox is pid 1 of its namespace, which the kernel's SIGXCPU does
        # not end, so it runs on to the hard limit, where the kernel sends SIGKILL.
        "SIGKILL": "killed: out of memory or out of CPU time",
    }.get(name, "ended by a signal")
    return f"{why}, {name}"


class Submission:
    def __init__(
        self, process: template.Forked | asyncio.subprocess.Process, limits: Limits, scratch: Path, jail: Jail = Jail()
    ) -> None:
        self.process = process
        self.jail = jail
        self.scratch = scratch
        self.limits = limits
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Queue[Document]] = {}  # by call id: its events
        self.loading: asyncio.Queue[Document] = asyncio.Queue()
        self.ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()  # False: it ended first
        self.reader = asyncio.ensure_future(self._read_events())
        self.ended = asyncio.Event()
        self.timed_out = False  # once the code ran out of time it may still be running: retire it

    # -- life cycle ----------------------------------------------------------------------
    @classmethod
    async def start(cls, limits: Limits = Limits(), jail: Jail = Jail(), probes: Probes | None = None) -> Submission:
        """A sandbox that is confined and ready for the learner's cells, with the lesson's
        ``probes``; ``SandboxNotReady`` (the grader's failure, not the learner's: none of their
        code ran) if it never is."""
        submission = await cls._started(limits, jail)
        await submission._until_ready()
        submission.send_probes(probes)
        return submission

    @classmethod
    async def _started(cls, limits: Limits, jail: Jail) -> Submission:
        scratch = new_scratch(Path(jail.scratch) if jail.scratch else None)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(scratch),
            "TMPDIR": str(scratch),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        process: template.Forked | asyncio.subprocess.Process
        if jail.template is None and not template.supported():
            process = await cls._interpreter(jail, scratch, limits, env)
        else:
            # Forked from a template that has imported the lessons' libraries (``autograder.template``):
            # the run's, or this process's own, started the first time (a second or so).
            address = jail.template if jail.template is not None else await asyncio.to_thread(template.running)
            request = jail.fork_request(address, scratch, limits, env)
            process = await template.spawn(address, {**request, "log": str(scratch / "output.log")})
        jail.record(process.pid, scratch)
        return cls(process, limits, scratch, jail)

    @staticmethod
    async def _interpreter(
        jail: Jail, scratch: Path, limits: Limits, env: dict[str, str]
    ) -> asyncio.subprocess.Process:
        """A sandbox as a new interpreter, where no template can fork one (not Linux, or a
        kernel older than 5.3): it imports everything itself, half a second of CPU or more."""
        with open(scratch / "output.log", "wb") as log:  # noqa: ASYNC230  (a local file, made at once)
            return await asyncio.create_subprocess_exec(
                *jail.command(scratch, limits),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                cwd=scratch,
                env=env,
                start_new_session=True,
                preexec_fn=jail.preexec(limits),
                limit=protocol.MAX_LINE,
            )

    async def _until_ready(self) -> None:
        try:
            ready = await asyncio.wait_for(asyncio.shield(self.ready), READY_SECONDS)
        except TimeoutError:
            ready = None
        if ready:
            return
        if ready is None:
            await self.close()
            raise SandboxNotReady(f"it did not say so within {READY_SECONDS:g} s of its start")
        try:  # it ended: its own exit status, rather than the one ``close`` gives it
            await asyncio.wait_for(self.process.wait(), 5)
        except TimeoutError:
            pass
        log = self.scratch / "output.log"  # the grader's own output: no learner code has run
        lines = [
            line for line in (log.read_text(errors="replace") if log.exists() else "").splitlines() if line.strip()
        ]
        said = f": {lines[-1].strip()[:500]}" if lines else ""
        await self.close()
        raise SandboxNotReady(f"it ended (exit status {self.process.returncode}) before it was ready{said}")

    async def close(self) -> None:
        """End the sandbox and everything it started (it leads its own process group)."""
        # What left the process group (setsid, a double fork) goes too: see ``Jail.end``.
        self.jail.end(self.process.pid)
        await self.process.wait()
        self.reader.cancel()
        if not self.ready.done():
            self.ready.set_result(False)
        shutil.rmtree(self.scratch, ignore_errors=True)

    # -- the pipe ------------------------------------------------------------------------
    async def _read_events(self) -> None:
        assert self.process.stdout is not None  # narrows the type for the checker  # noqa: S101
        try:
            while True:
                line = await self.process.stdout.readline()
                if not line:
                    break
                try:
                    event = protocol.loads(line)
                except ValueError:
                    continue  # garbage on the pipe answers nothing; the waiter times out
                call_id = event.get("id")
                if event.get("event") == "ready" and not self.ready.done():
                    self.ready.set_result(True)
                elif event.get("event") in ("cell_start", "cell", "loaded"):
                    self.loading.put_nowait(event)
                elif isinstance(call_id, int) and call_id in self.pending:
                    self.pending[call_id].put_nowait(event)
        finally:
            self.ended.set()
            if not self.ready.done():
                self.ready.set_result(False)
            for queue in self.pending.values():
                queue.put_nowait({"event": "ended"})
            self.loading.put_nowait({"event": "ended"})

    def _write(self, **request: Any) -> None:
        assert self.process.stdin is not None  # narrows the type for the checker  # noqa: S101
        if self.ended.is_set():
            return
        try:
            self.process.stdin.write(protocol.dumps(request))
        except (BrokenPipeError, ConnectionResetError):
            pass

    async def _next(self, queue: asyncio.Queue[Document], name: str, seconds: float) -> Document:
        if self.ended.is_set() and queue.empty():  # it ended before this request: nothing will answer
            raise await self.crashed(name)
        try:
            event = await _next_within(queue, seconds)
        except TimeoutError:
            self.timed_out = True
            raise SubmissionTimedOut(name, seconds) from None
        if event["event"] == "ended":
            raise await self.crashed(name)
        return event

    async def crashed(self, name: str) -> SubmissionCrashed:
        """How the sandbox ended while ``name`` ran: its exit status, and where the learner's code
        was when it died of a signal."""
        status = await self.exit_status()
        log = self.scratch / "output.log"
        return SubmissionCrashed(name, status, crash_site(log) if status is not None and status < 0 else None)

    async def exit_status(self) -> int | None:
        """The ended sandbox's exit status; None if it is not known within a second (its pipe
        closed a moment before it exited)."""
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.ensure_future(self.process.wait())), 1)
        except TimeoutError:
            return None

    # -- loading -------------------------------------------------------------------------
    def send_probes(self, probes: Probes | None) -> None:
        """Hand the sandbox the lesson's probes, before its first cell (see
        ``autograder.sandbox.probes``): it makes them a module, and answers nothing."""
        if probes is not None:
            self._write(op="probes", name=probes.name, source=probes.source)

    @property
    def reusable(self) -> bool:
        return not (self.ended.is_set() or self.timed_out)

    async def load(self, cells: list[Cell]) -> list[CellReport]:
        """Run the cells in order; report each. A cell that hangs ends the sandbox."""
        self._write(op="load", cells=[{"id": cell.id, "source": cell.source} for cell in cells])
        return await self._loaded(cells)

    async def reset(self, cells: list[Cell]) -> list[CellReport]:
        """Run the same cells again in a fresh namespace, in the same process."""
        self._write(op="reset")
        return await self._loaded(cells)

    async def _loaded(self, cells: list[Cell]) -> list[CellReport]:
        reports = {cell.id: CellReport(cell.id, "not run") for cell in cells}
        current = None
        while True:
            try:
                event = await _next_within(self.loading, self.limits.cell_seconds)
            except TimeoutError:
                if current is not None:
                    reports[current] = CellReport(
                        current, "timeout", f"did not finish within {self.limits.cell_seconds:g} s"
                    )
                self.timed_out = True
                await self.close()
                break
            kind = event["event"]
            if kind == "cell_start":
                current = event["id"]
            elif kind == "cell":
                error = event.get("error") or {}
                message = f"{error.get('type')}: {error.get('message')}" if error else ""
                reports[event["id"]] = CellReport(event["id"], event["status"], message)
                current = None
            elif kind == "loaded":
                break
            else:  # ended
                if current is not None:
                    reports[current] = CellReport(current, "crashed", "ended the process running it")
                break
        return list(reports.values())

    # -- requests ------------------------------------------------------------------------
    async def _request(self, name: str, op: str, **fields: Any) -> Document:
        call_id = next(self.ids)
        self.pending[call_id] = asyncio.Queue()
        try:
            self._write(op=op, id=call_id, name=name, **fields)
            event = await self._next(self.pending[call_id], name, self.limits.call_seconds)
        finally:
            del self.pending[call_id]
        if event["event"] == "raise":
            raise SubmissionRaised(name, event["error"])
        return event

    async def describe(self, name: str) -> Document:
        """{"defined": bool, "kind": "async function" | "function" | "class" | ..., "signature": str}"""
        return await self._request(name, "describe")

    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return (await self._request(name, "call", args=list(args), kwargs=kwargs))["value"]

    async def probe(self, reference: str, *args: Any, **kwargs: Any) -> Any:
        """Call a public probe in the sandbox ("lesson05.script": the lesson's
        ``sandbox_probes.py``; "drives.drive_all": ``autograder/sandbox/drives.py``) with JSON
        arguments, ``defined(...)`` and ``fixture(...)`` included; return its JSON result."""
        return await self.call(f"$fixture:{reference}", *args, **kwargs)

    async def make(self, factory: str, *args: Any, **kwargs: Any) -> str:
        """Call ``factory`` in the sandbox and keep its result there; return the result's name."""
        alias = f"_made_{next(self.ids)}"
        await self._request(factory, "make", args=list(args), kwargs=kwargs, **{"as": alias})
        return alias

    async def learner_tests(self) -> Any:
        """The names of the learner's own tests (``test_*`` functions), as the sandbox lists them."""
        return (await self._request("tests", "tests"))["value"]

    async def run_learner_test(self, name: str, answer: Callable[[Any], Awaitable[Document]]) -> Any:
        """Run the learner's test ``name`` in the sandbox; each request it sends comes here as
        plain data and is answered by ``answer`` (see ``autograder.learner_tests``). Returns the
        sandbox's report of the test, unchecked."""
        call_id = next(self.ids)
        queue: asyncio.Queue[Document] = asyncio.Queue()
        self.pending[call_id] = queue
        try:
            self._write(op="run_test", id=call_id, name=name)
            while True:
                event = await self._next(queue, name, self.limits.call_seconds)
                if event["event"] == "http":
                    self._write(op="message", id=call_id, message=await answer(event.get("request")))
                elif event["event"] == "return":
                    return event.get("value")
                elif event["event"] == "raise":
                    raise SubmissionRaised(name, event["error"])
        finally:
            self.pending.pop(call_id, None)

    def asgi(self, name: str, label: str | None = None) -> ASGIApp:
        """An ASGI app that forwards each call, message by message, to ``name`` in the sandbox."""
        shown = label or name

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            call_id = next(self.ids)
            queue: asyncio.Queue[Document] = asyncio.Queue()
            self.pending[call_id] = queue
            try:
                self._write(op="asgi", id=call_id, name=name, scope=scope)
                while True:
                    event = await self._next(queue, shown, self.limits.call_seconds)
                    kind = event["event"]
                    if kind == "receive":
                        self._write(op="message", id=call_id, message=await receive())
                    elif kind == "send":
                        try:
                            await send(event["message"])
                        except Exception as exc:  # the client refused the message: tell the app
                            self._write(op="sent", id=call_id, error=f"{type(exc).__name__}: {exc}")
                            raise
                        self._write(op="sent", id=call_id, error=None)
                    elif kind == "return":
                        return
                    elif kind == "raise":
                        raise SubmissionRaised(shown, event["error"])
            finally:
                self.pending.pop(call_id, None)

        return app


async def _next_within(queue: asyncio.Queue[Document], seconds: float) -> Document:
    """The queue's next event; ``TimeoutError`` after ``seconds``. Not ``asyncio.wait_for``: on
    Python 3.11 it swallows a cancellation that arrives just as the event does (CPython
    gh-86296), and a task cancelled so (a hidden test ending a conversation with the learner's
    app) then waits for ever for a message that no one will send."""
    async with asyncio.timeout(seconds):
        return await queue.get()


def fixture(name: str) -> Document:
    """An argument that stands for one of ``autograder.sandbox.fixtures`` inside the sandbox."""
    return {"$fixture": name}


def defined(name: str) -> Document:
    """An argument that stands for a name the learner's cells defined."""
    return {"$name": name}
