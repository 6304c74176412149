"""HTTP traffic from a process of its own: closed-loop load, a request timeline, an open-loop rate.

    rounds = compare_servers({"uvloop": url_a, "asyncio": url_b}, path="/", rounds=5)
    with traffic(url, connections=4) as sent:        # closed loop, in the background
        ...                                          # kill a worker meanwhile
    sent.samples                                     # [Sample(sent_at, latency, status, body)]
    with traffic(url, rates=[(100, 1.0), (200, 1.0)], cpu_path="/cpu") as sent:  # open loop: 100/s, then 200/s
        sent.wait()                                  # until its last phase is over
    sent.phases                                      # [Phase(rate, started, ended, cpu)], one per rate

Why these choices:

- **A process of its own.** Load made inside the server's process (or on the notebook's event
  loop) competes with what it measures; a separate process is what a real client is.
- **Raw asyncio streams, not httpx.** On a 2-core machine the client shares the CPU with the
  server, so it must cost less per request than the fastest server it drives: HTTP/1.1 written
  by hand on kept-alive connections (uvloop when installed) costs a fraction of an httpx call.
  It reads ``Content-Length`` bodies only, which every app of the course sends.
- **Closed and open loops.** A closed loop (N connections, each sending its next request when
  the last one is answered) finds how much a server can do; latency under it says little,
  since the client slows down with the server. An open loop sends at a fixed rate whatever
  happens, as users do, and its latencies show the queue building up past capacity.
- **The server's CPU, from the server.** On a busy machine requests per second move with what
  else runs; CPU seconds per request hardly do. ``compare_servers`` asks each server's
  ``cpu_path`` (an endpoint answering its own ``resource.getrusage`` user+system seconds)
  before and after each window.
- **Interleaved rounds.** ``compare_servers`` gives every server one window per round, in a
  rotated order, so a burst of other work slows them all alike. An open loop's ``rates`` can
  interleave the same way (several rounds of the same rates, in turn), and with ``cpu_path``
  it reads the server's CPU seconds at each phase's edges (``Traffic.phases``).
- **The result through a file.** The traffic process writes its samples (a megabyte for a few
  seconds of load) to a file the caller named, and only "ready" on its stdout. A large result
  written to a pipe was once cut at 128 KiB with exit code 0 (in a kernel, under load): a
  writer that finds its pipe non-blocking writes what fits and Python says nothing. A file
  has no such failure.

Times are ``time.monotonic()``, the same clock in every process of the machine. A failed
request (refused, reset, closed before the answer, timed out) is a sample with status None.
Run by hand: ``python -m coursekit.traffic '<JSON spec>'`` prints "ready", then writes the
result as JSON to the spec's ``result`` file after its ``seconds`` or a SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

__all__ = ["Phase", "Sample", "Traffic", "compare_servers", "traffic"]

READY = "ready"
CONNECT_RETRY_SECONDS = 0.01  # a closed-loop connection that failed waits this long, then reconnects


class Sample(NamedTuple):
    """One request: when it was sent, how long until its answer (or its failure), the status
    (None when it failed), and the start of the body (``keep_body`` bytes)."""

    sent_at: float
    latency: float
    status: int | None
    body: str


class Phase(NamedTuple):
    """One rate of an open loop: requests per second (0: a pause), when it started and ended,
    and the server's CPU seconds meanwhile (None without ``cpu_path``)."""

    rate: float
    started: float
    ended: float
    cpu: float | None


# --- the client side (runs in the traffic process) ------------------------------------------


