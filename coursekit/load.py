"""Clients in processes of their own: a latency probe, and load that makes a server busy.

    with latency_probe(running.url + "/ping") as probe, load_process() as load:
        burst = load.burst(running.url + "/slow", seconds=0.5, clients=2)   # busy meanwhile
    samples = probe.samples                   # [(sent_at, latency), ...]
    burst.calls, burst.started, burst.ended   # how many calls, in which window

Both are separate processes on purpose: a client inside the server's process (or on its
event loop) would be slowed by the very blocking it is meant to measure, and would take the
interpreter's lock from the server it loads. Times are
``time.monotonic()`` values, the same clock in every process of the machine, so they line
up with timestamps taken in the notebook (an event loop's ``loop.time()`` is that clock too).

The block starts once the probe has had its first answer (so the server is reachable and
the connection is open), and the probe stops when the block ends; the samples then cover
exactly the block. Requests go one after another on one kept-alive connection: a request
that is held up delays the next one, as a user waiting for a page would not click again.
Each sample is (when the request was sent, how long until the whole response arrived); a
request that fails or times out is recorded with the time until it gave up.

A load process calls a URL back to back from ``clients`` threads, each with its own kept-alive
connection, for ``seconds``; one process serves every burst of a with-block (starting Python
and httpx costs more than a short burst), and a body goes to it once, through a file.

Run by hand: ``python -m coursekit.load URL --seconds 3 --interval 0.02`` prints "ready",
then, after ``seconds`` or a SIGTERM, the samples as one line of JSON;
``python -m coursekit.load --bursts`` reads one burst per line of JSON on stdin
(``{"url", "seconds", "clients", "body"}``, ``body`` a file's path or null) and answers each
with one line (``{"calls", "failed", "started", "ended"}``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Burst", "LatencyProbe", "LoadProcess", "burst", "latency_probe", "load_process", "measure_latency"]

READY = "ready"


def measure_latency(
    url: str,
    seconds: float,
    interval: float = 0.02,
    timeout: float = 5.0,
    *,
    should_stop: Callable[[], bool] = lambda: False,
    on_first: Callable[[], None] = lambda: None,
) -> list[tuple[float, float]]:
    """GET ``url`` every ``interval`` seconds for at most ``seconds``, or until
    ``should_stop()``; ``on_first()`` is called after the first answer. [(sent_at, latency)]."""
    import httpx  # here: ``python -m coursekit.load`` should start fast

    samples: list[tuple[float, float]] = []
    with httpx.Client(timeout=timeout) as client:  # (creating a client takes a while: not timed)
        deadline = time.monotonic() + seconds
        next_send = time.monotonic()
        while next_send < deadline and not should_stop():
            time.sleep(max(0.0, next_send - time.monotonic()))
            sent = time.monotonic()
            with contextlib.suppress(httpx.HTTPError):
                client.get(url)
            samples.append((sent, time.monotonic() - sent))
            if len(samples) == 1:
                on_first()
            # The next request is due one interval after this one was sent; when this one
            # took longer than that, the next goes at once (no burst to "catch up").
            next_send = max(sent + interval, time.monotonic())
    return samples


class LatencyProbe:
    """A running probe process; ``samples`` (after the block) is what it measured."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self._process = process
        self._samples: list[tuple[float, float]] | None = None

    @property
    def samples(self) -> list[tuple[float, float]]:
        if self._samples is None:
            raise RuntimeError("the samples are ready when the with-block of latency_probe has ended")
        return self._samples

    def _finish(self, timeout: float) -> None:
        """Ask the probe to stop (it ends its current request first) and read its samples."""
        self._process.send_signal(signal.SIGTERM)
        out, err = self._process.communicate(timeout=timeout)
        if self._process.returncode != 0 or not out.strip():
            raise RuntimeError(f"the latency probe failed: {err.strip()[-500:]}")
        self._samples = [(sent, latency) for sent, latency in json.loads(out)]

    def _kill(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.communicate()


@contextlib.contextmanager
def latency_probe(
    url: str, *, interval: float = 0.02, max_seconds: float = 120.0, timeout: float = 5.0
) -> Iterator[LatencyProbe]:
    """Probe ``url`` from another process for the length of the block (at most ``max_seconds``).

    The process is killed if the block raises, so no probe outlives its cell.
    """
    command = [sys.executable, "-m", "coursekit.load", url, "--seconds", str(max_seconds)]
    command += ["--interval", str(interval), "--timeout", str(timeout)]
    # As a context manager, Popen closes its pipes when the block ends, whatever ended it.
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        probe = LatencyProbe(process)
        try:
            assert process.stdout is not None
            if process.stdout.readline().strip() != READY:
                raise RuntimeError(f"the latency probe did not start: {process.communicate()[1].strip()[-500:]}")
            yield probe
            probe._finish(timeout + 10)
        finally:
            probe._kill()


@dataclass(frozen=True)
class Burst:
    """What one burst of load did: calls answered, calls failed, and its window in
    ``time.monotonic()`` time (from when the clients started calling to when they stopped)."""

    calls: int
    failed: int
    started: float
    ended: float


def burst(url: str, seconds: float, *, clients: int = 1, body: bytes | None = None, timeout: float = 10.0) -> Burst:
    """``clients`` threads call ``url`` back to back for ``seconds`` (POST ``body`` when given)."""
    import httpx

    # Clients first (making one takes a while on a busy machine), then the clock starts.
    sessions = [httpx.Client(timeout=timeout) for _ in range(clients)]
    started = time.monotonic()
    deadline = started + seconds

    def calls(http: httpx.Client) -> tuple[int, int]:
        done = failed = 0
        while time.monotonic() < deadline:
            try:
                if body is None:
                    http.get(url)
                else:
                    http.post(url, content=body)
                done += 1
            except httpx.HTTPError:
                failed += 1
        return done, failed

    try:
        with ThreadPoolExecutor(clients) as pool:
            results = list(pool.map(calls, sessions))
    finally:
        for http in sessions:
            http.close()
    return Burst(sum(done for done, _ in results), sum(failed for _, failed in results), started, time.monotonic())


class LoadProcess:
    """A running load process: ``burst(...)`` asks it for one burst and waits for its result."""

    def __init__(self, process: subprocess.Popen[str], folder: Path) -> None:
        self._process = process
        self._folder = folder
        self._bodies: dict[str, Path] = {}

    def burst(self, url: str, seconds: float, *, clients: int = 1, body: bytes | None = None) -> Burst:
        """Make ``url`` busy for ``seconds`` from ``clients`` connections of the load process."""
        assert self._process.stdin is not None and self._process.stdout is not None
        command = {"url": url, "seconds": seconds, "clients": clients, "body": self._body_file(body)}
        self._process.stdin.write(json.dumps(command) + "\n")
        self._process.stdin.flush()
        answer = self._process.stdout.readline()
        if not answer:
            raise RuntimeError(f"the load process ended: {self._process.communicate()[1].strip()[-500:]}")
        return Burst(**json.loads(answer))

    def _body_file(self, body: bytes | None) -> str | None:
        """The body in a file of our own folder, written once per distinct body."""
        if body is None:
            return None
        digest = hashlib.sha256(body).hexdigest()
        if digest not in self._bodies:
            path = self._folder / digest
            path.write_bytes(body)
            self._bodies[digest] = path
        return str(self._bodies[digest])

    def _close(self) -> None:
        assert self._process.stdin is not None
        with contextlib.suppress(OSError):  # a process that died leaves the pipe broken
            self._process.stdin.close()  # end of commands: the process exits
        if self._process.poll() is None:
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self._folder, ignore_errors=True)


