"""A latency probe in a process of its own: one GET every ``interval`` seconds, timed.

    with latency_probe(running.url + "/ping") as probe:
        ...                                   # make the server busy meanwhile
    samples = probe.samples                   # [(sent_at, latency), ...]

The probe is a separate process on purpose: a client inside the server's process (or on its
event loop) would be slowed by the very blocking it is meant to measure. Times are
``time.monotonic()`` values, the same clock in every process of the machine, so they line
up with timestamps taken in the notebook (an event loop's ``loop.time()`` is that clock too).

The block starts once the probe has had its first answer (so the server is reachable and
the connection is open), and the probe stops when the block ends; the samples then cover
exactly the block. Requests go one after another on one kept-alive connection: a request
that is held up delays the next one, as a user waiting for a page would not click again.
Each sample is (when the request was sent, how long until the whole response arrived); a
request that fails or times out is recorded with the time until it gave up.

Run by hand: ``python -m coursekit.load URL --seconds 3 --interval 0.02`` prints "ready",
then, after ``seconds`` or a SIGTERM, the samples as one line of JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

__all__ = ["LatencyProbe", "latency_probe", "measure_latency"]

READY = "ready"


def measure_latency(url: str, seconds: float, interval: float = 0.02, timeout: float = 5.0, *,
                    should_stop: Callable[[], bool] = lambda: False,
                    on_first: Callable[[], None] = lambda: None) -> list[tuple[float, float]]:
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
def latency_probe(url: str, *, interval: float = 0.02, max_seconds: float = 120.0,
                  timeout: float = 5.0) -> Iterator[LatencyProbe]:
    """Probe ``url`` from another process for the length of the block (at most ``max_seconds``).

    The process is killed if the block raises, so no probe outlives its cell.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "coursekit.load", url, "--seconds", str(max_seconds), "--interval", str(interval),
         "--timeout", str(timeout)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    probe = LatencyProbe(process)
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != READY:
            raise RuntimeError(f"the latency probe did not start: {process.communicate()[1].strip()[-500:]}")
        yield probe
        probe._finish(timeout + 10)
    finally:
        probe._kill()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m coursekit.load", description=__doc__.split("\n")[0])
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    samples = measure_latency(args.url, args.seconds, args.interval, args.timeout, should_stop=lambda: bool(stop),
                              on_first=lambda: print(READY, flush=True))
    if not samples:
        print(READY, flush=True)
    print(json.dumps(samples), flush=True)


if __name__ == "__main__":
    main()