def _target(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _request_bytes(host: str, port: int, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: coursekit-traffic\r\n\r\n".encode()


class _Connection:
    """One kept-alive HTTP/1.1 connection, opened on first use and again after a failure."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, request: bytes) -> tuple[int, bytes]:
        async with asyncio.timeout(self.timeout):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            assert self.reader is not None
            self.writer.write(request)
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            close = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            body = await self.reader.readexactly(length) if length else b""
        if close:
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _timed_get(connection: _Connection, request: bytes, keep_body: int) -> Sample:
    sent = time.monotonic()
    try:
        status, body = await connection.get(request)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
        connection.close()
        return Sample(sent, time.monotonic() - sent, None, "")
    return Sample(sent, time.monotonic() - sent, status, body[:keep_body].decode("utf-8", "replace"))


async def _closed_loop(
    url: str, connections: int, until: float, stop: asyncio.Event, keep_body: int, timeout: float, first: asyncio.Event
) -> list[Sample]:
    parts = urlsplit(url)
    request = _request_bytes(parts.hostname or "127.0.0.1", parts.port or 80, _target(url))
    samples: list[Sample] = []

    async def one_connection() -> None:
        connection = _Connection(parts.hostname or "127.0.0.1", parts.port or 80, timeout)
        try:
            while time.monotonic() < until and not stop.is_set():
                sample = await _timed_get(connection, request, keep_body)
                samples.append(sample)
                if sample.status is None:
                    await asyncio.sleep(CONNECT_RETRY_SECONDS)
                else:
                    first.set()
        finally:
            connection.close()

    await asyncio.gather(*(one_connection() for _ in range(connections)))
    return samples


async def _open_loop(
    url: str,
    rates: list[tuple[float, float]],
    stop: asyncio.Event,
    keep_body: int,
    timeout: float,
    first: asyncio.Event,
    seed: int,
    cpu_path: str | None = None,
) -> tuple[list[Sample], list[Phase]]:
    """Send at each (rate per second, seconds) in turn, Poisson arrivals, whatever the answers do
    (a rate of 0 is a pause). Idle connections are reused; a new one is opened when all are
    busy. With ``cpu_path``, the server's CPU seconds are read at each phase's edges."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = _request_bytes(host, port, _target(url))
    idle: list[_Connection] = []
    samples: list[Sample] = []
    phases: list[Phase] = []
    pending: set[asyncio.Task[None]] = set()
    chance = random.Random(seed)

    async def cpu_now() -> float | None:
        return None if cpu_path is None else await _server_cpu(host, port, cpu_path, timeout)

    async def one() -> None:
        connection = idle.pop() if idle else _Connection(host, port, timeout)
        sample = await _timed_get(connection, request, keep_body)
        samples.append(sample)
        if sample.status is not None:
            first.set()
        idle.append(connection)

    first.set()  # an open loop does not wait for the server: it is ready at once
    cpu = await cpu_now()
    due = time.monotonic()
    for rate, seconds in rates:
        if stop.is_set():
            break
        started, phase_end = time.monotonic(), due + seconds
        while rate > 0 and not stop.is_set():
            due += chance.expovariate(rate)
            if due >= phase_end:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            task = asyncio.ensure_future(one())
            pending.add(task)
            task.add_done_callback(pending.discard)
        due = phase_end
        await asyncio.sleep(max(0.0, phase_end - time.monotonic()))
        cpu_then, cpu = cpu, await cpu_now()
        phases.append(
            Phase(rate, started, time.monotonic(), None if cpu is None or cpu_then is None else cpu - cpu_then)
        )
    if pending:
        await asyncio.wait(pending, timeout=timeout)
    for connection in idle:
        connection.close()
    return samples, phases


async def _server_cpu(host: str, port: int, path: str, timeout: float) -> float:
    connection = _Connection(host, port, timeout)
    try:
        status, body = await connection.get(_request_bytes(host, port, path))
    finally:
        connection.close()
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}")
    return float(json.loads(body))


async def _rounds(spec: dict[str, Any]) -> dict[str, list[dict[str, float]]]:
    """Each round, each target in a rotated order: its CPU seconds, then ``seconds`` of closed
    loop on ``connections`` connections, then its CPU seconds again."""
    targets: dict[str, str] = spec["targets"]
    names = list(targets)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    stop = asyncio.Event()
    warmups = spec.get("warmup_rounds", 1)
    for number in range(spec["rounds"] + warmups):
        order = names[number % len(names) :] + names[: number % len(names)]
        seconds = spec["seconds"] if number >= warmups else spec.get("warmup_seconds", spec["seconds"])
        for name in order:
            parts = urlsplit(targets[name])
            host, port = parts.hostname or "127.0.0.1", parts.port or 80
            cpu_before = await _server_cpu(host, port, spec["cpu_path"], spec["timeout"])
            started = time.monotonic()
            samples = await _closed_loop(
                targets[name], spec["connections"], started + seconds, stop, 0, spec["timeout"], asyncio.Event()
            )
            wall = time.monotonic() - started
            cpu = await _server_cpu(host, port, spec["cpu_path"], spec["timeout"]) - cpu_before
            if number >= warmups:  # the first round warms caches up: not kept
                answered = sum(1 for sample in samples if sample.status == 200)
                results[name].append(
                    {"requests": answered, "failed": len(samples) - answered, "seconds": wall, "cpu": cpu}
                )
    return results


async def _main(spec: dict[str, Any]) -> Any:
    try:
        return await _run(spec)
    finally:
        # From here on a SIGTERM (the caller's "stop", arriving after the work ended by itself)
        # must not kill the process before it has written its result: block it until exit.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})


async def _run(spec: dict[str, Any]) -> Any:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    if spec["mode"] == "rounds":
        print(READY, flush=True)
        return await _rounds(spec)
    first = asyncio.Event()

    async def announce() -> None:
        await first.wait()
        print(READY, flush=True)

    announcer = asyncio.ensure_future(announce())
    phases: list[Phase] = []
    try:
        if spec["mode"] == "closed":
            samples = await _closed_loop(
                spec["url"],
                spec["connections"],
                time.monotonic() + spec["seconds"],
                stop,
                spec["keep_body"],
                spec["timeout"],
                first,
            )
        else:
            samples, phases = await _open_loop(
                spec["url"],
                [tuple(rate) for rate in spec["rates"]],
                stop,
                spec["keep_body"],
                spec["timeout"],
                first,
                spec.get("seed", 0),
                spec.get("cpu_path"),
            )
    finally:
        if not first.is_set():
            print(READY, flush=True)  # never answered: still let the caller in, to read the failures
        announcer.cancel()
    return {"samples": sorted(samples), "phases": phases}


def main(argv: list[str] | None = None) -> None:
    spec = json.loads((argv or sys.argv[1:])[0])
    try:
        import uvloop  # the cheaper loop, for a client that must cost less than the server
    except ImportError:
        result = asyncio.run(_main(spec))
    else:
        result = uvloop.run(_main(spec))
    written = f"{spec['result']}.partial"  # renamed once complete: a reader never sees half a result
    with open(written, "w") as out:
        json.dump(result, out)
    os.replace(written, spec["result"])


# --- the notebook side ----------------------------------------------------------------------


class Traffic:
    """A running traffic process; ``samples`` and ``phases`` (after the block) are what it sent
    and got, and the open loop's phases."""

    def __init__(self, process: subprocess.Popen[str], result: Path) -> None:
        self._process = process
        self._result_file = result
        self._result: Any = None

    def _done(self) -> Any:
        if self._result is None:
            raise RuntimeError("the samples are ready when the with-block of traffic() has ended")
        return self._result

    @property
    def samples(self) -> list[Sample]:
        return [Sample(*sample) for sample in self._done()["samples"]]

    @property
    def phases(self) -> list[Phase]:
        return [Phase(*phase) for phase in self._done()["phases"]]

    def wait(self, timeout: float | None = None) -> None:
        """Wait until the traffic ends by itself (an open loop's last phase is over, or
        ``max_seconds`` have passed); raises ``subprocess.TimeoutExpired`` after ``timeout``."""
        self._process.wait(timeout)

    def _finish(self, timeout: float) -> None:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
        _, err = self._process.communicate(timeout=timeout)
        self._result = _result(self._process, self._result_file, err)

    def _kill(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.communicate()


def _result(process: subprocess.Popen[str], result: Path, err: str) -> Any:
    """The JSON result a finished traffic process wrote to ``result``."""
    try:
        if process.returncode != 0:
            raise ValueError("no result")
        return json.loads(result.read_text())
    except (OSError, ValueError) as error:
        raise RuntimeError(
            f"the traffic process failed (exit code {process.returncode}, {error}): {err.strip()[-800:]}"
        ) from None


@contextlib.contextmanager
def _process(spec: dict[str, Any]) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """The traffic process for ``spec``, and the file it will write its result to (in a folder
    of its own, removed with everything in it when the block ends)."""
    with tempfile.TemporaryDirectory(prefix="coursekit-traffic-") as folder:
        result = Path(folder) / "result.json"
        process = subprocess.Popen(
            [sys.executable, "-m", "coursekit.traffic", json.dumps({**spec, "result": str(result)})],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            yield process, result
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()


def _wait_ready(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    if process.stdout.readline().strip() != READY:
        raise RuntimeError(f"the traffic process did not start: {process.communicate()[1].strip()[-800:]}")


@contextlib.contextmanager
def traffic(
    url: str,
    *,
    connections: int = 4,
    rates: list[tuple[float, float]] | None = None,
    max_seconds: float = 60.0,
    timeout: float = 5.0,
    keep_body: int = 0,
    seed: int = 0,
    cpu_path: str | None = None,
) -> Iterator[Traffic]:
    """Send GET ``url`` from another process for the length of the block.

    Without ``rates``: a closed loop on ``connections`` kept-alive connections (the block starts
    once one request was answered). With ``rates``, a list of (requests per second, seconds): an
    open loop at each rate in turn (0: a pause), Poisson arrivals (``seed`` fixes them), and
    the block starts at once; with ``cpu_path`` (an endpoint answering the server's CPU seconds)
    each phase notes the server's CPU time too (``Traffic.phases``). Either stops when the block
    ends or after ``max_seconds``; requests still out then are waited for up to ``timeout``. The
    process is killed if the block raises.
    """
    spec: dict[str, Any] = {
        "url": url,
        "connections": connections,
        "seconds": max_seconds,
        "timeout": timeout,
        "keep_body": keep_body,
        "seed": seed,
        "cpu_path": cpu_path,
    }
    spec["mode"] = "open" if rates is not None else "closed"
    if rates is not None:
        spec["rates"] = [list(rate) for rate in rates]
    with _process(spec) as (process, result):
        sent = Traffic(process, result)
        _wait_ready(process)
        yield sent
        sent._finish(timeout + 10)


def compare_servers(
    targets: Mapping[str, str],
    *,
    cpu_path: str,
    rounds: int = 5,
    seconds: float = 0.25,
    warmup_seconds: float | None = None,
    connections: int = 8,
    timeout: float = 5.0,
) -> dict[str, list[dict[str, float]]]:
    """Load each of ``targets`` (name: URL) in turn, ``rounds`` times (after one warm-up round
    of ``warmup_seconds`` each, ``seconds`` unless given, that is not kept), ``seconds`` each
    on ``connections`` connections, from another process.

    Returns {name: [{"requests", "failed", "seconds", "cpu"}, one per round]}: "cpu" is the
    server's own CPU seconds during the window, read from its ``cpu_path``.
    """
    spec = {
        "mode": "rounds",
        "targets": dict(targets),
        "cpu_path": cpu_path,
        "rounds": rounds,
        "seconds": seconds,
        "warmup_seconds": seconds if warmup_seconds is None else warmup_seconds,
        "connections": connections,
        "timeout": timeout,
    }
    with _process(spec) as (process, result):
        _wait_ready(process)
        budget = (rounds + 1) * len(targets) * (seconds + 2 * timeout) + 10
        _, err = process.communicate(timeout=budget)
        rounds_by_name: dict[str, list[dict[str, float]]] = _result(process, result, err)
        return rounds_by_name


if __name__ == "__main__":
    main()
