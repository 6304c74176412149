"""The Redis ``serve`` runs itself (unless --broker names one), supervised like its other processes.

Every other process was given the broker's URL once, in its environment, so the broker must
come back as the same broker: one port, one password and one folder for the life of ``serve``,
and a restart is the same command again. What it held comes back too: it keeps an append-only
file (synced each second), so the queue's messages and the workers' unacknowledged ones survive
a SIGKILL. The second or so it may lose is the database's to repair, as for any lost message:
the row is the job, and the web app's sweeper sends again what stays queued (``app.sweep``);
the clients (Dramatiq's consumers, the progress subscription, the web app's sends) reconnect
on their own.

The folder is emptied when ``serve`` starts: what a broker of an earlier ``serve`` held is
in the database too, and that start-up sends every queued row again.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from coursekit.processes import free_port, redis_command, redis_url, wait_for_redis

from .settings import private_folder


@dataclass(frozen=True)
class OwnBroker:
    folder: Path
    port: int = field(default_factory=free_port)
    # New for each ``serve``: a submission graded without a network namespace (``uid`` mode)
    # shares loopback with it, and could otherwise enqueue or delete jobs. It reaches the
    # other processes in their environment (``Settings.to_environment``), which another user
    # id cannot read, and Redis in a file of the private folder, never on a command line.
    password: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @classmethod
    def fresh(cls, folder: Path) -> OwnBroker:
        shutil.rmtree(folder, ignore_errors=True)
        return cls(private_folder(folder))

    @property
    def url(self) -> str:
        return redis_url(self.port, self.password)

    def start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            redis_command(str(self.folder), self.port, self.password, persist=True),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start_ready(self, timeout: float = 10.0) -> subprocess.Popen[bytes]:
        """Started, and answering (the first start: the web app and workers need it at once)."""
        server = self.start()
        try:
            wait_for_redis(server, self.url, timeout)
        except BaseException:
            server.kill()
            server.wait()
            raise
        return server
