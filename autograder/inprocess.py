"""The learner's code as nbgrader's kernel holds it: the ``Submission`` API, in this process.

``nbgrader autograde`` runs a whole notebook in one kernel and scores its hidden-test cells.
For it to give the scores ``autograder grade`` gives, those cells run the same hidden suites
(``autograder.nbgrader_bridge``), and the suites reach the learner's code only through a
``submission``. ``InProcessSubmission`` is one over the kernel's namespace.

It is not a second implementation of the sandbox: it is ``Submission`` and the sandbox's own
``Sandbox`` wired back to back in one event loop, through a ``_Loopback`` that stands for the
pipes. Every request and event is still a line of ``protocol.dumps`` decoded by
``protocol.loads``, so values, errors, messages and per-call time limits are exactly those
of a real sandbox: tuples arrive as lists, bytes as bytes, the learner's exceptions as
``SubmissionRaised``, an app that stops answering as ``SubmissionTimedOut``.

What is lost is isolation: the learner's code shares the process with the tests, as it always
does under nbgrader. Grade with ``autograder grade`` wherever that matters.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import shutil
import tempfile
import threading
import time
from collections import ChainMap
from collections.abc import Iterator
from typing import Any

from .sandbox import protocol
from .sandbox.protocol import Document
from .sandbox.runner import Sandbox
from .submission import Submission
from .types import Cell, CellReport, Limits, Probes


@contextlib.contextmanager
def private_temporary_folder(prefix: str) -> Iterator[str]:
    """``tempfile``'s folder, for the length of the block, is a new one of its own, removed
    after it. The lessons' probes make their scratch files with ``tempfile``: in a sandbox they
    land in its scratch folder, which goes with it; run in this process (the reference, or the
    learner's code under nbgrader) they would stay in the machine's temporary folder for good."""
    folder = tempfile.mkdtemp(prefix=prefix)
    before, tempfile.tempdir = tempfile.tempdir, folder
    try:
        yield folder
    finally:
        tempfile.tempdir = before
        shutil.rmtree(folder, ignore_errors=True)


class Overtime(BaseException):
    """Raised by ``_Watchdog`` into learner code that has held the event loop too long."""


class _Loopback:
    """Both pipes between ``Submission`` and ``Sandbox``, in memory.

    To ``Submission`` it is the sandbox process (``stdin.write``, ``stdout``); to ``Sandbox``
    it is its ``Channel`` (``emit``, ``next_request``).
    """

    def __init__(self) -> None:
        self.stdin = self
        self.stdout = asyncio.StreamReader(limit=protocol.MAX_LINE)
        self.requests: asyncio.Queue[Document | None] = asyncio.Queue()

    def write(self, data: bytes) -> None:  # Submission -> Sandbox
        for line in data.splitlines():
            self.requests.put_nowait(protocol.loads(line))

    async def next_request(self) -> Document | None:
        return await self.requests.get()

    def emit(self, **event: Any) -> None:  # Sandbox -> Submission
        if (event.get("error") or {}).get("type") == Overtime.__name__:
            return  # a stuck sandbox answers nothing: the caller's time limit reports it
        self.stdout.feed_data(protocol.dumps(event))

    def close(self) -> None:
        self.requests.put_nowait(None)
        self.stdout.feed_eof()


class _Watchdog:
    """Interrupts learner code that blocks the event loop (``while True: pass``).

    In a sandbox such code stalls only its own process, and ``Submission``'s per-call time
    limit ends the call. Here it would stall the tests as well, because they share the loop.
    A thread checks that the loop keeps turning; once it has been stuck in a task for longer
    than a call may take, it raises ``Overtime`` in the loop's thread, which lands in the code
    that holds it. ``_Loopback`` drops the "raise" that follows, so the test sees what the
    sandbox would have caused: ``SubmissionTimedOut``, after the same time.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.loop = asyncio.get_running_loop()
        self.thread_id = threading.get_ident()
        self.last_turn = time.monotonic()
        self.stopped = threading.Event()
        threading.Thread(target=self._watch, name="autograder-watchdog", daemon=True).start()

    def _turned(self) -> None:
        self.last_turn = time.monotonic()

    def _watch(self) -> None:
        while not self.stopped.wait(0.2):
            try:
                self.loop.call_soon_threadsafe(self._turned)
            except RuntimeError:  # the loop is closed
                return
            stuck = time.monotonic() - self.last_turn > self.seconds
            if stuck and asyncio.current_task(self.loop) is not None:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.thread_id), ctypes.py_object(Overtime))
                self.last_turn = time.monotonic()

    def stop(self) -> None:
        self.stopped.set()


class InProcessSubmission(Submission):
    """``Submission``'s API (describe, call, make, probe, asgi) over a namespace in this process."""

    loopback: _Loopback
    sandbox: Sandbox
    serving: asyncio.Task[None]
    watchdog: _Watchdog

    @classmethod
    async def over(
        cls, namespace: dict[str, Any], limits: Limits = Limits(), probes: Probes | None = None
    ) -> InProcessSubmission:
        """Serve ``namespace`` (the kernel's ``__main__`` globals), which must already hold
        what the learner's cells defined, with the lesson's ``probes`` (made a module in this
        process as a sandbox makes them: ``autograder.sandbox.probes``). Must be called in the
        event loop the tests use."""
        loopback = _Loopback()
        # The loopback stands for the process, whose pipes are all ``Submission`` uses of it once
        # started; there is no scratch directory. (So the checker is told it is a process.)
        self = cls(loopback, limits, scratch=None)  # type: ignore[arg-type]
        self.loopback = loopback
        self.sandbox = Sandbox(loopback)
        # What ``make`` builds lands in the first map, not in the learner's globals. (A ChainMap
        # where a dict is declared: no cell is run in it, and only ``eval`` would mind.)
        self.sandbox.namespace = ChainMap({}, namespace)  # type: ignore[assignment]
        self.serving = asyncio.ensure_future(self.sandbox.serve())
        self.watchdog = _Watchdog(limits.call_seconds)
        self.send_probes(probes)
        return self

    @classmethod
    async def running(
        cls, cells: list[Cell], limits: Limits = Limits(), probes: Probes | None = None
    ) -> tuple[InProcessSubmission, list[CellReport]]:
        """Run ``cells`` in a fresh namespace of this process and serve it: how the trusted
        side holds the reference solution (``autograder.reference``)."""
        self = await cls.over({}, limits, probes)
        self.sandbox.namespace = {"__name__": "__main__"}  # cells are run with eval, which wants a dict
        return self, await self.load(cells)

    async def close(self) -> None:
        """Stop the learner's calls still running; a task that ignores cancelling is left."""
        self.watchdog.stop()
        tasks = [self.serving, *self.sandbox.tasks]
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=1.0)
        self.loopback.close()
        self.reader.cancel()
