"""The sandbox template: one interpreter that imports the lessons' libraries once, then forks
a sandbox for each request of the grader.

A sandbox started as a new interpreter spends most of its start importing what the learner's
cells import (FastAPI, SQLAlchemy, httpx: 0.5 to 0.7 CPU-seconds, more than most submissions
take to grade), and a run starts many. The template pays that once per grading process: a
fork copies the imported modules in milliseconds.

``python -I -m autograder.sandbox.template SOCKET MODULE...`` reads a token from stdin,
imports the MODULEs (those installed), listens on SOCKET, says ``ready`` on stdout, and serves
until its stdin closes (its starter is gone: ``autograder.template``).

Trust. The template runs trusted code only, as the grader's user and unconfined; it never sees
a hidden test, a solution or a learner's code: it imports libraries and forks. Each fork
becomes a sandbox exactly as a new interpreter does (``launch.run``: confined by its own spec
before it reads a line from the grader, ready, serving), once it has

- closed every descriptor but the three the grader passed with the request (the pipe it reads
  requests from, as fd 0, the one it writes events to, as fd 1, and its log, as fd 2): the
  template's socket and stdin and every other sandbox's connection are gone;
- left the template's session (a process group of its own, which the grader ends with it);
- set its resource limits and joined a memory group of its own (``limits``);
- taken the environment and working folder the grader gave it.

What a fork keeps is the template's memory: the libraries, and the requests it has read
(scratch and hidden paths: what a sandbox's own spec says anyway; no contents).

Who may ask. A request asks for a process that runs code as the grader's user until it confines
itself, so only the grader may ask. What keeps a sandbox out is what keeps it from the hidden
tests: the socket lives in a folder only the grader's user may enter (0700), which no
sandbox's view contains (the grader hides it besides), and the peer must be the template's
own user (``SO_PEERCRED``), which a sandbox with a user id of its own is not. A request must
also carry the token the template read at its start (its starter hands it to its workers):
that keeps out other programs of the grader's user, not a sandbox, whose memory is a copy of
ours (the tests' attack "ask-the-template" tries it).

Protocol (AF_UNIX, SOCK_SEQPACKET, one connection per sandbox). The grader sends one message,
JSON {"token", "spec" (``confine.enter``'s), "limits": [cpu s, memory, output bytes], "memory":
a group to join or null, "env", "cwd"}, with three descriptors: the sandbox's ends of its
two pipes, and its log. The template answers {"pid": n} once forked, and {"exit": status}
(``os.waitstatus_to_exitcode``) when that process has ended; then it closes the connection.
"""

from __future__ import annotations

import hmac
import importlib
import json
import os
import select
import signal
import socket
import struct
import sys
import tempfile
import traceback
from typing import Any

from . import launch, limits

REQUEST_BYTES = 1 << 20


def main(argv: list[str]) -> int:
    path, modules = argv[0], argv[1:]
    token = sys.stdin.readline().strip()
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # not installed here: a sandbox imports it itself if a cell asks
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C reaches the grader, which ends us
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(64)
    print("ready", flush=True)
    Template(listener, token).serve()
    return 0


class Template:
    def __init__(self, listener: socket.socket, token: str) -> None:
        self.listener = listener
        self.token = token.encode()
        self.lifeline = sys.stdin.fileno()
        self.waiting: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, its connection)

    def serve(self) -> None:
        while True:
            readable, _, _ = select.select([self.listener, self.lifeline, *self.waiting], [], [])
            if self.lifeline in readable and not os.read(self.lifeline, 4096):
                return  # the grader is gone; the sandboxes it started are its to end
            if self.listener in readable:
                self.accept()
            for pidfd in readable:
                if pidfd in self.waiting:
                    self.reap(pidfd)

    def accept(self) -> None:
        connection, _ = self.listener.accept()
        connection.settimeout(5)  # a request comes with the connection; never wait long for one
        fds: list[int] = []
        try:
            message, fds, _, _ = socket.recv_fds(connection, REQUEST_BYTES, 3)
            request = json.loads(message)
            if not (self.peer_is_us(connection) and hmac.compare_digest(str(request["token"]).encode(), self.token)):
                raise PermissionError("not the grader")
            if len(fds) != 3:
                raise ValueError("a request brings three descriptors")
            pid = os.fork()
            if pid == 0:
                self.token = b""  # a fork keeps our memory, but need not keep a reference to it
                become_sandbox(request, fds)  # never returns
            try:
                pidfd = os.pidfd_open(pid)  # Linux 5.3 on: readable once the process has ended
            except OSError:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise
            connection.sendall(json.dumps({"pid": pid}).encode())
            self.waiting[pidfd] = (pid, connection)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"request refused: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            connection.close()
        finally:
            for fd in fds:
                os.close(fd)

    def peer_is_us(self, connection: socket.socket) -> bool:
        _, uid, _ = struct.unpack("3i", connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        return bool(uid == os.getuid())

    def reap(self, pidfd: int) -> None:
        pid, connection = self.waiting.pop(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        try:
            connection.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode())
        except OSError:
            pass  # the grader stopped listening: it ended the sandbox itself
        connection.close()


def become_sandbox(request: dict[str, Any], fds: list[int]) -> None:
    """In the fork: from a copy of the template to a sandbox, as the module's text lists."""
    code = 1
    try:
        os.setsid()
        requests, events, log = fds
        os.dup2(requests, 0)
        os.dup2(events, 1)
        os.dup2(log, 2)
        os.closerange(3, _max_fd())
        sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
        sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
            signal.signal(number, signal.default_int_handler if number == signal.SIGINT else signal.SIG_DFL)
        limits.apply(*request["limits"])
        if request.get("memory"):
            memory = request["memory"]
            group = memory["group"].format(pid=os.getpid())
            limits.join_memory_group(group, memory["limit_file"], memory["limit_bytes"], memory["with_swap"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        tempfile.tempdir = None  # found again, from the new TMPDIR, if a library asked already
        code = launch.run(request["spec"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: S110  (a stream the learner closed: nothing left to say)
                pass
        os._exit(code)


def _max_fd() -> int:
    return os.sysconf("SC_OPEN_MAX") if os.sysconf("SC_OPEN_MAX") > 0 else 1 << 16


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
