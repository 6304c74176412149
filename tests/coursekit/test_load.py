import os
import time

import pytest

from coursekit import percentile, serve
from coursekit.load import burst, latency_probe, load_process, measure_latency
from coursekit.work import count_json_items, count_primes, evil_regex_match, spin, sqlite_busy_query


async def pong(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"pong"})


def test_percentile_is_nearest_rank():
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 100) == 5.0
    assert percentile(values, 1) == 1.0
    assert percentile(values, 99) == 5.0
    assert percentile(list(range(1, 101)), 99) == 99
    assert percentile([], 50) == 0.0
    with pytest.raises(ValueError):
        percentile(values, 0)


def test_the_work_functions_are_deterministic():
    assert count_primes(100) == 25
    assert count_json_items(b'[{"a": 1}, 2, [3]]') == 3
    assert evil_regex_match(10) is False
    assert sqlite_busy_query(100) == 5050
    assert spin(0.01) > 0


def test_measure_latency_samples_at_a_steady_pace():
    with serve(pong, lifespan="off") as running:
        started = time.monotonic()
        samples = measure_latency(running.url, seconds=0.3, interval=0.05)
    assert 3 <= len(samples) <= 8
    assert all(started <= sent < started + 1 and 0 < latency < 1 for sent, latency in samples)


def test_latency_probe_covers_its_block_and_lines_up_in_time():
    with serve(pong, lifespan="off") as running:
        with latency_probe(running.url, interval=0.05) as probe:
            entered = time.monotonic()
            time.sleep(0.3)
            left = time.monotonic()
        samples = probe.samples
    assert 4 <= len(samples) <= 10
    # the first answer came before the block started, the last request was sent before it ended
    assert samples[0][0] <= entered and entered - 1 < samples[0][0]
    assert left - 0.2 < samples[-1][0] <= left + 0.1  # the signal may come just after a send


def test_latency_probe_is_killed_when_the_block_raises():
    with serve(pong, lifespan="off") as running:
        with pytest.raises(KeyError), latency_probe(running.url) as probe:
            raise KeyError("boom")
    assert probe._process.poll() is not None
    with pytest.raises(RuntimeError):
        probe.samples  # noqa: B018


async def count_bodies(scope, receive, send):
    """Answers each request with the size of its body."""
    if scope["type"] != "http":
        return
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


def test_a_burst_calls_back_to_back_from_each_client():
    with serve(pong, lifespan="off") as running:
        before = time.monotonic()
        done = burst(running.url, 0.2, clients=2)
    assert done.calls > 4 and done.failed == 0
    assert before <= done.started < done.ended and 0.2 <= done.ended - done.started < 1.5


def test_a_load_process_makes_bursts_in_its_own_process_on_the_shared_clock():
    with serve(count_bodies, lifespan="off") as running, load_process() as load:
        before = time.monotonic()
        first = load.burst(running.url, 0.2, clients=2)
        second = load.burst(running.url, 0.2, body=b"x" * 100_000)
        again = load.burst(running.url, 0.1, body=b"x" * 100_000)  # the same body: one file
        after = time.monotonic()
        folder, process = load._folder, load._process
        assert len(list(folder.iterdir())) == 1
        assert process.pid != os.getpid() and process.poll() is None
    assert first.calls > 2 and second.calls > 0 and again.calls > 0
    assert before <= first.started < first.ended <= second.started < second.ended <= after
    assert process.poll() is not None and not folder.exists()  # nothing left behind


def test_a_load_process_that_dies_is_reported():
    with load_process() as load:
        load._process.kill()
        load._process.wait()
        with pytest.raises((RuntimeError, OSError)):
            load.burst("http://127.0.0.1:9/", 0.1)