@contextlib.contextmanager
def load_process() -> Iterator[LoadProcess]:
    """A process that makes servers busy on demand, for the length of the block.

    It ends with the block (killed if it does not exit at once), with the files it was given.
    """
    folder = Path(tempfile.mkdtemp(prefix="coursekit-load-"))
    command = [sys.executable, "-m", "coursekit.load", "--bursts"]
    pipe = subprocess.PIPE
    with subprocess.Popen(command, stdin=pipe, stdout=pipe, stderr=pipe, text=True) as process:
        load = LoadProcess(process, folder)
        try:
            yield load
        finally:
            load._close()


def serve_bursts() -> None:
    """The load process's loop: one burst per line of stdin, one answer per line of stdout."""
    for line in sys.stdin:
        command = json.loads(line)
        body = Path(command["body"]).read_bytes() if command["body"] else None
        done = burst(command["url"], command["seconds"], clients=command["clients"], body=body)
        print(json.dumps(dataclasses.asdict(done)), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m coursekit.load", description=__doc__.split("\n")[0])
    parser.add_argument("url", nargs="?")
    parser.add_argument("--bursts", action="store_true", help="make bursts of load, one per line of stdin")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    if args.bursts:
        serve_bursts()
        return
    if args.url is None:
        parser.error("a URL to probe, or --bursts")
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    samples = measure_latency(
        args.url,
        args.seconds,
        args.interval,
        args.timeout,
        should_stop=lambda: bool(stop),
        on_first=lambda: print(READY, flush=True),
    )
    if not samples:
        print(READY, flush=True)
    print(json.dumps(samples), flush=True)


if __name__ == "__main__":
    main()
