"""Running the service's real processes from a test: start, wait until ready, read the database."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess

import httpx

from autograder.service import processes
from autograder.service.settings import Settings
from coursekit.processes import free_port, wait_until


def ready(url: str) -> bool:
    try:
        return httpx.get(url + "/api/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def start_web(settings: Settings, timeout: float = 60) -> subprocess.Popen:
    web = processes.start("web", settings)
    url = f"http://127.0.0.1:{settings.port}"
    if not wait_until(lambda: ready(url) or web.poll() is not None, timeout, 0.1) or web.poll() is not None:
        web.kill()
        raise RuntimeError(f"the web app did not start within {timeout:g} s")
    return web


def with_port(settings: Settings) -> Settings:
    return settings.with_changes(port=free_port())


def query(settings: Settings, sql: str, *args) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(settings.folder / "service.db", timeout=30)) as connection:
        return connection.execute(sql, args).fetchall()


def stop(*children: subprocess.Popen) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
