"""coursekit.processes: forked workers end with their with-block; Redis from the wheel."""

import os
import signal
import socket
import time

import pytest

from coursekit.processes import forked, free_port, redis_server, wait_until


def test_free_port_is_bindable():
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_wait_until():
    start = time.monotonic()
    assert wait_until(lambda: time.monotonic() - start > 0.05, 2)
    assert not wait_until(lambda: False, 0.05)


def sleeper():
    time.sleep(60)


def test_forked_child_is_stopped_when_the_block_ends():
    with forked(sleeper) as child:
        assert child.is_alive()
    assert not child.is_alive() and child.exitcode == -signal.SIGTERM


def test_forked_child_ignoring_sigterm_is_killed():
    def stubborn():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(60)

    with forked(stubborn, grace=0.3) as child:
        time.sleep(0.2)
    assert child.exitcode == -signal.SIGKILL


def test_forked_child_runs_the_target():
    read, write = os.pipe()

    def child(fd):
        os.write(fd, b"hello")

    with forked(child, write) as process:
        process.join(5)
    os.close(write)
    assert os.read(read, 5) == b"hello"
    assert process.exitcode == 0


def test_redis_server_answers_on_loopback():
    redis = pytest.importorskip("redis")
    with redis_server() as url:
        assert url.startswith("redis://127.0.0.1:")
        client = redis.Redis.from_url(url)
        assert client.ping()
        client.close()



def test_forked_child_can_start_an_event_loop_from_inside_one():
    """A notebook cell runs inside the kernel's loop; its forked child must be free of it."""
    import asyncio

    read, write = os.pipe()

    def child(fd):
        async def answer():
            return b"ran"

        os.write(fd, asyncio.run(answer()))

    async def cell():
        with forked(child, write) as process:
            process.join(5)
        return process.exitcode

    assert asyncio.run(cell()) == 0
    os.close(write)
    assert os.read(read, 3) == b"ran"
