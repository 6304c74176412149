"""coursekit.processes: forked workers and server commands end with their with-block; Redis from the wheel."""

import os
import signal
import socket
import sys
import time

import pytest

from coursekit.processes import dramatiq_worker, forked, free_port, redis_server, server_process, wait_until


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


def test_a_forked_dramatiq_worker_runs_jobs_and_stops_on_sigterm(tmp_path):
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    done = tmp_path / "done"

    def note(number):
        with open(done, "a") as out:
            out.write(f"{number}\n")

    with redis_server() as url:
        broker = RedisBroker(url=url)
        job = dramatiq.actor(note, broker=broker, actor_name="note")
        for number in range(3):
            job.send(number)
        with forked(dramatiq_worker, broker) as worker:
            assert wait_until(lambda: done.exists() and len(done.read_text().split()) == 3, 10)
            os.kill(worker.pid, signal.SIGTERM)
            worker.join(10)
            assert worker.exitcode == 0, "SIGTERM stops the worker cleanly"
        broker.close()
    assert sorted(done.read_text().split()) == ["0", "1", "2"]


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


# A supervisor, as gunicorn or `uvicorn --workers` is: it forks two workers that sleep, then
# serves GET / itself. With IGNORE_TERM it ignores SIGTERM, as a stuck supervisor would.
SUPERVISOR = """
import http.server
import os
import signal
import sys
import time

port, ignore_term = int(sys.argv[1]), sys.argv[2] == "IGNORE_TERM"
for _ in range(2):
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a worker that outlives its supervisor unless killed
        time.sleep(60)
        os._exit(0)
if ignore_term:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("supervising", flush=True)
http.server.HTTPServer(("127.0.0.1", port), http.server.SimpleHTTPRequestHandler).serve_forever()
"""


def supervisor(tmp_path, *, ignore_term=False):
    script = tmp_path / "supervisor.py"
    script.write_text(SUPERVISOR)
    port = free_port()
    return [sys.executable, str(script), str(port), "IGNORE_TERM" if ignore_term else "-"], port


def test_server_process_answers_lists_its_workers_and_leaves_nothing(tmp_path):
    command, port = supervisor(tmp_path)
    with server_process(command, port=port, cwd=tmp_path, grace=1) as server:
        assert server.url == f"http://127.0.0.1:{port}" and server.answers("/")
        assert wait_until(lambda: len(server.workers()) == 2, 5)
        workers = server.workers()
        assert wait_until(lambda: "supervising" in server.output, 5)
    assert server.gone() == [] and all(pid in server.seen for pid in workers)


def test_a_supervisor_ignoring_sigterm_is_killed_with_its_whole_session(tmp_path):
    command, port = supervisor(tmp_path, ignore_term=True)
    with server_process(command, port=port, cwd=tmp_path, grace=0.5) as server:
        wait_until(lambda: len(server.workers()) == 2, 5)
    assert server.process.returncode == -signal.SIGKILL and server.gone() == []


def test_server_process_started_without_waiting_then_waited_for(tmp_path):
    command, port = supervisor(tmp_path)
    with server_process(command, port=port, cwd=tmp_path, ready_path=None, grace=1) as server:
        server.wait_ready("/", timeout=10)
        assert server.answers("/")


def test_a_server_that_exits_before_answering_is_reported_with_its_output(tmp_path):
    command = [sys.executable, "-c", "print('cannot start: port taken'); raise SystemExit(3)"]
    with pytest.raises(RuntimeError, match=r"exited with code 3 before answering:\n.*port taken"):
        with server_process(command, port=free_port(), cwd=tmp_path):
            pass
