"""A latency probe in a process of its own: one GET every ``interval`` seconds, timed.

    with latency_probe(running.url + "/ping", seconds=3) as probe:
        ...                                   # make the server busy meanwhile
    samples = probe.samples                   # [(sent_at, latency), ...]

The probe is a separate process on purpose: a client inside the server's process (or its
event loop) would be slowed by the very blocking it is meant to measure. Times are
``time.monotonic()`` values, the same clock in every process of the machine, so they line
up with timestamps taken in the notebook (an event loop's ``loop.time()`` is that clock too).

Requests go one after another on one kept-alive connection: a request that is held up
delays the next one, as a user waiting for a page would not click again. Each sample is
(when the request was sent, how long until the whole response arrived); a request that
fails or times out is recorded with the time until it gave up.

Run by hand: ``python -m coursekit.load URL --seconds 3 --interval 0.02`` prints the
samples as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator

__all__ = ["LatencyProbe", "latency_probe", "measure_latency"]


def measure_latency(url: str, seconds: float, interval: float = 0.02, timeout: float = 5.0) -> list[tuple[float, float]]:
    """GET ``url`` every ``interval`` seconds for ``seconds``; [(sent_at, latency), ...]."""
    import httpx  # here: ``python -m coursekit.load`` should start fast

    samples: list[tuple[float, float]] = []
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=timeout) as client:
        next_send = time.monotonic()
        while next_send < deadline:
            time.sleep(max(0.0, next_send - time.monotonic()))
            sent = time.monotonic()
            with contextlib.suppress(httpx.HTTPError):
                client.get(url)
            samples.append((sent, time.monotonic() - sent))
            # The next request is due one interval after this one was sent; when this one
            # took longer than that, the next goes at once (no burst to "catch up").
            next_send = max(sent + interval, time.monotonic())
    return samples


class LatencyProbe:
    """A running probe process; ``samples`` waits for it and returns what it measured."""

    def __init__(self, process: subprocess.Popen[str], seconds: float) -> None:
        self._process = process
        self._seconds = seconds
        self._samples: list[tuple[float, float]] | None = None

    @property
    def samples(self) -> list[tuple[float, float]]:
        if self._samples is None:
            out, err = self._process.communicate(timeout=self._seconds + 30)
            if self._process.returncode != 0:
                raise RuntimeError(f"the latency probe failed: {err.strip()[-500:]}")
            self._samples = [tuple(pair) for pair in json.loads(out)]  # type: ignore[misc]
        return self._samples

    def stop(self) -> None:
        """End the process if it is still running (it ends by itself after ``seconds``)."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.communicate()


@contextlib.contextmanager
def latency_probe(url: str, *, seconds: float, interval: float = 0.02) -> Iterator[LatencyProbe]:
    """Start a probe process against ``url``; at the end of the block, wait for its samples.

    The process is killed if the block raises, so no probe outlives its cell.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "coursekit.load", url, "--seconds", str(seconds), "--interval", str(interval)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    probe = LatencyProbe(process, seconds)
    try:
        yield probe
        probe.samples  # wait for the end of the measurement, inside the block's lifetime
    finally:
        probe.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m coursekit.load", description=__doc__.split("\n")[0])
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--interval", type=float, default=0.02)
    args = parser.parse_args(argv)
    print(json.dumps(measure_latency(args.url, args.seconds, args.interval)))


if __name__ == "__main__":
    main()
