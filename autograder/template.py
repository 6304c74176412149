"""The sandbox template, from the grader's side: started once per process, asked for each sandbox.

``autograder.sandbox.template`` says what the template is and why it is safe. Here: ``running()``
starts this process's template (again, if it died) and returns its ``Address``; a grading run
hands that address to its workers, whose sandboxes are forked from it (``spawn``). A sandbox
forked so is a ``Forked``: what ``autograder.submission`` needs of a process, although the
sandbox is the template's child, not ours.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from .errors import SandboxNotReady
from .sandbox import protocol

# What the template imports before its first fork: the sandbox's own code, and the libraries
# the lessons' cells import that cost most to import (FastAPI and SQLAlchemy: 0.3 to 0.5 CPU-s
# each). Only libraries whose import reads nothing of the process's surroundings (its home,
# working folder, temporary folder, environment), which a fork changes: not ``coursekit``
# (``submit`` reads the home), not matplotlib (its config folder).
PRELOAD = (
    "autograder.sandbox.runner",
    "fastapi",
    "fastapi.responses",
    "starlette.applications",
    "starlette.routing",
    "starlette.responses",
    "pydantic",
    "sqlalchemy",
    "sqlalchemy.ext.asyncio",
    "aiosqlite",
    "asgi_lifespan",
)
READY_SECONDS = 60.0  # as for a sandbox (``submission.READY_SECONDS``): only a stalled machine takes it


@dataclass(frozen=True)
class Address:
    """Where a template listens, and the token its requests must carry."""

    socket: str
    token: str

    @property
    def folder(self) -> str:
        return os.path.dirname(self.socket)

    def as_json(self) -> dict[str, str]:
        return {"socket": self.socket, "token": self.token}


class Template:
    """A running template: its process (whose stdin we hold: closed, the template ends) and folder."""

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="autograder-template-")  # 0700: the grader's alone
        self.address = Address(os.path.join(self.folder, "socket"), secrets.token_hex(16))
        log = open(os.path.join(self.folder, "template.log"), "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-m", "autograder.sandbox.template", self.address.socket, *PRELOAD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=self.folder,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"},
            start_new_session=True,  # a Ctrl-C is the grader's to handle; it ends us with it
        )
        log.close()
        assert self.process.stdin is not None and self.process.stdout is not None  # noqa: S101  (narrows)
        # The token goes by pipe: a command line is readable by every user of the machine.
        self.process.stdin.write(self.address.token.encode() + b"\n")
        self.process.stdin.flush()
        said = _read_line(self.process.stdout, READY_SECONDS)
        if said.strip() != b"ready":
            self.stop()
            raise SandboxNotReady(f"the sandbox template did not start: {self.log_tail() or 'it said nothing'}")

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self) -> str:
        path = Path(self.folder) / "template.log"
        lines = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
        return lines[-1][:500] if lines else ""

    def stop(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout:  # at its end now, so a reader still waiting on it has returned
            self.process.stdout.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _read_line(stream: IO[bytes], seconds: float) -> bytes:
    line: list[bytes] = []
    reader = threading.Thread(target=lambda: line.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(seconds)
    return line[0] if line else b""


@lru_cache(maxsize=1)
def supported() -> bool:
    """Whether a template can serve here: it learns that a sandbox has ended from a pidfd
    (Linux 5.3 on), and checks who asks with SO_PEERCRED (Linux). Elsewhere each sandbox is a
    new interpreter (``submission.Submission``)."""
    if not (sys.platform.startswith("linux") and hasattr(os, "pidfd_open")):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return False
    return True


_template: Template | None = None
_starting = threading.Lock()


def running() -> Address:
    """This process's template, started now if there is none or it died."""
    global _template
    with _starting:
        if _template is None or not _template.alive:
            if _template is not None:
                _template.stop()
            else:
                atexit.register(_stop)
            _template = Template()
        return _template.address


def _stop() -> None:
    if _template is not None:
        _template.stop()


class Forked:
    """A sandbox forked by the template, as ``asyncio.subprocess.Process`` would show it:
    ``pid``, ``stdin`` (a transport: ``write``, ``close``) and ``stdout`` (a reader), ``wait()`` and
    ``returncode``. The template tells us its exit status over the request's connection; if
    the template itself is gone, the status is unknown (-1)."""

    def __init__(
        self, pid: int, connection: socket.socket, reader: asyncio.StreamReader, writer: asyncio.WriteTransport
    ) -> None:
        self.pid = pid
        self.stdin = writer
        self.stdout = reader
        self.returncode: int | None = None
        self.connection = connection
        self.ended = asyncio.ensure_future(self._exit_status())

    async def _exit_status(self) -> int:
        loop = asyncio.get_running_loop()
        try:
            said = await loop.sock_recv(self.connection, 4096)
            status = int(json.loads(said)["exit"]) if said else -1
        except (OSError, ValueError, KeyError, TypeError):
            status = -1
        finally:
            self.connection.close()
        return status

    async def wait(self) -> int:
        self.returncode = await asyncio.shield(self.ended)
        self.stdin.close()
        return self.returncode


async def spawn(address: Address, request: dict[str, Any]) -> Forked:
    """Ask the template at ``address`` for a sandbox (``request``: ``Jail.fork_request``, and
    ``"log"``: the path of its log); ``SandboxNotReady`` if it cannot.

    The sandbox gets two pipes, as a new interpreter would: one to read requests from, one to
    write events to. (One socket for both would share its O_NONBLOCK between them: the
    sandbox's reader sets it, and its writes would then fail whenever the grader is slow.)"""
    requests_in, requests_out = os.pipe()
    events_in, events_out = os.pipe()
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    log = os.open(request.pop("log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    pid = None
    try:
        connection.settimeout(5)
        connection.connect(address.socket)  # local, and accepted at once: no need to await
        message = json.dumps({**request, "token": address.token}).encode()
        socket.send_fds(connection, [message], [requests_in, events_out, log])
        connection.setblocking(False)
        said = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(connection, 4096), READY_SECONDS)
        pid = int(json.loads(said)["pid"]) if said else None
        if pid is None:
            raise SandboxNotReady("the sandbox template refused to fork it (see its log)")
    except (OSError, ValueError, KeyError, TimeoutError) as exc:
        raise SandboxNotReady(f"the sandbox template could not fork it ({type(exc).__name__}: {exc})") from None
    finally:
        for fd in (requests_in, events_out, log):
            os.close(fd)
        if pid is None:
            connection.close()
            os.close(requests_out)
            os.close(events_in)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=protocol.MAX_LINE)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(events_in, "rb", 0))
    writer, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(requests_out, "wb", 0))
    return Forked(pid, connection, reader, writer)
