"""The Redis ``serve`` runs itself (``broker``), supervised (``processes.Supervisor``): killed
with SIGKILL it is started again as the same broker, holding what it held."""

from __future__ import annotations

import signal
import time

import redis

from autograder.service.broker import OwnBroker
from autograder.service.processes import Supervisor
from autograder.service.settings import Settings
from coursekit.processes import wait_until


def test_a_killed_broker_comes_back_at_its_url_with_its_queue(tmp_path):
    own = OwnBroker.fresh(tmp_path / "data" / "broker")
    supervisor = Supervisor(Settings(data=str(tmp_path / "data")), ["broker"], own)
    supervisor.start()
    client = redis.Redis.from_url(own.url, socket_timeout=1)
    try:
        client.lpush("dramatiq:grading", "a submission's message")
        time.sleep(1.5)  # the append-only file is synced each second
        [first] = supervisor.children
        first.send_signal(signal.SIGKILL)
        first.wait()
        supervisor.restart_dead()
        [second] = supervisor.children
        assert second.pid != first.pid and second.poll() is None

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        assert wait_until(answers, 10, 0.05)  # the same URL: port and password, as every process was told
        assert client.lrange("dramatiq:grading", 0, -1) == [b"a submission's message"]
    finally:
        client.close()
        supervisor.stop()
    assert all(child.poll() is not None for child in supervisor.children)


def test_a_new_serve_starts_its_broker_empty_with_a_new_password(tmp_path):
    folder = tmp_path / "broker"
    first = OwnBroker.fresh(folder)
    (folder / "appendonly.aof").write_text("left by an earlier serve")
    second = OwnBroker.fresh(folder)
    assert not (folder / "appendonly.aof").exists() and first.password != second.password
    assert folder.stat().st_mode & 0o777 == 0o700
