"""Run an ASGI app on a real server, in the background, for the length of a with-block.

    with serve(app) as running:
        response = httpx.get(running.url + "/items")

Three decisions, and why:

- **A thread with its own event loop.** A Jupyter kernel's main thread already runs an
  asyncio loop (that is what makes top-level ``await`` work), and one thread cannot run
  two loops. So the server gets a daemon thread and a fresh loop, and the cell stays free
  to be the client.
- **We bind the socket ourselves, on 127.0.0.1 port 0.** Port 0 asks the operating system
  for any free port, so two notebooks never fight over 8000, and 127.0.0.1 means only
  this machine can connect: the course never listens on a public address.
- **The with-block owns the server.** Leaving the block, normally or through an
  exception, asks the server to stop gracefully, forces it if that takes too long, and
  waits for the thread, so no server outlives the cell that started it.

The module also has ``run_blocking``, the same "get off the notebook's loop" idea for
code that must block until an async function finishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar, cast, get_args

from coursekit.types import ASGIApp, Receive, Scope, Send

__all__ = ["Running", "run_blocking", "serve", "server_names"]

HOST = "127.0.0.1"  # loopback only, always
SERVERS = ("uvicorn", "hypercorn")
Lifespan = Literal["auto", "on", "off"]  # uvicorn's words; hypercorn takes "on" as "auto"
LIFESPAN_MODES: tuple[Lifespan, ...] = get_args(Lifespan)

T = TypeVar("T")


@dataclass(frozen=True)
class Running:
    """Where a server started by ``serve`` listens."""

    host: str
    port: int
    server: str  # "uvicorn" or "hypercorn"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def server_names() -> list[str]:
    """The ASGI servers ``serve`` supports that can be imported here."""
    names = []
    for name in SERVERS:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        names.append(name)
    return names


# --- one small adapter per server -----------------------------------------------------------
#
# Each adapter knows how to run its server on our socket (``run``, in the server thread),
# whether it is serving yet, and how to stop it from another thread: politely first
# (``request_stop``), then firmly (``force_stop``).


class _Adapter(Protocol):
    def run(self) -> None: ...
    def is_started(self) -> bool: ...
    def request_stop(self) -> None: ...
    def force_stop(self) -> None: ...


class _Uvicorn:
    def __init__(self, app: ASGIApp, sock: socket.socket, lifespan: Lifespan, options: dict[str, Any]) -> None:
        import uvicorn

        options = {"log_level": "warning", **options}  # quiet unless the lesson asks
        self._server = uvicorn.Server(uvicorn.Config(app, lifespan=lifespan, **options))
        self._sock = sock

    def run(self) -> None:
        # Server.run creates the loop uvicorn would use on its own (uvloop when installed).
        # Outside the main thread uvicorn installs no signal handlers, which is what we want.
        self._server.run(sockets=[self._sock])

    def is_started(self) -> bool:
        return self._server.started

    def request_stop(self) -> None:
        # uvicorn's main loop looks at this flag ten times a second: the same flag its
        # Ctrl+C handler sets.
        self._server.should_exit = True

    def force_stop(self) -> None:
        # The second Ctrl+C: stop waiting for open connections and the lifespan shutdown.
        self._server.force_exit = True


class _Hypercorn:
    def __init__(self, app: ASGIApp, sock: socket.socket, lifespan: Lifespan, options: dict[str, Any]) -> None:
        from hypercorn.config import Config, Sockets

        config = Config()
        config.loglevel = "WARNING"  # quiet unless the lesson asks
        host, port = sock.getsockname()[:2]
        config.bind = [f"{host}:{port}"]

        def our_socket() -> Sockets:
            return Sockets(secure_sockets=[], insecure_sockets=[sock], quic_sockets=[])

        # hypercorn asks its config for the listening sockets: hand it the one we bound.
        config.create_sockets = our_socket  # type: ignore[method-assign]
        for name, value in options.items():
            if not hasattr(Config, name):
                raise TypeError(f"hypercorn's Config has no setting {name!r}")
            setattr(config, name, value)
        self._config = config
        # hypercorn always tries the lifespan protocol; "off" hides it from the app.
        self._app = _without_lifespan(app) if lifespan == "off" else app
        self._address = (host, port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._stop_requested = False

    def run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        from hypercorn.asyncio import serve as hypercorn_serve
        from hypercorn.typing import ASGIFramework

        self._task = asyncio.current_task()
        self._loop = asyncio.get_running_loop()
        if self._stop_requested:  # asked to stop before the loop existed
            self._stop.set()
        # hypercorn serves until shutdown_trigger returns: here, until _stop is set.
        # hypercorn spells ASGI's scopes and messages as TypedDicts, Starlette (and we) as
        # mappings: the same dicts at run time, two vocabularies to a type checker.
        app = cast(ASGIFramework, self._app)
        await hypercorn_serve(app, self._config, shutdown_trigger=self._stop.wait, mode="asgi")

    def is_started(self) -> bool:
        # hypercorn has no "started" flag; it is serving once it accepts a connection.
        # (Before hypercorn calls listen() on our socket, connecting is refused.)
        try:
            with socket.create_connection(self._address, timeout=0.5):
                return True
        except OSError:
            return False

    def _in_server_loop(self, callback: Callable[[], object]) -> None:
        if self._loop is not None:
            # asyncio objects are not thread-safe: ask the server's loop to do it.
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                self._loop.call_soon_threadsafe(callback)

    def request_stop(self) -> None:
        self._stop_requested = True
        self._in_server_loop(self._stop.set)

    def force_stop(self) -> None:
        task = self._task
        if task is not None:
            self._in_server_loop(task.cancel)


def _without_lifespan(app: ASGIApp) -> ASGIApp:
    async def app_without_lifespan(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return  # an app that returns at once: the server carries on without lifespan
        await app(scope, receive, send)

    return app_without_lifespan


_ADAPTERS: dict[str, Callable[..., _Adapter]] = {"uvicorn": _Uvicorn, "hypercorn": _Hypercorn}


# --- serve ----------------------------------------------------------------------------------


@contextlib.contextmanager
def serve(
    app: ASGIApp,
    *,
    server: str = "uvicorn",
    lifespan: Lifespan = "auto",
    timeout: float = 10.0,
    **options: Any,
) -> Iterator[Running]:
    """Serve ``app`` on http://127.0.0.1:<free port> until the with-block ends.

    ``server`` is "uvicorn" or "hypercorn"; ``lifespan`` is "auto", "on" or "off" (for
    hypercorn, "on" behaves as "auto"); ``options`` go to the server's config (for example
    ``log_level="info"`` for uvicorn, ``loglevel="INFO"`` for hypercorn). ``timeout`` bounds
    the wait for the server to start, and each of the two stopping steps.
    """
    if server not in _ADAPTERS:
        raise ValueError(f"server must be one of {list(_ADAPTERS)}, not {server!r}")
    if lifespan not in LIFESPAN_MODES:
        raise ValueError(f"lifespan must be one of {list(LIFESPAN_MODES)}, not {lifespan!r}")

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, 0))
        host, port = sock.getsockname()[:2]
        adapter = _ADAPTERS[server](app, sock, lifespan, options)
        errors: list[BaseException] = []

        def run_server() -> None:
            try:
                adapter.run()
            except BaseException as exc:  # SystemExit too: uvicorn exits on a failed startup
                errors.append(exc)

        thread = threading.Thread(target=run_server, name=f"coursekit-serve-{server}-{port}", daemon=True)
        thread.start()
        try:
            _wait_until_started(adapter, thread, errors, server, timeout)
            yield Running(host=host, port=port, server=server)
        finally:
            _stop(adapter, thread, server, timeout)
    finally:
        sock.close()  # the servers close it too; closing twice is harmless


def _wait_until_started(
    adapter: _Adapter, thread: threading.Thread, errors: list[BaseException], name: str, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while not adapter.is_started():
        if not thread.is_alive():
            error = errors[0] if errors else None
            raise RuntimeError(
                f"{name} stopped before it started serving ({error!r}); its log above says why, "
                "often an exception in the app's lifespan startup"
            ) from error
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start within {timeout:g} s")
        time.sleep(0.01)


def _stop(adapter: _Adapter, thread: threading.Thread, name: str, timeout: float) -> None:
    adapter.request_stop()
    thread.join(timeout)
    if thread.is_alive():
        adapter.force_stop()
        thread.join(timeout)
    if thread.is_alive():
        # A thread cannot be killed from outside. It is a daemon, so it ends with the
        # kernel; warn rather than raise, so an exception from the with-block stays visible.
        warnings.warn(
            f"the {name} server thread did not stop within {2 * timeout:g} s (is a request handler blocking forever?)",
            RuntimeWarning,
            stacklevel=3,
        )


# --- blocking until async code is done, even inside a notebook ------------------------------


def run_blocking(fn: Callable[[], T], *, timeout: float | None = None) -> T:
    """Call ``fn()`` and return its result, off this thread's event loop if it has one.

    ``fn`` typically calls ``asyncio.run(...)``, which refuses to start inside a running
    loop, as in a Jupyter cell. Then ``fn`` runs in a fresh daemon thread, and this call
    waits for it (at most ``timeout`` seconds, then TimeoutError). Without a running loop,
    ``fn`` simply runs here.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn()

    outcome: dict[str, Any] = {}

    def call() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=call, name="coursekit-run-blocking", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"did not finish within {timeout:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return cast(T, outcome["value"])  # what fn() returned
